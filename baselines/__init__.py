"""Baseline systems: reference rows, separators, codecs and their FCTS/FSTC pipelines."""
