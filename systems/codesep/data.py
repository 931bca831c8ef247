"""Training data for CodeSep: cached codec tokens of every source, and frame-aligned crops.

The prediction targets (RVQ tokens of the single-speaker sources) depend only on the
codec checkpoint and the audio, so they are computed once per source and cached,
keyed by the codec's sha256 and the dataset fingerprint.  Examples are crops aligned
to the codec's frames (320 samples): a crop starting at token frame o of a source
has (up to the codec's edge effects) the tokens ``tokens[:, o : o + L + 1]``.

* BTDM: dynamic mixing — two sources of different speakers (or an original pair),
  random frame-aligned crops and a random relative gain *in the mixture only*; the
  targets stay the tokens of the sources as they are, so one token cache serves
  every re-pairing.
* ATSP: tokens only (single-speaker data, no audio needed).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.errors import BenchError

log = logging.getLogger(__name__)


@dataclass
class Source:
    """One single-speaker utterance with its codec tokens [N, F] (int64)."""

    speaker: str
    audio: np.ndarray
    tokens: torch.Tensor


@dataclass
class TokenData:
    """All sources of a split, and the index pairs that formed its original mixtures."""

    sources: list[Source]
    pairs: list[tuple[int, int]]


def encode_sources(codec, audios: list[np.ndarray], num_stages: int) -> list[torch.Tensor]:
    """Codec tokens [num_stages, F] of each wave, one forward pass each (no padding effects)."""
    out = []
    for audio in audios:
        out.append(codec.encode_tokens(audio, num_stages).to(torch.int16).cpu())
    return out


def load_token_data(root: Path, split: str, codec, codec_hash: str, num_stages: int, cache_dir: Path,
                    limit: int | None = None) -> TokenData:
    """Sources of ``root``'s ``split`` with their codec tokens, from the cache when it matches."""
    from bench.baselines.separators.data import speaker_of
    from bench.data.libri2mix import DatasetSpec, open_dataset

    dataset = open_dataset(DatasetSpec(root=Path(root), split=split, sample_rate=16000, limit=limit))
    if len(dataset) == 0:
        raise BenchError(f"{dataset.csv_path}: no mixtures")
    audios, speakers, pairs = [], [], []
    for mixture in dataset:
        loaded = dataset.load(mixture)
        assert loaded.sources is not None
        first = len(audios)
        for k, audio in enumerate(loaded.sources):
            audios.append(np.asarray(audio, dtype=np.float32))
            speakers.append(speaker_of(mixture.mixture_id, k))
        pairs.append((first, first + 1))
    key = hashlib.sha256(f"{codec_hash}|{dataset.selection_fingerprint}|{num_stages}".encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"tokens-{split}-{key}.pt"
    tokens = None
    if path.is_file():
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("codec_sha256") == codec_hash and len(blob["tokens"]) == len(audios):
            tokens = blob["tokens"]
            log.info("token cache hit: %s", path)
    if tokens is None:
        log.info("encoding %d sources with the codec (cache %s)", len(audios), path)
        tokens = encode_sources(codec, audios, num_stages)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}")
        torch.save({"codec_sha256": codec_hash, "fingerprint": dataset.selection_fingerprint, "tokens": tokens}, tmp)
        tmp.replace(path)
    sources = [Source(s, a, t.long()) for s, a, t in zip(speakers, audios, tokens)]
    return TokenData(sources, pairs)


class MixtureSampler:
    """BTDM examples: (mixture [B, 320 L], stage-1 targets [B, 2, L + 1]) by dynamic mixing."""

    def __init__(self, data: TokenData, segment_frames: int, samples_per_frame: int, seed: int,
                 gain_db: float = 3.0, original_fraction: float = 0.2) -> None:
        self.samples_per_frame = samples_per_frame
        self.frames = segment_frames
        self.gain_db = gain_db
        self.original_fraction = original_fraction
        self.sources = data.sources
        self.long = [i for i, s in enumerate(data.sources) if s.audio.shape[-1] >= segment_frames * samples_per_frame]
        self.pairs = [p for p in data.pairs if p[0] in set(self.long) and p[1] in set(self.long)]
        if len(self.long) < 2:
            raise BenchError(f"fewer than two training sources are {segment_frames} frames long; lower the segment")
        self.rng = np.random.default_rng(seed)

    def _offset(self, length: int) -> int:
        """A token-frame offset o so that the crop [o, o + L) frames lies inside the audio."""
        return int(self.rng.integers(length // self.samples_per_frame - self.frames + 1))

    def _crop(self, index: int, offset: int) -> tuple[np.ndarray, torch.Tensor]:
        source = self.sources[index]
        start = offset * self.samples_per_frame
        audio = source.audio[start:start + self.frames * self.samples_per_frame]
        return audio, source.tokens[0, offset:offset + self.frames + 1]

    def example(self) -> tuple[np.ndarray, torch.Tensor]:
        if self.pairs and self.rng.random() < self.original_fraction:
            a, b = self.pairs[int(self.rng.integers(len(self.pairs)))]
            length = min(self.sources[a].audio.shape[-1], self.sources[b].audio.shape[-1])
            oa = ob = self._offset(length)
        else:
            a = self.long[int(self.rng.integers(len(self.long)))]
            b = a
            for _ in range(20):
                b = self.long[int(self.rng.integers(len(self.long)))]
                if self.sources[b].speaker != self.sources[a].speaker:
                    break
            oa, ob = self._offset(self.sources[a].audio.shape[-1]), self._offset(self.sources[b].audio.shape[-1])
        wa, ta = self._crop(a, oa)
        wb, tb = self._crop(b, ob)
        gain = 10 ** (self.rng.uniform(-self.gain_db, self.gain_db) / 40)   # +-gain_db/2 on each source
        mixture = (wa * gain + wb / gain).astype(np.float32)
        return mixture, torch.stack([ta, tb])

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        items = [self.example() for _ in range(size)]
        return torch.from_numpy(np.stack([m for m, _ in items])), torch.stack([t for _, t in items])


class TokenSampler:
    """ATSP examples: token crops d_1..d_N [B, N, L] of single sources."""

    def __init__(self, data: TokenData, segment_frames: int, seed: int) -> None:
        self.tokens = [s.tokens for s in data.sources if s.tokens.shape[-1] >= segment_frames]
        if not self.tokens:
            raise BenchError(f"no training source has {segment_frames} token frames; lower the segment")
        self.frames = segment_frames
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> torch.Tensor:
        out = []
        for _ in range(size):
            t = self.tokens[int(self.rng.integers(len(self.tokens)))]
            o = int(self.rng.integers(t.shape[-1] - self.frames + 1))
            out.append(t[:, o:o + self.frames])
        return torch.stack(out)
