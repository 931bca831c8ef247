"""The Ray executor on a local Ray instance (loopback) matches a local run exactly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main

ray = pytest.importorskip("ray")

COLUMNS = "system_key, mixture_id, source_index, metric, field, value, status"


def values(root: Path) -> pd.DataFrame:
    with sqlite3.connect(root / "bench.sqlite") as conn:
        return pd.read_sql_query(f"SELECT {COLUMNS} FROM metric_values ORDER BY {COLUMNS}", conn)


def separations(root: Path) -> pd.DataFrame:
    cols = "system_key, mixture_id, payload_bits, permutation"
    with sqlite3.connect(root / "bench.sqlite") as conn:
        return pd.read_sql_query(f"SELECT {cols} FROM separations ORDER BY {cols}", conn)


@pytest.mark.slow
def test_ray_run_matches_local_run(small_tree: Path, tmp_path: Path):
    args = ["run", "--systems", "mixture,clean", "--metrics", "sisnri", "--data", str(small_tree), "--quiet"]
    try:
        assert main([*args, "--results", str(tmp_path / "ray"), "--executor", "ray", "--jobs", "2"]) == 0
    finally:
        ray.shutdown()
    assert main([*args, "--results", str(tmp_path / "local")]) == 0
    pd.testing.assert_frame_equal(values(tmp_path / "ray"), values(tmp_path / "local"))
    pd.testing.assert_frame_equal(separations(tmp_path / "ray"), separations(tmp_path / "local"))
    assert len(values(tmp_path / "ray")) == 8 * 2 * 2 * 2  # mixtures x systems x sources x fields
