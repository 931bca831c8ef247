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


class TooFewFrames(ValueError):
    """The reference has too little non-silent audio for STOI's 384 ms segments."""


def stoi(estimate: np.ndarray, reference: np.ndarray, sample_rate: int, extended: bool = False) -> float:
    """(E)STOI of ``estimate`` against ``reference`` (1-D, same length, same rate).

    pystoi answers 1e-5 with a warning when the reference has fewer than 30 non-silent
    frames; that number would enter a mean as a real (terrible) score, so it is raised
    instead and the row is stored as failed with the reason.
    """
    import warnings

    from pystoi import stoi as _stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(_stoi(np.asarray(reference, dtype=np.float64), np.asarray(estimate, dtype=np.float64),
                            sample_rate, extended=extended))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise TooFewFrames("reference has fewer than 30 non-silent 25.6 ms frames (about 0.8 s of speech); "
                           "STOI is undefined")
    return value


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
