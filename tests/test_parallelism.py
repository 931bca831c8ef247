"""``--jobs``/``--threads`` default to the cores the process may use, and the run summary says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.run import parallelism
from bench.run.parallelism import choose_parallelism, usable_cores


@pytest.fixture
def cores(monkeypatch):
    """Pretend this process may run on ``n`` cores (its affinity set); undoes conftest's one-core pin."""
    monkeypatch.setattr(parallelism, "usable_cores", usable_cores)

    def set_cores(n: int) -> None:
        monkeypatch.setattr(parallelism.os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)
    return set_cores


def test_usable_cores_follow_the_affinity_set(cores, monkeypatch):
    cores(6)
    assert usable_cores() == 6
    monkeypatch.delattr(parallelism.os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(parallelism.os, "cpu_count", lambda: 3)
    assert usable_cores() == 3
    monkeypatch.setattr(parallelism.os, "cpu_count", lambda: None)
    assert usable_cores() == 1


def test_defaults_split_the_cores(cores):
    cores(8)
    cpu = choose_parallelism(None, None, "cpu")
    assert (cpu.jobs, cpu.threads, cpu.cores, cpu.defaulted) == (8, 1, 8, ("jobs", "threads"))
    gpu = choose_parallelism(None, None, "cuda:0")  # one process owns the device
    assert (gpu.jobs, gpu.threads) == (1, 8)
    assert (choose_parallelism(2, None).jobs, choose_parallelism(2, None).threads) == (2, 4)
    assert (choose_parallelism(None, 4).jobs, choose_parallelism(None, 4).threads) == (2, 4)
    assert (choose_parallelism(None, 16).jobs, choose_parallelism(None, 16).threads) == (1, 16)
    given = choose_parallelism(3, 5)  # explicit flags override
    assert (given.jobs, given.threads, given.defaulted) == (3, 5, ())
    assert given.describe() == "3 metric workers x 5 threads"
    assert cpu.describe() == "8 metric workers x 1 thread (--jobs and --threads default for 8 usable cores)"
    with pytest.raises(BenchError, match="--jobs must be at least 1"):
        choose_parallelism(0, None)
    with pytest.raises(BenchError, match="--threads must be at least 1"):
        choose_parallelism(None, 0)


def test_run_summary_shows_the_choice(small_tree: Path, tmp_path: Path, capsys, monkeypatch, cores):
    cores(1)  # one usable core: the inline executor, no worker processes to start in a test
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--systems", "mixture", "--metrics", "bitrate", "--data", str(small_tree),
                 "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "on 1 metric worker x 1 thread (--jobs and --threads default for 1 usable core)" in out, out
    manifest = json.loads(next((tmp_path / "results" / "runs").glob("*/manifest.json")).read_text())
    assert manifest["parallelism"] == {"jobs": 1, "threads": 1, "usable_cores": 1,
                                       "defaulted": ["jobs", "threads"]}
    assert main(["score", "--metrics", "bitrate", "--data", str(small_tree), "--limit", "2", "--threads", "1"]) == 0
    assert "on 1 metric worker x 1 thread (--jobs default for 1 usable core)" in capsys.readouterr().out
