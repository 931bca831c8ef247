"""Differential and plain word/character error rates through ASR.

DWER/DCER (Wang et al., "Sequence-to-sequence speech separation" / TokenSplit): the
ASR transcript of the reference source is the ground truth and the ASR transcript of
the (speaker-matched) estimate the hypothesis, so the metric measures what separation and
coding lost, not the recogniser's own errors.  WER/CER compare the estimate's ASR
with the dataset's transcript instead, when the data has one.

Both sides go through Whisper's English text normaliser (``whisper-normalizer``).
Rates are pooled at corpus level, as ASR toolkits report them: each item stores its
edit count and reference length (hidden fields ``errors`` and ``ref_len``) and the
report divides the sums; the per-item rate is stored too, for per-utterance plots.
Rates are in percent.  CER counts characters of the normalised text with single
spaces between words (as jiwer does).

Transcripts are cached in the store (table ``transcripts``) keyed by ASR config:
the reference is recognised once per configuration, and one recognition of an
estimate serves all four metrics.  A scoring task's missing texts are recognised in
one batch (``Recognizer.transcribe_many``) before the items are scored.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import ClassVar, Sequence

import numpy as np

from bench.metrics.asr import Recognizer, get_recognizer
from bench.metrics.base import Metric, MetricInput, TextCache

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _normalizer():
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    """Whisper's English normalisation (spelling, numbers, punctuation, case), whitespace collapsed."""
    return " ".join(_normalizer()(text).split())


def tokens(text: str, unit: str) -> list[str]:
    """Words, or characters (spaces between words included), of already normalised text."""
    return text.split() if unit == "word" else list(" ".join(text.split()))


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance: the fewest substitutions + deletions + insertions."""
    if not reference:
        return len(hypothesis)
    previous = np.arange(len(hypothesis) + 1)
    for i, ref_token in enumerate(reference, start=1):
        current = np.empty_like(previous)
        current[0] = i
        for j, hyp_token in enumerate(hypothesis, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_token != hyp_token))
        previous = current
    return int(previous[-1])


def error_counts(reference: str, hypothesis: str, unit: str) -> tuple[int, int]:
    """(edit operations, reference length) after normalising both texts."""
    ref = tokens(normalize(reference), unit)
    hyp = tokens(normalize(hypothesis), unit)
    return edit_distance(ref, hyp), len(ref)


def pooled_rate(errors: Sequence[float], lengths: Sequence[float]) -> float:
    """Corpus error rate in percent: summed edits over summed reference lengths."""
    total = float(np.nansum(lengths))
    return 100.0 * float(np.nansum(errors)) / total if total > 0 else float("nan")


def transcribe_cached(recognizer: Recognizer, cache: TextCache | None, owner: str, source_index: int,
                      audio: np.ndarray, sample_rate: int) -> str:
    """ASR text of ``audio``, through the task's cache when there is one."""
    if cache is not None:
        hit = cache.get(owner, source_index, recognizer.config)
        if hit is not None:
            return hit
    text = recognizer.transcribe(audio, sample_rate)
    if cache is not None:
        cache.put(owner, source_index, recognizer.config, text)
    return text


def transcribe_all(recognizer: Recognizer, audios: Sequence[np.ndarray], sample_rate: int) -> list[str]:
    """ASR texts of many utterances: in batches where the recogniser can, else one by one."""
    many = getattr(recognizer, "transcribe_many", None)
    if many is not None:
        return list(many(audios, sample_rate))
    return [recognizer.transcribe(a, sample_rate) for a in audios]


