"""DNSMOS scores of overlapping windows with the time-local layers computed once per clip.

DNSMOS cuts a clip into 9.01 s windows every 1 s and scores each window on its own, so
the reference runs both networks on every second of audio up to nine times.  Their
first layers are local in time (:mod:`bench.metrics.dnsmos_graph` cuts them into
stages A and B), so here each stage runs once over the inputs of all windows laid end
to end (the *stream*: P.835's frames, P.808's features), and each window reads its
rows from that shared map:

* **interior** rows of a window depend only on input inside the window, so they equal
  the shared map's rows at the window's offset (offsets are multiples of 4 frames, so
  the pooling grids agree);
* **edge** rows (``EdgeGeometry.keep`` at each end) see the window's zero padding
  instead of neighbouring audio (or another clip, in the stream); they are recomputed
  from short pieces of the window's own, already corrected, input rows.

Each stage runs on the stream in chunks of at most one window's rows with
``EdgeGeometry.halo`` rows of context each side, so the memory of a call stays that of
one window and the shapes stay few (the ONNX Runtime arena then reuses its blocks).
The head then runs once per window on the corrected stage-B rows.  A stream whose
windows carry their own edge inputs (P.808's zero-padded edge frames) says so with
``Windowed.left``/``right`` at the first level, and those are corrected the same way.

The result equals the whole network run window by window up to float rounding in the
convolutions' accumulation order (``tests/test_metrics_dnsmos.py`` compares it with
the unsplit model per window and with speechmos).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from bench.metrics.dnsmos_graph import FRAME_HOP, WINDOW_FRAMES, EdgeGeometry

#: a stage: maps [N, C, rows, F] -> [N, C', rows // 2, F']
Run = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ClipWindows:
    """A clip as DNSMOS windows it: the (tiled) audio and the sample offset of each window."""

    audio: np.ndarray
    starts: tuple[int, ...]

    def frames(self) -> np.ndarray:
        """The model's 320-sample frames (hop 160) from the clip start to the end of its last window."""
        count = self.starts[-1] // FRAME_HOP + WINDOW_FRAMES
        view = np.lib.stride_tricks.sliding_window_view(np.asarray(self.audio, dtype=np.float32), 2 * FRAME_HOP)
        return view[::FRAME_HOP][:count]


@dataclass(frozen=True)
class Windowed:
    """A map over the stream [C, rows, F] and where each window's rows lie in it.

    ``left``/``right`` [windows, C, keep, F] replace the shared rows at each window's
    edges (``None``: the map is exact everywhere, as the raw frames are).
    """

    data: np.ndarray
    offsets: tuple[int, ...]
    length: int
    left: np.ndarray | None = None
    right: np.ndarray | None = None

    def rows(self, k: int, lo: int, hi: int) -> np.ndarray:
        """Rows ``lo .. hi-1`` of window ``k`` [C, hi - lo, F], as the window alone computes them."""
        start = self.offsets[k]
        out = self.data[:, start + lo:start + hi]
        if self.left is None or self.right is None:
            return out
        out = out.copy()
        keep = self.left.shape[2]
        for r in range(max(lo, 0), min(hi, keep)):
            out[:, r - lo] = self.left[k][:, r]
        for r in range(max(lo, self.length - keep), min(hi, self.length)):
            out[:, r - lo] = self.right[k][:, r - (self.length - keep)]
        return out


@dataclass(frozen=True)
class Stages:
    """One DNSMOS model cut in three (:func:`bench.metrics.dnsmos_graph.split_p835` / ``split_p808``)."""

    stage_a: Run  # [N, T, row] -> [N, C, T/2, F]
    stage_b: Run
    head: Run  # [N, C, 225, F] -> [N, K]
    edges: tuple[EdgeGeometry, EdgeGeometry]


def frames(clips: Sequence[ClipWindows]) -> Windowed:
    """The P.835 input: every clip's frames end to end [1, total frames, 320], and the windows in it."""
    if any(s % (4 * FRAME_HOP) for c in clips for s in c.starts):
        raise ValueError("window starts must be multiples of 4 frames (the pooling grids must line up)")
    per_clip = [c.frames() for c in clips]
    offsets = np.cumsum([0] + [len(f) for f in per_clip])[:-1]
    return Windowed(np.concatenate(per_clip)[None],
                    tuple(int(off) + s // FRAME_HOP for off, c in zip(offsets, clips) for s in c.starts),
                    WINDOW_FRAMES)


def window_scores(inputs: Windowed, stages: Stages, head_batch: int = 8, edge_batch: int = 64) -> np.ndarray:
    """The model's raw output for every window of ``inputs`` [windows, K], as if run window by window."""
    a = apply(inputs, lambda x: stages.stage_a(x[:, 0]), stages.edges[0], edge_batch)
    b = apply(a, stages.stage_b, stages.edges[1], edge_batch)
    out = []
    for first in range(0, len(b.offsets), head_batch):
        batch = range(first, min(len(b.offsets), first + head_batch))
        out.append(stages.head(np.stack([b.rows(k, 0, b.length) for k in batch])))
    return np.concatenate(out).astype(np.float64)


def apply(source: Windowed, run: Run, edge: EdgeGeometry, edge_batch: int = 64) -> Windowed:
    """One stage over the stream once, plus each window's edge rows from pieces of its own rows."""
    if any(o % 2 for o in source.offsets):
        raise ValueError("window offsets must be even (the pooling grid must line up)")
    shared = _chunked(source.data, run, edge.halo, source.length)
    n, size = len(source.offsets), source.length
    pieces = [source.rows(k, 0, edge.piece) for k in range(n)]
    pieces += [source.rows(k, size - edge.piece, size) for k in range(n)]
    outs = np.concatenate([run(np.stack(pieces[i:i + edge_batch])) for i in range(0, len(pieces), edge_batch)])
    return Windowed(shared, tuple(o // 2 for o in source.offsets), size // 2,
                    left=outs[:n, :, :edge.keep], right=outs[n:, :, -edge.keep:])


def _chunked(data: np.ndarray, run: Run, halo: int, chunk: int) -> np.ndarray:
    """``run`` over all rows of ``data`` [C, R, F] in chunks of ``chunk`` rows plus ``halo`` each side.

    Exact except within the stage's radius of the stream's two ends, which are window
    edges and replaced by the caller.  The output is written in place, chunk by chunk,
    so the map is never copied whole.
    """
    if chunk % 2 or halo % 2:
        raise ValueError("chunk and halo must be even")
    rows = data.shape[1]
    out: np.ndarray | None = None
    for begin in range(0, rows, chunk):
        end = min(rows, begin + chunk)
        lo, hi = max(0, begin - halo), min(rows, end + halo)
        piece = data[:, lo:hi]
        if lo > begin - halo or hi < end + halo:  # the stream's ends: zeros stand in for the context
            pad = [(0, 0), (lo - (begin - halo), end + halo - hi)] + [(0, 0)] * (data.ndim - 2)
            piece = np.pad(piece, pad)
        result = run(piece[None])[0]
        if out is None:
            out = np.empty((result.shape[0], rows // 2) + result.shape[2:], result.dtype)
        out[:, begin // 2:end // 2] = result[:, halo // 2:result.shape[1] - halo // 2]
    assert out is not None
    return out
