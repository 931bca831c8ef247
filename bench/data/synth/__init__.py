"""Synthetic Libri2Mix-style data: TTS voices speaking grammar-made sentences, mixed like LibriMix.

Why it exists: the benchmark needs a test set it may ship and a way to make training
data without LibriSpeech. ``bench data synth`` (see :mod:`.command`) writes one split;
the default embedded test set under ``bench/data/embedded`` was made with it.

Only this package touches TTS engines, and only when :func:`synthesize` runs: the
engines are subprocesses or imported lazily inside :mod:`.voices`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def synthesize(
    out_root: Path,
    split: str = "test",
    mixtures: int | None = None,
    hours: float | None = None,
    seed: int = 0,
    audio_format: str = "flac",
    voices: Sequence[str] | None = None,
    jobs: int = 1,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> Path:
    """Write one split of a synthetic Libri2Mix under ``out_root``; return ``out_root/Libri2Mix``.

    See :func:`bench.data.synth.pipeline.synthesize` for the details.
    """
    from bench.data.synth.pipeline import synthesize as _synthesize

    return _synthesize(out_root, split, mixtures, hours, seed, audio_format, voices, jobs,
                       cache_dir, progress)


__all__ = ["synthesize"]
