"""``--device`` reaches the metrics: scoring workers hand it to every metric they build."""

from __future__ import annotations

import pytest

from bench.data import DatasetSpec, open_dataset
from bench.run import scoring


def test_scoring_workers_put_metrics_on_the_run_device(tmp_path):
    dataset = open_dataset(DatasetSpec(root=None, limit=1))
    scoring.set_up_worker(dataset, tmp_path, ["dnsmos", "dwer", "sisnri"], 1, "cuda:1")
    metrics = scoring._WORKER_METRICS
    assert metrics["dnsmos"].device == "cuda:1" and metrics["dwer"].device == "cuda:1"  # models built lazily there
    scoring.set_up_worker(dataset, tmp_path, ["dnsmos"], 1)
    assert scoring._WORKER_METRICS["dnsmos"].device == "cpu"  # the default stays on the CPU


def test_bench_score_checks_the_device(tmp_path, capsys):
    import torch

    from bench.cli import main

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --device cuda is valid here")
    assert main(["score", "--device", "cuda", "--results", str(tmp_path)]) == 2
    assert "--device cuda: CUDA is not available" in capsys.readouterr().err
