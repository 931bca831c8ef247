"""Executors on this machine: inline (``--jobs 1``) and a spawned process pool (``--jobs N``)."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, Callable

from bench.run.executors.base import Executor, TaskStream, Worker


class _InlineStream(TaskStream):
    def __init__(self, worker: Worker, on_result: Callable[[Any], None]) -> None:
        worker.setup(*worker.args)
        self.worker, self.on_result = worker, on_result

    def submit(self, task: Any) -> None:
        self.on_result(self.worker.run(task))

    def close(self) -> None:
        pass


class InlineExecutor(Executor):
    """Every task in this process, one after the other."""

    def stream(self, worker: Worker, on_result: Callable[[Any], None], *, per_call: int = 1,
               gpus: int = 0) -> TaskStream:
        return _InlineStream(worker, on_result)


class _PoolStream(TaskStream):
    """At most ``2 x jobs`` tasks in flight: when workers fall behind, ``submit`` waits."""

    def __init__(self, jobs: int, worker: Worker, on_result: Callable[[Any], None]) -> None:
        # spawn, not fork: safe with the thread pools of torch and onnxruntime
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=worker.setup,
                                        initargs=worker.args)
        self.run, self.on_result = worker.run, on_result
        self.limit = 2 * jobs
        self.in_flight: set[Future] = set()

    def submit(self, task: Any) -> None:
        self._drain(self.limit - 1)
        self.in_flight.add(self.pool.submit(self.run, task))

    def _drain(self, limit: int) -> None:
        while len(self.in_flight) > limit:
            finished, self.in_flight = wait(self.in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                self.on_result(future.result())

    def close(self) -> None:
        try:
            self._drain(0)
        finally:
            self.pool.shutdown(cancel_futures=True)


class PoolExecutor(Executor):
    """Tasks in ``jobs`` worker processes that each run the worker's set-up once."""

    overlaps_separation = True

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def stream(self, worker: Worker, on_result: Callable[[Any], None], *, per_call: int = 1,
               gpus: int = 0) -> TaskStream:
        return _PoolStream(self.jobs, worker, on_result)
