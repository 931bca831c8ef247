"""``--jobs`` and ``--threads``: how many metric worker processes, and math threads in each.

Without the flags a run uses the cores this process may run on (its CPU affinity, which
a scheduler such as SLURM or ``taskset`` narrows; ``os.cpu_count()`` where the platform
has none), split as follows:

* CPU (``--device cpu``): one worker process per core, one math thread each.  Scoring is
  one task per mixture, so processes scale with cores, and measured on this project's
  2-core machine two DNSMOS processes beat one process with two threads (3.95x against
  3.57x speechmos, ``results/perf.md``); Whisper's encoder gains little from a second
  thread on CPU either.
* GPU (``--device cuda``): one process owns the device (each worker would otherwise load
  its own copy of Whisper and the DNSMOS sessions, and contend for it), so one job, with
  every core as its math threads for the metrics that stay on the CPU.

A flag given alone takes its share first: ``--jobs 2`` on 8 cores gives 4 threads each,
``--threads 4`` on 8 cores gives 2 jobs.  Both given: used as they are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from bench.errors import BenchError


def usable_cores() -> int:
    """Cores this process may run on: its affinity set, else the machine's count, at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity API on this platform (macOS, Windows)
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Parallelism:
    """The chosen split, and where it came from (for the run summary and the manifest)."""

    jobs: int
    threads: int
    cores: int
    #: which of the two numbers were chosen here rather than given as flags
    defaulted: tuple[str, ...] = ()

    def describe(self) -> str:
        """``2 metric workers x 1 thread (default for 2 usable cores)``."""
        text = (f"{self.jobs} metric worker{'s' if self.jobs != 1 else ''} x {self.threads} "
                f"thread{'s' if self.threads != 1 else ''}")
        if not self.defaulted:
            return text
        what = " and ".join(f"--{name}" for name in self.defaulted)
        return f"{text} ({what} default for {self.cores} usable core{'s' if self.cores != 1 else ''})"

    def manifest(self) -> dict:
        return {"jobs": self.jobs, "threads": self.threads, "usable_cores": self.cores,
                "defaulted": list(self.defaulted)}


def choose_parallelism(jobs: int | None, threads: int | None, device: str = "cpu",
                       cores: int | None = None) -> Parallelism:
    """``--jobs``/``--threads`` as given, the missing ones from the usable cores (module docstring)."""
    for name, value in (("jobs", jobs), ("threads", threads)):
        if value is not None and value < 1:
            raise BenchError(f"--{name} must be at least 1, got {value}")
    cores = usable_cores() if cores is None else max(1, int(cores))
    defaulted = tuple(name for name, value in (("jobs", jobs), ("threads", threads)) if value is None)
    if jobs is None and threads is None:
        if device.startswith("cuda"):
            jobs, threads = 1, cores
        else:
            jobs, threads = cores, 1
    elif jobs is None:
        jobs = max(1, cores // threads)
    elif threads is None:
        threads = max(1, cores // jobs)
    return Parallelism(int(jobs), int(threads), cores, defaulted)
