"""DNSMOS P.808 input features of every window of a clip, from one STFT of the clip.

The P.808 model sees each 9.01 s window (minus its last 160 samples) as a 120-band mel
spectrogram in librosa's convention (:mod:`bench.metrics.mel`: centred STFT with zero
padding, n_fft 321, hop 160), scaled by ``(power_to_db(ref=max) + 40) / 40``.  Windows
hop by 1 s = 100 STFT frames, so all frames of a window but its first and last are
frames of the clip itself: they are transformed once per clip instead of once per
window.  The two edge frames of each window see the window's zero padding and are
transformed on their own.

The ``ref=max`` scaling and the 80 dB floor depend on the window's loudest bin, so
they are applied per window; but the windows of a clip almost always share that bin
(all 318 windows of the embedded set's 80 sources do), and windows with equal scaling
see equal features wherever they overlap.  :func:`shared_inputs` therefore lays out,
per clip and scaling, one stretch of features covering those windows, for the P.808
network to run once over it (:mod:`bench.metrics.dnsmos_share`).  Values equal
:func:`bench.metrics.dnsmos.p808_features` of each window: the same frames through
the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from bench.metrics.dnsmos_share import ClipWindows, Windowed
from bench.metrics.mel import frame_power, mel_filterbank

SAMPLE_RATE = 16000
N_MELS, N_FFT, HOP = 120, 321, 160
TRIMMED = 144000  # samples the P.808 model sees of a window: 9.01 s minus its last hop
PAD = N_FFT // 2  # zeros librosa's centred STFT adds at each end
FRAMES = 1 + (TRIMMED + 2 * PAD - N_FFT) // HOP  # 900 frames per window
AMIN, TOP_DB = 1e-10, 80.0


@lru_cache(maxsize=1)
def _basis() -> np.ndarray:
    return mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS).astype(np.float64)


def _mel(frames: np.ndarray) -> np.ndarray:
    """Mel power [n, 120] of frames [n, 321]."""
    return frame_power(frames) @ _basis().T


def _db(power: np.ndarray | float) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(AMIN, power))


@dataclass(frozen=True)
class ClipMel:
    """Log-mel of a clip's frames and of its windows' edge frames, and each window's scaling.

    Frame ``j`` of the window at ``s`` covers samples ``s + 160 j - 160 .. s + 160 j + 160``
    (the clip's frame ``s / 160 + j``); frames 1 .. 898 lie inside the window, frames 0
    and 899 reach into its zero padding.
    """

    starts: tuple[int, ...]
    first: int  # clip frame of log[0]
    log: np.ndarray  # [frames, 120] 10 log10(mel) of clip frames first, first + 1, ...
    edge_log: np.ndarray  # [2 windows, 120]: each window's frame 0, then each one's frame 899
    ref_db: np.ndarray  # [windows] 10 log10 of the window's loudest mel bin (power_to_db's ref)
    peak_db: np.ndarray  # [windows] the largest log-mel value in the window

    def window_log(self, k: int) -> np.ndarray:
        """Log-mel [900, 120] of window ``k``."""
        lo = self.starts[k] // HOP + 1 - self.first
        n = len(self.starts)
        return np.concatenate([self.edge_log[k:k + 1], self.log[lo:lo + FRAMES - 2], self.edge_log[n + k:n + k + 1]])

    def scale(self, log: np.ndarray, k: int) -> np.ndarray:
        """``(power_to_db(ref=max) + 40) / 40`` of log-mel rows with window ``k``'s scaling."""
        db = log - self.ref_db[k]
        db = np.maximum(db, (self.peak_db[k] - self.ref_db[k]) - TOP_DB)
        return ((db + 40.0) / 40.0).astype(np.float32)


def clip_mel(audio: np.ndarray, starts: tuple[int, ...]) -> ClipMel:
    """The :class:`ClipMel` of the windows at ``starts`` of ``audio``."""
    x = np.asarray(audio, dtype=np.float64)
    if any(s % HOP for s in starts) or starts[-1] + TRIMMED > len(x):
        raise ValueError("window starts must be whole hops inside the audio")
    # clip frame g covers x[160 g - 160 : 160 g + 161]; rows of this view are g = 1, 2, ...
    rows = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP]
    first, last = starts[0] // HOP + 1, starts[-1] // HOP + FRAMES - 2  # interior frames needed
    mel = _mel(rows[first - 1:last])
    edges = [np.concatenate([np.zeros(PAD), x[s:s + N_FFT - PAD]]) for s in starts]
    edges += [np.concatenate([x[s + TRIMMED - (N_FFT - 1):s + TRIMMED], np.zeros(1)]) for s in starts]
    edge_mel = _mel(np.stack(edges))
    n = len(starts)
    peaks = []
    for k, s in enumerate(starts):
        lo = s // HOP + 1 - first
        peaks.append(max(float(np.max(mel[lo:lo + FRAMES - 2])), float(edge_mel[k].max()),
                         float(edge_mel[n + k].max())))
    peak_power = np.array(peaks)
    return ClipMel(tuple(starts), first, _db(mel), _db(edge_mel), _db(peak_power), _db(peak_power))


def window_features(audio: np.ndarray, starts: tuple[int, ...]) -> np.ndarray:
    """P.808 features [len(starts), 900, 120] float32 of the windows at ``starts``, window by window."""
    cm = clip_mel(audio, starts)
    return np.stack([cm.scale(cm.window_log(k), k) for k in range(len(starts))])


def shared_inputs(clips: Sequence[ClipWindows]) -> tuple[Windowed, list[tuple[int, int]]]:
    """Features of all windows laid end to end for one pass of the P.808 network.

    Returns the :class:`Windowed` stream [1, rows, 120] (with each window's two edge
    frames as its corrections) and, for each window in stream order, its (clip, window)
    index.  One stretch per clip and scaling covers the windows with that scaling.
    """
    segments, offsets, left, right, order = [], [], [], [], []
    row = 0
    for c, clip in enumerate(clips):
        cm = clip_mel(clip.audio, clip.starts)
        n = len(clip.starts)
        groups: dict[tuple[float, float], list[int]] = {}
        for k in range(n):
            groups.setdefault((float(cm.ref_db[k]), float(cm.peak_db[k])), []).append(k)
        for ks in groups.values():
            s0, s1 = clip.starts[ks[0]], clip.starts[ks[-1]]
            lo = s0 // HOP + 1 - cm.first  # log row of the first window's frame 1
            hi = s1 // HOP + FRAMES - 1 - cm.first  # ... one past the last window's frame 898
            log = np.concatenate([cm.edge_log[ks[0]:ks[0] + 1], cm.log[lo:hi], cm.edge_log[n + ks[-1]:n + ks[-1] + 1]])
            segments.append(cm.scale(log, ks[0]))
            for k in ks:
                offsets.append(row + (clip.starts[k] - s0) // HOP)
                left.append(cm.scale(cm.edge_log[k:k + 1], k)[None])
                right.append(cm.scale(cm.edge_log[n + k:n + k + 1], k)[None])
                order.append((c, k))
            row += len(log)
    stream = Windowed(np.concatenate(segments)[None], tuple(offsets), FRAMES, np.stack(left), np.stack(right))
    return stream, order
