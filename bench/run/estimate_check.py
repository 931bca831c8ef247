"""Stored estimates are a cache: check the files before trusting their rows.

A row in ``estimates`` promises a complete file of a known length.  A disk that
filled up, a copy that stopped half-way or a hand edit can break that promise; the
scores of such a file would be stored as ``failed`` for ever, and a re-run would skip
the mixture as done.  :func:`damaged_estimates` finds them from the file headers
alone (cheap: no audio is decoded), so the caller can drop their rows and separate
the mixtures again.
"""

from __future__ import annotations

from typing import Iterable

from bench.audio import audio_info
from bench.errors import BenchError
from bench.store import EstimateRow, Store


def estimate_problem(store: Store, row: EstimateRow) -> str | None:
    """Why the file behind ``row`` cannot stand for it (``None`` when it can)."""
    try:
        path = store.resolve(row.path)
        if not path.is_file():
            return f"{path}: missing"
        info = audio_info(path)
    except BenchError as exc:
        return str(exc)
    expected = int(round(row.seconds * row.sample_rate))
    if info.samplerate != row.sample_rate or info.channels != 1 or info.frames != expected:
        return (f"{path}: {info.frames} samples at {info.samplerate} Hz in {info.channels} channel(s), "
                f"stored as {expected} at {row.sample_rate} Hz mono (truncated or replaced)")
    return None


def damaged_estimates(store: Store, dataset_key: str, system_key: str,
                      mixture_ids: Iterable[str]) -> dict[str, str]:
    """Mixture ID -> the first problem of its stored estimate files, for the damaged ones among ``mixture_ids``."""
    wanted = set(mixture_ids)
    damaged: dict[str, str] = {}
    for mixture_id, rows in store.estimate_rows(dataset_key, system_key).items():
        if mixture_id not in wanted:
            continue
        for row in rows:
            problem = estimate_problem(store, row)
            if problem is not None:
                damaged[mixture_id] = problem
                break
    return damaged
