"""Where tasks run: this process, a process pool, or a Ray cluster, behind one interface.

The runner and the scoring stage describe work as a :class:`Worker` (a per-process set-up
and a function of one task) and a stream of tasks; an :class:`Executor`, chosen once from
``--executor``/``--jobs`` by :func:`make_executor`, decides where each task runs.  The
driver (this process) always receives the results and writes the store, so the store
keeps a single writer whatever the executor.  Before, the choice was ``if`` branches in
the runner and the scoring stage, and the Ray code reached into scoring's private
worker state; now no stage knows which executor it runs on.
"""

from __future__ import annotations

from bench.errors import BenchError
from bench.run.executors.base import Executor, TaskStream, Worker
from bench.run.executors.local import InlineExecutor, PoolExecutor

EXECUTORS = ("local", "ray")


def make_executor(name: str, jobs: int = 1, address: str | None = None) -> Executor:
    """``local`` with one job runs tasks inline, with more in a process pool; ``ray`` on a Ray cluster."""
    if name == "ray":
        from bench.run.executors.ray_cluster import RayExecutor

        return RayExecutor(address, jobs)
    if name != "local":
        raise BenchError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    return InlineExecutor() if jobs <= 1 else PoolExecutor(jobs)


__all__ = ["EXECUTORS", "Executor", "InlineExecutor", "PoolExecutor", "TaskStream", "Worker", "make_executor"]
