"""Mel spectrogram features exactly as librosa computes them, without librosa.

DNSMOS's P.808 model was trained on ``librosa.feature.melspectrogram`` followed by
``librosa.power_to_db(ref=np.max)``; reproducing those numbers is what makes our
DNSMOS equal Microsoft's.  librosa itself is not a dependency (it pulls numba and a
long tail of packages), so the three pieces it contributes are written here:

* the Slaney-style mel filterbank (``htk=False``, ``norm="slaney"``),
* a centred STFT power spectrogram with a periodic Hann window,
* ``power_to_db`` with ``amin=1e-10`` and ``top_db=80``.

``tests/test_metrics_mel.py`` checks each against librosa when it is installed.
"""

from __future__ import annotations

import numpy as np

# Slaney's auditory toolbox mel scale: linear below 1 kHz, logarithmic above
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(frequencies: np.ndarray | float) -> np.ndarray:
    """Hz to Slaney mels (librosa ``hz_to_mel(htk=False)``)."""
    f = np.asarray(frequencies, dtype=np.float64)
    mels = f / _F_SP
    log_part = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log_part, mels)


def mel_to_hz(mels: np.ndarray | float) -> np.ndarray:
    """Slaney mels to Hz (inverse of :func:`hz_to_mel`)."""
    m = np.asarray(mels, dtype=np.float64)
    freqs = _F_SP * m
    log_part = _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log_part, freqs)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """Triangular, area-normalised mel filters [n_mels, 1 + n_fft // 2] (librosa ``filters.mel``).

    Computed in float64 and returned as float32, as librosa does by default.
    """
    fmax = sample_rate / 2.0 if fmax is None else fmax
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    # distance of each FFT bin from each band edge; rising and falling slopes of each triangle
    offsets = edges[:, None] - fft_freqs[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]  # Slaney: constant energy per band
    return weights.astype(np.float32)


def periodic_hann(length: int) -> np.ndarray:
    """``scipy.signal.get_window("hann", length, fftbins=True)``: the DFT-even Hann window."""
    n = np.arange(length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)


def power_spectrogram(audio: np.ndarray, n_fft: int, hop_length: int, pad_mode: str = "constant") -> np.ndarray:
    """|STFT|^2 [..., 1 + n_fft // 2, frames] of a centred STFT (librosa ``stft(center=True)``).

    ``pad_mode`` is librosa's: ``"constant"`` (zeros) since librosa 0.10, ``"reflect"`` before.
    Works on a batch: ``audio`` is [..., T].
    """
    x = np.asarray(audio, dtype=np.float64)
    pad = [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)]
    x = np.pad(x, pad, mode=pad_mode)
    num_frames = 1 + (x.shape[-1] - n_fft) // hop_length
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[..., ::hop_length, :][..., :num_frames, :]
    return np.swapaxes(frame_power(frames), -1, -2)


def frame_power(frames: np.ndarray) -> np.ndarray:
    """|rfft|^2 of periodic-Hann-windowed frames [..., n_fft] -> [..., 1 + n_fft // 2] (float64).

    The per-frame step of :func:`power_spectrogram`, for callers that cut their own
    frames (DNSMOS's P.808 features frame a clip once for all its windows).
    """
    frames = np.asarray(frames, dtype=np.float64)
    n_fft = frames.shape[-1]
    spectrum = np.fft.rfft(frames * periodic_hann(n_fft), n=n_fft, axis=-1)
    return spectrum.real ** 2 + spectrum.imag ** 2


def mel_spectrogram(audio: np.ndarray, sample_rate: int, n_fft: int, hop_length: int, n_mels: int,
                    pad_mode: str = "constant") -> np.ndarray:
    """Mel power spectrogram [..., n_mels, frames] (librosa ``feature.melspectrogram``, power 2)."""
    basis = mel_filterbank(sample_rate, n_fft, n_mels).astype(np.float64)
    return basis @ power_spectrogram(audio, n_fft, hop_length, pad_mode)


def power_to_db(power: np.ndarray, ref: str | float = "max", amin: float = 1e-10,
                top_db: float | None = 80.0) -> np.ndarray:
    """Decibels of a power spectrogram (librosa ``power_to_db``).

    ``ref="max"`` is librosa's ``ref=np.max``: the maximum of the whole array passed
    in, so call it once per clip (per window), not on a batch.
    """
    s = np.asarray(power, dtype=np.float64)
    ref_value = float(np.max(s)) if ref == "max" else float(ref)
    db = 10.0 * np.log10(np.maximum(amin, s)) - 10.0 * np.log10(max(amin, abs(ref_value)))
    if top_db is not None:
        db = np.maximum(db, db.max() - top_db)
    return db
