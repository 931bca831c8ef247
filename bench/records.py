"""Typed records that flow between the harness stages (lhotse-style manifests).

A :class:`Mixture` describes one test item on disk; :class:`LoadedMixture` carries
its audio through the runner; :class:`Separation` is what a system returns.
They are plain dataclasses so they serialise to JSON and pickle to workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class Mixture:
    """One two-speaker mixture and its references, as listed in a metadata CSV.

    ``start``/``num_samples`` select the segment the harness evaluates (the whole
    file, or e.g. TokenSplit's first three seconds); ``num_samples`` is the length
    after segmenting.
    """

    mixture_id: str
    mixture_path: Path
    source_paths: tuple[Path, ...]
    sample_rate: int
    num_samples: int
    start: int = 0
    transcripts: tuple[str | None, ...] = ()

    @property
    def seconds(self) -> float:
        return self.num_samples / self.sample_rate

    @property
    def num_sources(self) -> int:
        return len(self.source_paths)


@dataclass
class LoadedMixture:
    """A mixture with its audio in memory: ``mixture`` [T], ``sources`` [S, T] (float32).

    The runner hands ``sources=None`` to systems that are not oracles, so a system
    cannot peek at the references by accident.
    """

    record: Mixture
    mixture: np.ndarray
    sources: np.ndarray | None


@dataclass(frozen=True)
class TokenStream:
    """Integer tokens as transmitted, each worth ``bits_per_token`` bits (e.g. 10 for M = 1024)."""

    tokens: np.ndarray
    bits_per_token: int

    @property
    def bits(self) -> int:
        return int(self.tokens.size) * int(self.bits_per_token)


def stream_bits(stream: "bytes | TokenStream") -> int:
    """Bits a payload stream occupies on the channel."""
    if isinstance(stream, (bytes, bytearray, memoryview)):
        return 8 * len(stream)
    if isinstance(stream, TokenStream):
        return stream.bits
    raise TypeError(f"payload stream must be bytes or TokenStream, not {type(stream).__name__}")


@dataclass
class Separation:
    """The output of ``System.separate`` for one mixture.

    ``estimates`` is [S, T] float32 at the system's sample rate. ``payload`` is the
    list of streams actually transmitted (bytes or :class:`TokenStream`), so the
    harness can count real bits (one stream per output lets it attribute bits to
    each output as well); ``None`` means the system transmits nothing
    measurable (unbounded bitrate, e.g. an oracle or a separator without codec).
    ``info`` holds anything else worth storing (JSON-serialisable).
    """

    estimates: np.ndarray
    payload: "Sequence[bytes | TokenStream] | None" = None
    info: dict[str, Any] = field(default_factory=dict)
