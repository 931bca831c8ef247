"""Executors behind one interface: inline, process pool and Ray run the same worker the same way.

The stages hand an executor a :class:`Worker` (set-up once per process, a function per
task); these tests hold every implementation to that contract with a toy worker, and
keep the library free of imports of another module's private names (the Ray code once
set scoring's private worker state from outside).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.run.executors import InlineExecutor, PoolExecutor, Worker, make_executor

ROOT = Path(__file__).resolve().parents[1]
_STATE: dict[str, object] = {}


def set_up(offset: int) -> None:
    _STATE["offset"] = offset
    _STATE["setups"] = int(_STATE.get("setups", 0)) + 1  # type: ignore[arg-type]


def add_offset(task: int) -> tuple[int, int, int]:
    return task + int(_STATE["offset"]), os.getpid(), int(_STATE["setups"])  # type: ignore[arg-type]


@pytest.mark.parametrize("executor", [InlineExecutor(), PoolExecutor(2)], ids=["inline", "pool"])
def test_every_task_once_with_one_set_up_per_process(executor) -> None:
    results: list[tuple[int, int, int]] = []
    executor.map(Worker(set_up, (100,), add_offset), range(20), results.append)
    assert sorted(r[0] for r in results) == list(range(100, 120))
    assert all(r[2] == 1 for r in results)  # set up once in each process, not once per task
    if isinstance(executor, InlineExecutor):
        assert {r[1] for r in results} == {os.getpid()}
    else:
        assert os.getpid() not in {r[1] for r in results}


def test_a_stream_bounds_what_is_in_flight_and_waits_on_close() -> None:
    results: list[tuple[int, int, int]] = []
    with PoolExecutor(1).stream(Worker(set_up, (0,), add_offset), results.append) as stream:
        for task in range(5):
            stream.submit(task)
            assert len(stream.in_flight) <= 2  # type: ignore[attr-defined]
    assert sorted(r[0] for r in results) == list(range(5))


def test_chosen_once_from_the_options() -> None:
    assert isinstance(make_executor("local", jobs=1), InlineExecutor)
    pool = make_executor("local", jobs=3)
    assert isinstance(pool, PoolExecutor) and pool.jobs == 3 and pool.overlaps_separation
    with pytest.raises(BenchError, match="unknown executor 'slurm'"):
        make_executor("slurm")


def test_ray_runs_the_same_worker() -> None:
    ray = pytest.importorskip("ray")
    executor = make_executor("ray", jobs=1)
    # Ray workers import this module by name, so they need the tests folder on their path
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1",
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT / "tests"), "OMP_NUM_THREADS": "1"}})
    try:
        executor.start()  # joins the running instance
        results: list[tuple[int, int, int]] = []
        executor.map(Worker(set_up, (7,), add_offset), list(range(10)), results.append, per_call=3)
        assert sorted(r[0] for r in results) == list(range(7, 17))
    finally:
        ray.shutdown()


def test_no_module_imports_another_modules_private_names() -> None:
    private = re.compile(r"from bench\.[\w.]+ import [^#]*\b_[a-z]\w*|\b(?!self\b)[a-z]\w*\._[A-Z_]{2,}\b\s*=")
    hits = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
            for pkg in ("bench", "metrics", "baselines", "systems") for p in (ROOT / pkg).rglob("*.py")
            for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if private.search(line)]
    assert hits == []


@pytest.mark.slow
def test_a_pool_run_scores_alongside_and_stores_what_one_job_stores(small_tree: Path, tmp_path: Path) -> None:
    """``--jobs 2`` scores in a pool while separating (the only path that overlaps the two stages)."""
    from bench.cli import main
    from bench.store import open_existing

    args = ["run", "--systems", "mixture,clean", "--metrics", "sisnri,bitrate", "--data", str(small_tree), "--quiet"]
    assert main([*args, "--results", str(tmp_path / "pool"), "--jobs", "2"]) == 0
    assert main([*args, "--results", str(tmp_path / "one")]) == 0
    frames = []
    for name in ("pool", "one"):
        store = open_existing(tmp_path / name)
        frame = store.metric_frame(store.latest_dataset_key())
        frames.append(frame.sort_values(list(frame.columns[:7])).reset_index(drop=True))
        store.close()
    assert len(frames[0]) == 8 * 2 * (2 * 2 + 4)  # mixtures x systems x (sources x sisnri fields + bitrate fields)
    assert frames[0].equals(frames[1])
