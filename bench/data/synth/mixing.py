"""Loudness normalisation and two-speaker mixing, following the LibriMix recipe.

Why LibriMix's recipe and not our own: systems trained or tuned on Libri2Mix expect
its level statistics. LibriMix (``scripts/create_librimix_metadata.py``) does, per
mixture:

1. measure each source's integrated loudness with an ITU-R BS.1770 meter
   (``pyloudnorm``) at the data set's rate, on the source padded to the longer one;
2. draw a target uniformly in [-33, -25] LUFS and scale the source to it; should a
   normalised *source* reach |x| >= 1, rescale it to a peak of 0.9 instead;
3. sum the sources (the "max"-length mixture); should its peak exceed 0.9, scale
   every source by the same factor so that the peak is 0.9 (the mixture stays the
   sum of its sources);
4. for "min" mode, truncate sources and mixture to the shorter source.

This module does exactly that on float arrays; it knows nothing about TTS or files.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pyloudnorm as pyln

MIN_LOUDNESS = -33.0
MAX_LOUDNESS = -25.0
MAX_AMP = 0.9
"""Peak that clipping sources or mixtures are scaled back to (LibriMix's ``MAX_AMP``)."""


@dataclass
class Mixture:
    """One min-mode mixture and its sources, plus what was done to make it."""

    mixture: np.ndarray
    sources: list[np.ndarray]
    target_lufs: list[float]
    """Loudness each source was drawn to hit (before any clipping rescale)."""
    final_lufs: list[float]
    """Loudness each full-length source has in the final mixture."""
    rescaled: bool
    """Whether a source or the mixture would have clipped and was scaled down."""


def meter(rate: int) -> pyln.Meter:
    """The BS.1770 meter LibriMix uses (default 400 ms blocks, K-weighting)."""
    return pyln.Meter(rate)


def loudness(audio: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS of float audio (``-inf`` for silence)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyloudnorm warns on silence
        return float(meter(rate).integrated_loudness(np.asarray(audio, dtype=np.float64)))


def normalize(audio: np.ndarray, rate: int, target_lufs: float) -> tuple[np.ndarray, bool]:
    """Scale ``audio`` to ``target_lufs``; if it would clip, scale its peak to 0.9 instead.

    Returns the scaled audio (float64) and whether the clip fallback was used.
    """
    audio = np.asarray(audio, dtype=np.float64)
    measured = loudness(audio, rate)
    if not np.isfinite(measured):
        raise ValueError("cannot loudness-normalise a silent signal")
    scaled = audio * 10.0 ** ((target_lufs - measured) / 20.0)
    if np.max(np.abs(scaled)) >= 1.0:
        return audio * (MAX_AMP / np.max(np.abs(audio))), True
    return scaled, False


def mix_min(sources: list[np.ndarray], rate: int, rng: np.random.Generator) -> Mixture:
    """Mix ``sources`` LibriMix-style in "min" mode with loudness targets drawn from ``rng``."""
    longest = max(len(s) for s in sources)
    shortest = min(len(s) for s in sources)
    padded = [np.pad(np.asarray(s, dtype=np.float64), (0, longest - len(s))) for s in sources]
    targets = [float(rng.uniform(MIN_LOUDNESS, MAX_LOUDNESS)) for _ in sources]
    normed: list[np.ndarray] = []
    rescaled = False
    for source, target in zip(padded, targets):
        out, clipped = normalize(source, rate, target)
        normed.append(out)
        rescaled |= clipped
    mixture_max = np.sum(normed, axis=0)
    peak = float(np.max(np.abs(mixture_max)))
    if peak > MAX_AMP:
        weight = MAX_AMP / peak
        normed = [s * weight for s in normed]
        rescaled = True
    final = [loudness(s, rate) for s in normed]
    cut = [s[:shortest] for s in normed]
    return Mixture(
        mixture=np.sum(cut, axis=0).astype(np.float32),
        sources=[s.astype(np.float32) for s in cut],
        target_lufs=targets,
        final_lufs=final,
        rescaled=rescaled,
    )
