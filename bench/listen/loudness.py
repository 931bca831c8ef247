"""Loudness normalisation of listening-test clips (ITU-R BS.1770 via ``pyloudnorm``).

Listeners prefer louder versions of the same speech, so a system that happens to
output louder audio would win MOS and ABX votes for the wrong reason.  Every clip is
brought to one integrated loudness (default -26 LUFS, the P.800-series habit for
speech); a clip whose peak would then exceed the ceiling (default -1 dBFS) is turned
down until it fits instead of being clipped, and the loudness it really has is
reported so the key records it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: BS.1770 gating blocks are 400 ms; shorter clips get an ungated mean-square estimate
_MIN_GATED_SECONDS = 0.4
DEFAULT_TARGET_LUFS = -26.0
DEFAULT_PEAK_DBFS = -1.0


@dataclass(frozen=True)
class Normalised:
    audio: np.ndarray
    lufs_before: float
    lufs_after: float
    peak_limited: bool


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """BS.1770 integrated loudness in LUFS (-inf for silence)."""
    audio = np.asarray(audio, dtype=np.float64)
    if not np.any(audio):
        return -math.inf
    if len(audio) / sample_rate >= _MIN_GATED_SECONDS:
        import pyloudnorm

        return float(pyloudnorm.Meter(sample_rate).integrated_loudness(audio))
    # too short for gating blocks: the same formula without K-weighting or gating
    return -0.691 + 10.0 * math.log10(float(np.mean(audio ** 2)))


def normalise(audio: np.ndarray, sample_rate: int, target_lufs: float = DEFAULT_TARGET_LUFS,
              peak_dbfs: float = DEFAULT_PEAK_DBFS) -> Normalised:
    """Scale to ``target_lufs``; lower the gain if the peak would pass ``peak_dbfs``. Silence stays silent."""
    before = integrated_loudness(audio, sample_rate)
    if not math.isfinite(before):
        return Normalised(np.zeros_like(audio, dtype=np.float32), before, before, False)
    gain = 10.0 ** ((target_lufs - before) / 20.0)
    peak = float(np.max(np.abs(audio))) * gain
    ceiling = 10.0 ** (peak_dbfs / 20.0)
    limited = peak > ceiling
    if limited:
        gain *= ceiling / peak
    out = (np.asarray(audio, dtype=np.float64) * gain).astype(np.float32)
    return Normalised(out, before, before + 20.0 * math.log10(gain), limited)
