"""The executor interface: run a :class:`Worker`'s function over a stream of tasks, results to the driver."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Sequence


@dataclass(frozen=True)
class Worker:
    """What every worker process does once (``setup(*args)``) and then per task (``run(task)``).

    Both must be module-level functions (a process pool or Ray ships them by name);
    ``args`` must pickle.  ``setup`` keeps its state in its own module, so that module,
    and no executor, owns it.
    """

    setup: Callable[..., None]
    args: tuple[Any, ...]
    run: Callable[[Any], Any]


class TaskStream(ABC):
    """Tasks submitted one by one; each result is handed to ``on_result`` in the driver as it arrives.

    ``submit`` may block while too many tasks are in flight (memory stays flat however long
    the stream); ``close`` waits for every submitted task.
    """

    @abstractmethod
    def submit(self, task: Any) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "TaskStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Executor(ABC):
    """Where a run's tasks execute."""

    #: metrics may be scored in parallel while the driver is still separating (a pool of workers)
    overlaps_separation: bool = False
    #: systems are built on the workers and separate there (their weights load there); otherwise the
    #: driver runs the system itself, reading the next batch while the current one is separated
    separates_remotely: bool = False

    def start(self) -> None:
        """Acquire what the executor needs (join a cluster); called once before any work."""

    @abstractmethod
    def stream(self, worker: Worker, on_result: Callable[[Any], None], *, per_call: int = 1,
               gpus: int = 0) -> TaskStream:
        """A stream of ``worker`` tasks.  ``per_call``: tasks sent together where a call is costly
        (Ray); ``gpus``: devices each call needs."""

    def map(self, worker: Worker, tasks: Sequence[Any], on_result: Callable[[Any], None], *, per_call: int = 1,
            gpus: int = 0) -> None:
        """Every task of ``tasks``; results in completion order."""
        with self.stream(worker, on_result, per_call=per_call, gpus=gpus) as stream:
            for task in tasks:
                stream.submit(task)
