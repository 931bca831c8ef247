"""STOI and ESTOI through ``pystoi`` (Taal et al. 2011; Jensen & Taal 2016).

pystoi is the implementation papers cite; it works at 10 kHz and resamples any
other rate itself (with the resampler of the MATLAB reference), removes silent
frames from the reference, and compares 384 ms segments of one-third-octave bands.
The estimate arrives already cut/padded to the reference length by the shared
``align_to_reference`` rule.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from bench.metrics.base import Metric, MetricInput

STOI_RATE = 10000  # pystoi's internal rate


def stoi(estimate: np.ndarray, reference: np.ndarray, sample_rate: int, extended: bool = False) -> float:
    """(E)STOI of ``estimate`` against ``reference`` (1-D, same length, same rate)."""
    from pystoi import stoi as _stoi

    return float(_stoi(np.asarray(reference, dtype=np.float64), np.asarray(estimate, dtype=np.float64),
                       sample_rate, extended=extended))


class STOI(Metric):
    """Short-time objective intelligibility, 0 to 1 (higher is better)."""

    name: ClassVar[str] = "stoi"
    sample_rate = STOI_RATE
    extended: ClassVar[bool] = False

    def compute(self, item: MetricInput) -> dict[str, float]:
        return {"": stoi(item.estimate, item.reference, item.sample_rate, self.extended)}


class ESTOI(STOI):
    """Extended STOI (robust to modulated noise), 0 to 1 (higher is better)."""

    name: ClassVar[str] = "estoi"
    extended = True
