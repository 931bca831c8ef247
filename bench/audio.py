"""Audio file I/O through ``soundfile`` (torchaudio >= 2.9 has no load/save of its own).

Writes are atomic (temporary file in the same directory, then ``os.replace``) so a
killed run never leaves a half-written estimate behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.errors import BenchError


def audio_info(path: Path) -> sf._SoundFileInfo:
    """Header of an audio file; a one-line :class:`BenchError` if it is unreadable."""
    try:
        return sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise BenchError(f"{path}: cannot read audio ({_short(exc)})") from None


def read_audio(path: Path, start: int = 0, frames: int = -1) -> tuple[np.ndarray, int]:
    """Read a (segment of a) mono file as float32 [T]; multi-channel files are an error."""
    try:
        data, sr = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise BenchError(f"{path}: cannot read audio ({_short(exc)})") from None
    if data.shape[1] != 1:
        raise BenchError(f"{path}: expected 1 channel, found {data.shape[1]}")
    return data[:, 0], int(sr)


def write_audio_atomic(path: Path, audio: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> None:
    """Write mono audio so that ``path`` either holds the complete file or nothing new.

    Estimates are stored as 32-bit float WAV by default: metrics must see exactly
    what the system produced, not a 16-bit requantised copy.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "WAV" if path.suffix.lower() == ".wav" else None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    try:
        sf.write(tmp, np.asarray(audio, dtype=np.float32), sample_rate, subtype=subtype, format=fmt)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fit_length(wave: np.ndarray, num_samples: int) -> np.ndarray:
    """Crop or zero-pad the last axis at its end to ``num_samples``.

    The one length rule of the project: codecs work in whole frames, resampling rounds,
    and the metrics compare estimates with references sample-aligned at the start, so
    only the tail is ever adjusted.
    """
    if wave.shape[-1] >= num_samples:
        return wave[..., :num_samples]
    pad = [(0, 0)] * (wave.ndim - 1) + [(0, num_samples - wave.shape[-1])]
    return np.pad(wave, pad)


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling along the last axis (deterministic; identity when rates match)."""
    if from_rate == to_rate:
        return audio
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(from_rate, to_rate)
    return resample_poly(audio, to_rate // g, from_rate // g, axis=-1).astype(np.float32)