class _AsrErrorRate(Metric):
    """Shared machinery: ``ground_truth`` is ``"asr"`` (differential) or ``"dataset"``."""

    fields = ("", "errors", "ref_len")
    hidden_fields = ("errors", "ref_len")
    #: corpus rate = 100 Σ errors / Σ reference length, never a mean of per-utterance rates
    pooled = {"": ("errors", "ref_len", 100.0)}
    higher_is_better = False
    unit = "%"
    sample_rate = 16000
    unit_kind: ClassVar[str] = "word"
    ground_truth: ClassVar[str] = "asr"

    def __init__(self) -> None:
        self._recognizer: Recognizer | None = None
        self.device = "cpu"

    def use_device(self, device: str) -> None:
        self.device = device
        self._recognizer = None

    @property
    def recognizer(self) -> Recognizer:
        if self._recognizer is None:  # lazily, once per worker (and shared between the four metrics)
            self._recognizer = get_recognizer(device=self.device)
        return self._recognizer

    def unavailable_reason(self) -> str | None:
        try:
            self.recognizer
        except Exception as exc:  # noqa: BLE001 - any failure to set up ASR makes the metric unavailable
            return f"no speech recogniser: {exc}"
        return None

    def _ground_truth(self, item: MetricInput) -> str:
        if self.ground_truth == "dataset":
            if item.transcript is None:
                raise ValueError("the dataset has no transcript for this source")
            return item.transcript
        return transcribe_cached(self.recognizer, item.cache, TextCache.REFERENCE, item.source_index,
                                 item.reference, item.sample_rate)

    def _hypothesis_audio(self, item: MetricInput) -> tuple[str, np.ndarray] | None:
        """(cache owner, audio) whose ASR text is the hypothesis; ``None`` when it needs no ASR."""
        if np.array_equal(item.estimate, item.reference):
            # identical audio gives the identical (deterministic) transcript: reuse the reference's
            return TextCache.REFERENCE, item.reference
        return item.system_key or "estimate", item.estimate

    def _hypothesis(self, item: MetricInput) -> str:
        owner, audio = self._hypothesis_audio(item)
        return transcribe_cached(self.recognizer, item.cache, owner, item.source_index, audio, item.sample_rate)

    def compute_many(self, items: Sequence[MetricInput]) -> list[dict[str, float] | BaseException]:
        """Recognise every text the items need and their cache lacks in one batch, then score each."""
        try:
            self._transcribe_missing(items)
        except Exception as exc:  # noqa: BLE001 - scoring item by item then reports each failure on its own
            log.warning("%s: batched ASR failed (%s); recognising one by one", self.name, exc)
        return super().compute_many(items)

    def _transcribe_missing(self, items: Sequence[MetricInput]) -> None:
        config = self.recognizer.config
        wanted: dict[tuple[int, str, int], tuple[TextCache, np.ndarray, int]] = {}
        for item in items:
            if item.cache is None:
                continue
            sources = [self._hypothesis_audio(item)]
            if self.ground_truth == "asr":
                sources.append((TextCache.REFERENCE, item.reference))
            for owner, audio in filter(None, sources):
                key = (id(item.cache), owner, item.source_index)
                if key not in wanted and item.cache.get(owner, item.source_index, config) is None:
                    wanted[key] = (item.cache, audio, item.sample_rate)
        for rate in {rate for _, _, rate in wanted.values()}:
            keys = [k for k, v in wanted.items() if v[2] == rate]
            texts = transcribe_all(self.recognizer, [wanted[k][1] for k in keys], rate)
            for key, text in zip(keys, texts):
                _, owner, source_index = key
                wanted[key][0].put(owner, source_index, config, text)

    def compute(self, item: MetricInput) -> dict[str, float]:
        errors, length = error_counts(self._ground_truth(item), self._hypothesis(item), self.unit_kind)
        rate = 100.0 * errors / length if length else float("nan")
        return {"": rate, "errors": float(errors), "ref_len": float(length)}


class DWER(_AsrErrorRate):
    """Differential WER in percent: ASR(reference) vs ASR(estimate), pooled."""

    name: ClassVar[str] = "dwer"


class DCER(_AsrErrorRate):
    """Differential CER in percent: ASR(reference) vs ASR(estimate), pooled over characters."""

    name: ClassVar[str] = "dcer"
    unit_kind = "char"


class WER(_AsrErrorRate):
    """WER in percent against the dataset's transcripts."""

    name: ClassVar[str] = "wer"
    ground_truth = "dataset"


class CER(_AsrErrorRate):
    """CER in percent against the dataset's transcripts."""

    name: ClassVar[str] = "cer"
    unit_kind = "char"
    ground_truth = "dataset"


class TranscriptDWER(DWER):
    """DWER of the system's *own* transcripts (TokenSplit's W outputs) against ASR of the reference.

    TokenSplit reports 71.9 % for its predicted transcripts vs 26.6 % for ASR on its
    separated audio (Section 4.6): this metric is the first number, ``dwer`` the second.
    """

    name: ClassVar[str] = "tdwer"
    needs_system_transcript = True

    def _hypothesis_audio(self, item: MetricInput) -> None:
        return None  # the hypothesis is the system's own text

    def _hypothesis(self, item: MetricInput) -> str:
        if item.system_transcript is None:
            raise ValueError("the system produces no transcripts")
        return item.system_transcript
