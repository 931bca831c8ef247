"""Shards + merge give exactly the rows of a single run; bench score after --no-metrics."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.run.sharding import parse_shard
from bench.errors import BenchError

STABLE = {
    "separations": "dataset_key, system_key, mixture_id, seconds, payload_bits, permutation",
    "estimates": "dataset_key, system_key, mixture_id, output_index, path, seconds, sample_rate, payload_bits",
    "metric_values": "dataset_key, system_key, mixture_id, source_index, metric, version, field, value, status",
}


def rows(root: Path) -> dict[str, pd.DataFrame]:
    with sqlite3.connect(root / "bench.sqlite") as conn:
        return {t: pd.read_sql_query(f"SELECT {c} FROM {t} ORDER BY {c}", conn) for t, c in STABLE.items()}


def _run(tree: Path, results: Path, *extra: str) -> None:
    assert main(["run", "--systems", "mixture,clean", "--metrics", "sisnri", "--data", str(tree),
                 "--results", str(results), "--quiet", *extra]) == 0


def test_three_shards_merge_to_the_single_run(small_tree: Path, tmp_path: Path):
    _run(small_tree, tmp_path / "single")
    for k in (1, 2, 3):
        _run(small_tree, tmp_path / f"shard{k}", "--shard", f"{k}/3")
    sizes = [len(rows(tmp_path / f"shard{k}")["separations"]) for k in (1, 2, 3)]
    assert sizes == [6, 6, 4]  # 8 mixtures x 2 systems dealt round-robin
    assert main(["merge", *(str(tmp_path / f"shard{k}") for k in (1, 2, 3)), "--results",
                 str(tmp_path / "merged"), "--quiet"]) == 0
    merged, single = rows(tmp_path / "merged"), rows(tmp_path / "single")
    for table in STABLE:
        pd.testing.assert_frame_equal(merged[table], single[table])
    for path in merged["estimates"]["path"]:
        assert (tmp_path / "merged" / path).exists()
    assert main(["report", "--results", str(tmp_path / "merged"), "--quiet"]) == 0


def test_merge_refuses_inconsistent_inputs(small_tree: Path, tmp_path: Path, capsys):
    _run(small_tree, tmp_path / "a", "--shard", "1/2")
    # another order of the data (a --limit alone is a subset of the same order, so it merges)
    _run(small_tree, tmp_path / "b", "--shard", "2/2", "--subset-seed", "1")
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--results", str(tmp_path / "m")]) == 2
    assert "dataset fingerprints" in capsys.readouterr().err
    # the name 'mixture' bound to another configuration (bench.toml refuses unknown option keys, so another family)
    (tmp_path / "bench.toml").write_text('[systems.mixture]\nfamily = "clean"\n')
    assert main(["run", "--systems", "mixture", "--metrics", "sisnri", "--data", str(small_tree), "--results",
                 str(tmp_path / "c"), "--quiet", "--shard", "2/2", "--config", str(tmp_path / "bench.toml")]) == 0
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "c"), "--results", str(tmp_path / "m2")]) == 2
    assert "system 'mixture' has different configurations" in capsys.readouterr().err


def test_no_metrics_then_score(small_tree: Path, tmp_path: Path):
    _run(small_tree, tmp_path / "r", "--no-metrics")
    assert rows(tmp_path / "r")["metric_values"].empty
    assert main(["score", "--metrics", "sisnri", "--data", str(small_tree), "--results", str(tmp_path / "r"),
                 "--quiet"]) == 0
    _run(small_tree, tmp_path / "full")
    pd.testing.assert_frame_equal(rows(tmp_path / "r")["metric_values"], rows(tmp_path / "full")["metric_values"])


def test_parse_shard():
    assert parse_shard("2/8") == (2, 8)
    for bad in ("0/3", "4/3", "a/b", "3"):
        with pytest.raises(BenchError):
            parse_shard(bad)
