"""Strongly degraded anchors for gold items: natural speech through ITU-T P.810's MNRU.

A gold item is only useful if every attentive listener gets it right, so the anchor
must be unmistakably bad: the natural clip is band-limited (Butterworth low-pass,
default 1.5 kHz, zero-phase) and passed through a Modulated Noise Reference Unit,
``y = x + x * 10^(-Q/20) * n`` with white Gaussian ``n`` and Q = 5 dB by default,
which listening tests since P.810 rate around 1 on a 5-point scale.  The noise is
seeded so an export is reproducible.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt

DEFAULT_Q_DB = 5.0
DEFAULT_CUTOFF_HZ = 1500.0


def lowpass(audio: np.ndarray, sample_rate: int, cutoff_hz: float = DEFAULT_CUTOFF_HZ) -> np.ndarray:
    """Zero-phase 6th-order Butterworth low-pass (no-op when the cutoff is at or above Nyquist)."""
    if cutoff_hz >= sample_rate / 2 or len(audio) < 64:
        return np.asarray(audio, dtype=np.float64)
    sos = butter(6, cutoff_hz, btype="low", fs=sample_rate, output="sos")
    return sosfiltfilt(sos, np.asarray(audio, dtype=np.float64))


def mnru(audio: np.ndarray, q_db: float, rng: np.random.Generator) -> np.ndarray:
    """Speech-correlated noise at ``q_db`` below the signal (ITU-T P.810, wideband form)."""
    x = np.asarray(audio, dtype=np.float64)
    return x + x * (10.0 ** (-q_db / 20.0)) * rng.standard_normal(len(x))


def make_anchor(audio: np.ndarray, sample_rate: int, seed: int, q_db: float = DEFAULT_Q_DB,
                cutoff_hz: float = DEFAULT_CUTOFF_HZ) -> np.ndarray:
    """The anchor version of a natural clip (float32; loudness is normalised afterwards like any clip)."""
    rng = np.random.default_rng(seed)
    return mnru(lowpass(audio, sample_rate, cutoff_hz), q_db, rng).astype(np.float32)
