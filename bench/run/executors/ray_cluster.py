"""``--executor ray``: the same separation and scoring work, spread over a Ray cluster.

Ray is the engine (no scheduler of our own): tasks go out in calls of ``per_call`` tasks
(scoring: chunks of mixtures; separation: one batch of mixtures per call, with a GPU per
call when ``--device`` is CUDA).  Workers only compute; the driver writes every estimate
file and row, so the store keeps a single writer and the same atomicity as a local run.
Workers read the dataset and the stored estimates by path, so on a real cluster the
data and ``--results`` directory must be on a shared filesystem.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Callable

from bench.errors import BenchError
from bench.run.executors.base import Executor, TaskStream, Worker

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 8
#: the set-up this Ray worker process last ran (a worker serves many calls of one stream)
_SET_UP: str | None = None


def require_ray():
    try:
        import ray
    except ImportError:
        raise BenchError("--executor ray needs the 'ray' package (pip install 'jsac-bench[ray]')") from None
    return ray


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` or start a local one (loopback only)."""
    ray = require_ray()
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "runtime_env": {"env_vars": {"OMP_NUM_THREADS": "1"}}}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, _node_ip_address="127.0.0.1", **kwargs)


def _call(stream_id: str, setup: Callable[..., None], args: tuple, run: Callable[[Any], Any], tasks: list) -> list:
    """Remote: the worker's set-up once per stream in this process, then its function over ``tasks``."""
    global _SET_UP
    if _SET_UP != stream_id:
        setup(*args)
        _SET_UP = stream_id
    return [run(task) for task in tasks]


class _RayStream(TaskStream):
    def __init__(self, worker: Worker, on_result: Callable[[Any], None], per_call: int, gpus: int) -> None:
        self.ray = require_ray()
        self.remote = self.ray.remote(num_gpus=gpus)(_call)
        self.id = uuid.uuid4().hex
        self.worker, self.on_result, self.per_call = worker, on_result, max(1, per_call)
        self.args_ref = self.ray.put(worker.args)  # shipped once, not with every call
        self.width = max(2, int(self.ray.available_resources().get("CPU", 2)) * 2)
        self.buffer: list = []
        self.pending: list = []

    def submit(self, task: Any) -> None:
        self.buffer.append(task)
        if len(self.buffer) >= self.per_call:
            self._send()

    def _send(self) -> None:
        while len(self.pending) >= self.width:
            self._receive_one()
        self.pending.append(self.remote.remote(self.id, self.worker.setup, self.args_ref, self.worker.run,
                                               self.buffer))
        self.buffer = []

    def _receive_one(self) -> None:
        done, self.pending = self.ray.wait(self.pending, num_returns=1)
        for result in self.ray.get(done[0]):
            self.on_result(result)

    def close(self) -> None:
        if self.buffer:
            self._send()
        while self.pending:
            self._receive_one()


class RayExecutor(Executor):
    """Tasks as Ray tasks on the cluster at ``address`` (or a local Ray with ``jobs`` CPUs)."""

    separates_remotely = True

    def __init__(self, address: str | None, jobs: int) -> None:
        self.address, self.jobs = address, jobs

    def start(self) -> None:
        connect(self.address, num_cpus=self.jobs if self.address is None else None)

    def stream(self, worker: Worker, on_result: Callable[[Any], None], *, per_call: int = DEFAULT_CHUNK,
               gpus: int = 0) -> TaskStream:
        return _RayStream(worker, on_result, per_call, gpus)
