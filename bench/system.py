"""The ``System`` interface every separation(-and-compression) system implements.

A system receives a batch of loaded mixtures and returns, per mixture, its source
estimates and the payload it would transmit.  The harness derives the real bitrate
from that payload, so a system cannot claim a rate it does not achieve.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Sequence

from bench.errors import BenchError
from bench.run.assignment import PAIRING_RULE
from bench.precision import use_exact_fp32
from bench.records import LoadedMixture, Separation


class System(ABC):
    """Base class for systems.

    Subclasses set the class attributes and implement :meth:`separate`.  Everything
    that can change the output must appear in :meth:`config` or
    :meth:`checkpoint_files`: together they form the system key under which
    results are cached, so changing a checkpoint invalidates exactly that system.
    """

    family: ClassVar[str]
    #: bump when a code change alters this system's output, to invalidate caches
    version: ClassVar[str] = "1"
    #: oracle systems (e.g. ``clean``) are handed the reference sources
    needs_references: ClassVar[bool] = False
    #: how many mixtures one ``separate`` call may take; >1 only where padding provably changes nothing
    max_batch_size: ClassVar[int] = 1
    #: a bitrate the family always has whatever its name says (CodeSep: 1 kbps), for listings
    #: that must not load weights; ``None``: the bitrate comes from the name (``fstc@2``) or is unbounded
    fixed_kbps: ClassVar[float | None] = None

    def __init__(self, name: str, kbps: float | None = None, device: str = "cpu", sample_rate: int = 16000,
                 **options: Any) -> None:
        self.name = name
        self.check_kbps(name, kbps)
        self.kbps = kbps
        self.device = device
        use_exact_fp32(device)
        self.sample_rate = sample_rate
        self.options = options

    @classmethod
    def check_kbps(cls, name: str, kbps: float | None) -> None:
        """Reject bitrates this family cannot realise; the default family takes none."""
        if kbps is not None:
            raise BenchError(f"system {name!r}: family {cls.family!r} takes no bitrate (drop '@{kbps:g}')")

    @property
    def nominal_kbps(self) -> float | None:
        """Declared bitrate in kbit/s; ``None`` means unbounded (no codec in the chain)."""
        return self.kbps

    def config(self) -> dict[str, Any]:
        """Full, JSON-serialisable configuration (hashed into the system key)."""
        return {
            "family": self.family,
            "version": self.version,
            "kbps": self.kbps,
            "sample_rate": self.sample_rate,
            "options": self.options,
        }

    def checkpoint_files(self) -> Sequence[Path]:
        """Weight files whose content identifies this system (hashed into the key)."""
        return ()

    @classmethod
    def weights_status(cls, **options: Any) -> str:
        """One word or phrase for ``bench systems``: ``n/a``, ``present`` or ``missing: <why>``."""
        return "n/a"

    def key(self) -> str:
        """Stable hash of the configuration and checkpoint contents."""
        payload = {
            "config": self.config(),
            "checkpoints": [file_sha256(Path(p)) for p in self.checkpoint_files()],
            # how estimates are paired with speakers is part of what a stored row means
            "pairing": PAIRING_RULE,
        }
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @abstractmethod
    def separate(self, batch: Sequence[LoadedMixture]) -> list[Separation]:
        """Separate each mixture in ``batch`` into ``[S, T]`` estimates at ``self.sample_rate``."""


@lru_cache(maxsize=256)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, memoised on (path, size, mtime) so repeated keys are cheap."""
    stat = path.stat()
    return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)
