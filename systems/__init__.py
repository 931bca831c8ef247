"""JSAC systems (CodeSep, TokenSplit), installed as ``bench.systems``."""
