"""Training examples for the separator: Libri2Mix sources, remixed on the fly.

With only an hour or two of synthetic data, fixed mixtures are seen many times
over; dynamic mixing (pairing sources of different mixtures, different speakers,
random crops and relative gains) makes nearly every example new.  Sources are held
in memory: an hour of 16 kHz mixtures is about 0.5 GB of float32 sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data.libri2mix import DatasetSpec, open_dataset
from bench.errors import BenchError


@dataclass
class Utterance:
    """One reference source of a training mixture and the speaker who says it."""

    speaker: str
    audio: np.ndarray


def speaker_of(mixture_id: str, index: int) -> str:
    """Speaker of the ``index``-th source: LibriMix IDs are ``spk-chapter-utt_spk-chapter-utt``."""
    parts = mixture_id.split("_")
    return parts[index].split("-")[0] if index < len(parts) else f"{mixture_id}#{index}"


def load_sources(root: Path, split: str = "train", sample_rate: int = 16000) -> tuple[list[Utterance], list[tuple[int, int]]]:
    """All sources of a Libri2Mix split, and the index pairs that form its original mixtures."""
    dataset = open_dataset(DatasetSpec(root=root, split=split, sample_rate=sample_rate))
    if len(dataset) == 0:
        raise BenchError(f"{dataset.csv_path}: no mixtures")
    utterances: list[Utterance] = []
    pairs: list[tuple[int, int]] = []
    for mixture in dataset:
        loaded = dataset.load(mixture)
        assert loaded.sources is not None
        first = len(utterances)
        for k, audio in enumerate(loaded.sources):
            utterances.append(Utterance(speaker_of(mixture.mixture_id, k), audio.astype(np.float32)))
        pairs.append((first, first + 1))
    return utterances, pairs


class DynamicMixer:
    """Draws ``[S, T]`` source pairs of fixed length; their sum is the mixture."""

    def __init__(self, utterances: list[Utterance], pairs: list[tuple[int, int]], segment: int, seed: int,
                 original_fraction: float = 0.2, gain_db: float = 5.0) -> None:
        self.utterances = utterances
        self.pairs = pairs
        self.segment = segment
        self.original_fraction = original_fraction
        self.gain_db = gain_db
        self.rng = np.random.default_rng(seed)

    def state(self) -> dict:
        """Generator state, saved with checkpoints so a resumed run draws the same examples."""
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def batch(self, size: int) -> np.ndarray:
        """``[size, 2, segment]`` float32 references."""
        return np.stack([self.example() for _ in range(size)])

    def example(self) -> np.ndarray:
        if self.rng.random() < self.original_fraction:
            first, second = self.pairs[self.rng.integers(len(self.pairs))]
            return self._crop_together(self.utterances[first].audio, self.utterances[second].audio)
        first, second = self._two_speakers()
        a = self._crop(self.utterances[first].audio)
        b = self._crop(self.utterances[second].audio)
        a, b = _normalise(a), _normalise(b)
        gain = 10 ** (self.rng.uniform(-self.gain_db, self.gain_db) / 20)
        level = 10 ** (self.rng.uniform(-25, -15) / 20)   # overall RMS in dBFS before the relative gain
        return np.stack([a * level * gain, b * level / gain]).astype(np.float32)

    def _two_speakers(self) -> tuple[int, int]:
        first = int(self.rng.integers(len(self.utterances)))
        for _ in range(20):
            second = int(self.rng.integers(len(self.utterances)))
            if self.utterances[second].speaker != self.utterances[first].speaker:
                return first, second
        return first, (first + 1) % len(self.utterances)

    def _crop(self, audio: np.ndarray) -> np.ndarray:
        if audio.shape[-1] >= self.segment:
            start = int(self.rng.integers(audio.shape[-1] - self.segment + 1))
            return audio[start:start + self.segment]
        out = np.zeros(self.segment, dtype=np.float32)
        start = int(self.rng.integers(self.segment - audio.shape[-1] + 1))
        out[start:start + audio.shape[-1]] = audio
        return out

    def _crop_together(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Same crop of both sources of an original mixture (keeps its true overlap and gains)."""
        pair = np.stack([a, b])
        length = pair.shape[-1]
        if length >= self.segment:
            start = int(self.rng.integers(length - self.segment + 1))
            return pair[:, start:start + self.segment].astype(np.float32)
        out = np.zeros((2, self.segment), dtype=np.float32)
        out[:, :length] = pair
        return out


def _normalise(audio: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(audio ** 2)))
    return audio / rms if rms > 1e-6 else audio


def fixed_examples(root: Path, split: str, sample_rate: int = 16000, limit: int | None = None) -> list[np.ndarray]:
    """Validation references ``[2, T]`` at full length (no remixing), for a stable score."""
    dataset = open_dataset(DatasetSpec(root=root, split=split, sample_rate=sample_rate, limit=limit))
    out = []
    for mixture in dataset:
        loaded = dataset.load(mixture)
        assert loaded.sources is not None
        out.append(loaded.sources.astype(np.float32))
    return out
