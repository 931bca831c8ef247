"""The executor interface: run a :class:`Worker`'s function over a stream of tasks, results to the driver."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    from bench.config import SystemSpec
    from bench.store import Store
    from bench.system import System


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

    def separate(self, dataset: Any, spec: "SystemSpec", system: "System", system_key: str, dataset_key: str,
                 store: "Store", device: str, on_stored: Callable[[str, list[str]], None] | None = None) -> int:
        """Separate every pending mixture; by default in this process, where the system was built
        (the next batch is read while the system works).  Returns how many were separated."""
        from bench.run.separation import separate_dataset

        return separate_dataset(dataset, system, system_key, dataset_key, store, on_stored=on_stored)
