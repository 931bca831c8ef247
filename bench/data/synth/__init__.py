"""Synthetic Libri2Mix-style data: TTS voices speaking grammar-made sentences, mixed like LibriMix.

Why it exists: the benchmark needs a test set it may ship and a way to make training
data without LibriSpeech. ``bench data synth`` (see :mod:`.command`) writes one split;
the default embedded test set under ``bench/data/embedded`` was made with it.

Only this package touches TTS engines, and only when :func:`synthesize` runs: the
engines are subprocesses or imported lazily inside :mod:`.voices`.
"""

from __future__ import annotations


def __getattr__(name: str):
    """``synthesize`` is imported on first use, so the CLI never loads TTS code at start-up."""
    if name == "synthesize":
        from bench.data.synth.generate import synthesize

        return synthesize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["synthesize"]
