"""Single-speaker training audio: the s1/s2 sources of a Libri2Mix-format tree, or LibriSpeech.

The codec must learn clean single-speaker speech (CodeSep trains MDCTCodec on
D_s = {x}), so in a Libri2Mix tree only the ``s1``/``s2`` folders are used, never the
mixtures.  Everything is loaded once into memory (a few hours of 16 kHz float32
fit in a few GB) and random crops are drawn from a seeded generator so a resumed
run continues the same stream of batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.audio import read_audio, resample
from bench.errors import BenchError

AUDIO_SUFFIXES = (".flac", ".wav")


def find_training_files(root: Path) -> list[Path]:
    """Source files under ``root``: every ``s1``/``s2`` folder if any exist, else all audio files."""
    if not root.is_dir():
        raise BenchError(f"training data folder {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    sources = [p for p in files if p.parent.name in ("s1", "s2")]
    chosen = sources or [p for p in files if p.parent.name not in ("mix_clean", "mix_both", "mix_single", "noise")]
    if not chosen:
        raise BenchError(f"no .flac/.wav training audio under {root}")
    return chosen


class SegmentSampler:
    """Random fixed-length crops of in-memory utterances, with a random gain of +-``gain_db``."""

    def __init__(self, files: list[Path], sample_rate: int, segment: int, gain_db: float = 6.0) -> None:
        self.segment, self.gain_db, self.sample_rate = segment, gain_db, sample_rate
        self.waves: list[np.ndarray] = []
        for path in files:
            audio, rate = read_audio(path)
            audio = resample(audio, rate, sample_rate)
            if audio.shape[-1] >= segment:
                self.waves.append(np.ascontiguousarray(audio, dtype=np.float32))
        if not self.waves:
            raise BenchError(f"no training file is at least {segment / sample_rate:.2f} s long")
        lengths = np.array([w.shape[0] - segment + 1 for w in self.waves], dtype=np.float64)
        self.weights = torch.tensor(lengths / lengths.sum())     # every start sample equally likely

    @property
    def seconds(self) -> float:
        return sum(w.shape[0] for w in self.waves) / self.sample_rate

    def batch(self, size: int, generator: torch.Generator) -> torch.Tensor:
        """[size, segment] float32 crops."""
        picks = torch.multinomial(self.weights, size, replacement=True, generator=generator)
        out = torch.empty(size, self.segment)
        for i, index in enumerate(picks.tolist()):
            wave = self.waves[index]
            start = int(torch.randint(0, wave.shape[0] - self.segment + 1, (1,), generator=generator))
            out[i] = torch.from_numpy(wave[start:start + self.segment])
        gains = 10 ** ((torch.rand(size, 1, generator=generator) * 2 - 1) * self.gain_db / 20)
        return out * gains
