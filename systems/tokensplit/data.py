"""Training examples for TokenSplit and TokenSplitRefine from a Libri2Mix-format tree.

Section 4.1 trains on 3 s blocks "obtained from the beginning" of each mixture, with
ASR transcripts of the clean sources (ground truth does not match a cut block).  We
take the first block of every training source, transcribe it once with the
project's ASR backend and encode it once with the codec (both cached on disk), and
build mixtures by dynamic mixing: an original pair or two sources of different
speakers, with a small random relative gain in the mixture; targets are the
sources' own tokens.  Which source comes first is random, so the output order is
learned from the transcripts when they are given and from the first sampled token
when not (no PIT, as in the paper).

TokenSplitRefine needs a conventional separator's estimates, which are too slow to
recompute every step on a CPU: a fixed pool of mixtures (the original pairs plus
seeded re-pairings) is separated once with Sepformer, the estimates matched to the
sources by SI-SNR, and their tokens cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.errors import BenchError

log = logging.getLogger(__name__)


@dataclass
class SourceBlocks:
    """The first block of every training source, with what the examples need."""

    audio: np.ndarray                 # [N, block] float32
    speakers: list[str]
    transcripts: list[str]
    tokens: torch.Tensor              # [N, Q, F] codec tokens (Q = max levels used)
    pairs: list[tuple[int, int]]      # original mixtures as source-index pairs


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    write(tmp)
    tmp.replace(path)


def load_source_blocks(root: Path, split: str, block_samples: int, codec, codec_hash: str, levels: int,
                       cache_dir: Path, limit: int | None = None) -> SourceBlocks:
    """First blocks of a split's sources with ASR transcripts and codec tokens, cached by content keys."""
    from bench.baselines.separators.data import speaker_of
    from bench.data.libri2mix import DatasetSpec, open_dataset
    from bench.metrics.asr import get_recognizer

    dataset = open_dataset(DatasetSpec(root=Path(root), split=split, sample_rate=16000, limit=limit))
    if len(dataset) == 0:
        raise BenchError(f"{dataset.csv_path}: no mixtures")
    blocks, speakers, pairs = [], [], []
    for mixture in dataset:
        loaded = dataset.load(mixture)
        assert loaded.sources is not None
        first = len(blocks)
        for k, audio in enumerate(loaded.sources):
            piece = np.zeros(block_samples, dtype=np.float32)
            chunk = np.asarray(audio[:block_samples], dtype=np.float32)
            piece[: chunk.shape[-1]] = chunk
            blocks.append(piece)
            speakers.append(speaker_of(mixture.mixture_id, k))
        pairs.append((first, first + 1))
    audio = np.stack(blocks)
    base = f"{dataset.selection_fingerprint}|{block_samples}"

    recognizer = get_recognizer(beam_size=1)   # greedy: 3 s of clean read speech, and ~3x faster than beam 5
    text_path = Path(cache_dir) / f"transcripts-{split}-{hashlib.sha256(f'{base}|{recognizer.config}'.encode()).hexdigest()[:20]}.json"
    transcripts = _cached_texts(text_path)
    if transcripts is None or len(transcripts) != len(audio):
        transcripts = _transcribe_resumably(recognizer, audio, text_path)

    token_path = Path(cache_dir) / f"tokens-{split}-{hashlib.sha256(f'{base}|{codec_hash}|{levels}'.encode()).hexdigest()[:20]}.pt"
    tokens = None
    if token_path.is_file():
        blob = torch.load(token_path, map_location="cpu", weights_only=True)
        if blob.get("codec_sha256") == codec_hash and blob["tokens"].shape[0] == len(audio):
            tokens = blob["tokens"].long()
    if tokens is None:
        tokens = torch.stack([codec.encode_tokens(a, levels).cpu() for a in audio])
        _atomic_write(token_path, lambda p: torch.save({"codec_sha256": codec_hash, "tokens": tokens.to(torch.int16)}, p))
    return SourceBlocks(audio, speakers, transcripts, tokens, pairs)


#: blocks recognised between two saves of the partial transcript list
TRANSCRIPT_SAVE_EVERY = 200


def _cached_texts(path: Path) -> list[str] | None:
    """A cached transcript list, or None when absent or not a list of strings (then it is redone)."""
    if not path.is_file():
        return None
    try:
        texts = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return texts if isinstance(texts, list) and all(isinstance(t, str) for t in texts) else None


