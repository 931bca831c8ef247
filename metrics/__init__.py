"""Metrics, installed as ``bench.metrics``: one module per metric family."""
