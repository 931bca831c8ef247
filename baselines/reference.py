"""Reference rows: ``mixture`` (the input itself) and ``clean`` (the true sources).

``mixture`` is the "Mixture" row of the TokenSplit table (SI-SNRi 0 dB by
definition); ``clean`` provides natural speech for listening tests and an upper
bound for every metric.  Neither transmits anything measurable.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bench.records import LoadedMixture, Separation
from bench.system import System


class MixtureSystem(System):
    """Returns the mixture as the estimate of every source."""

    family = "mixture"
    max_batch_size = 64

    def separate(self, batch: Sequence[LoadedMixture]) -> list[Separation]:
        return [
            Separation(estimates=np.repeat(item.mixture[None, :], item.record.num_sources, axis=0))
            for item in batch
        ]


class CleanSystem(System):
    """Returns the true sources (an oracle)."""

    family = "clean"
    needs_references = True
    max_batch_size = 64

    def separate(self, batch: Sequence[LoadedMixture]) -> list[Separation]:
        return [Separation(estimates=np.array(_require(item.sources), dtype=np.float32, copy=True)) for item in batch]


def _require(sources: np.ndarray | None) -> np.ndarray:
    if sources is None:
        raise RuntimeError("the clean oracle was called without references")
    return sources