def _transcribe_resumably(recognizer, audio: np.ndarray, text_path: Path) -> list[str]:
    """ASR of every block, saved every :data:`TRANSCRIPT_SAVE_EVERY` blocks to ``<cache>.partial``.

    Why: on one CPU thread the ASR of a 5-hour training set's blocks takes most of an hour,
    and a killed run would otherwise start it again from the first block.
    """
    from bench.progress import progress_bar

    partial = text_path.with_name(text_path.name + ".partial")
    done = _cached_texts(partial) or []
    done = done[: len(audio)]
    with progress_bar(len(audio), desc="ASR of training blocks", unit="block", initial=len(done)) as bar:
        for index in range(len(done), len(audio)):
            done.append(recognizer.transcribe(audio[index], 16000))
            bar.update(1)
            if len(done) % TRANSCRIPT_SAVE_EVERY == 0:
                _atomic_write(partial, lambda p: p.write_text(json.dumps(done)))
    _atomic_write(text_path, lambda p: p.write_text(json.dumps(done)))
    partial.unlink(missing_ok=True)
    return done


class PairSampler:
    """Index pairs (a, b) of different speakers, an original pair with probability ``original_fraction``."""

    def __init__(self, data: SourceBlocks, seed: int, original_fraction: float, gain_db: float) -> None:
        self.data, self.original_fraction, self.gain_db = data, original_fraction, gain_db
        self.rng = np.random.default_rng(seed)
        if len(data.speakers) < 2:
            raise BenchError("TokenSplit training needs at least two sources")

    def pair(self) -> tuple[int, int]:
        if self.data.pairs and self.rng.random() < self.original_fraction:
            a, b = self.data.pairs[int(self.rng.integers(len(self.data.pairs)))]
        else:
            n = len(self.data.speakers)
            a = b = int(self.rng.integers(n))
            for _ in range(20):
                b = int(self.rng.integers(n))
                if self.data.speakers[b] != self.data.speakers[a]:
                    break
        return (a, b) if self.rng.random() < 0.5 else (b, a)

    def mix(self, a: int, b: int) -> np.ndarray:
        gain = 10 ** (self.rng.uniform(-self.gain_db, self.gain_db) / 40)      # +-gain_db/2 on each source
        return (self.data.audio[a] * gain + self.data.audio[b] / gain).astype(np.float32)


def match_estimates(estimates: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Estimates [2, T] reordered so estimate k best matches source k (SI-SNR, both permutations)."""
    from bench.metrics.sisnr import si_snr

    keep = si_snr(estimates[0], sources[0]) + si_snr(estimates[1], sources[1])
    swap = si_snr(estimates[1], sources[0]) + si_snr(estimates[0], sources[1])
    return estimates if keep >= swap else estimates[::-1].copy()


@dataclass
class RefinePool:
    """Fixed mixtures for TokenSplitRefine: source pairs, mixture tokens and matched-estimate tokens."""

    pairs: list[tuple[int, int]]
    mixture_tokens: torch.Tensor      # [P, Q', F]
    estimate_tokens: torch.Tensor     # [P, 2, Q', F]


def build_refine_pool(data: SourceBlocks, sampler: PairSampler, size: int, separator, codec, codec_hash: str,
                      levels: int, cache_dir: Path, separator_hash: str) -> RefinePool:
    """Separate ``size`` fixed mixtures once (original pairs first) and cache their tokens."""
    key = hashlib.sha256(f"{codec_hash}|{separator_hash}|{size}|{levels}|{len(data.speakers)}|"
                         f"{data.audio.shape}".encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"refine-pool-{key}.pt"
    if path.is_file():
        blob = torch.load(path, map_location="cpu", weights_only=True)
        return RefinePool([tuple(p) for p in blob["pairs"].tolist()], blob["mixture"].long(), blob["estimate"].long())
    pairs = list(data.pairs[:size])
    while len(pairs) < size:
        pairs.append(sampler.pair())
    from tqdm import tqdm

    mixtures, estimates = [], []
    for a, b in tqdm(pairs, desc="separating the refine pool", unit="mix"):
        mixture = sampler.mix(a, b)
        est = separator([mixture])[0]
        est = match_estimates(np.asarray(est, dtype=np.float32), data.audio[[a, b]])
        mixtures.append(codec.encode_tokens(mixture, levels).cpu())
        estimates.append(torch.stack([codec.encode_tokens(e, levels).cpu() for e in est]))
    pool = RefinePool(pairs, torch.stack(mixtures), torch.stack(estimates))
    _atomic_write(path, lambda p: torch.save({"pairs": torch.tensor(pairs), "mixture": pool.mixture_tokens.to(torch.int16),
                                             "estimate": pool.estimate_tokens.to(torch.int16)}, p))
    return pool
