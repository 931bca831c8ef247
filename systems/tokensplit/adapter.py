"""TokenSplit and TokenSplitRefine as harness systems, with the transcript-conditioning option ``tr``.

Families (Table 1 of the TokenSplit paper): ``tokensplit`` (no transcripts),
``tokensplit-target``, ``tokensplit-nontarget``, ``tokensplit-both``,
``tokensplit-refine`` and ``tokensplit-refine-target``; ``tr`` in ``bench.toml``
(``none`` | ``target`` | ``nontarget`` | ``both``) overrides a family's default.

Transcript conditioning uses the ASR transcript of each reference source's block
(as the paper did), so those variants are oracles (``needs_references``).  With
``tr = target`` a pass per source puts that source's transcript in slot W1 and
keeps output A1; ``nontarget`` puts the *other* source's transcript in slot W2
and keeps A1; ``both`` fills both slots in one pass.  The model's own
transcripts (W1, W2) are stored with each separation (``info.transcripts``), in
the order of the estimates, for the ``tdwer`` metric.

Sampling is seeded per mixture (``seed`` option + mixture id), so reruns and
shards give identical outputs.  Nothing is transmitted: the bitrate is unbounded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from bench.errors import BenchError
from bench.records import LoadedMixture, Separation
from bench.system import System

TR_MODES = ("none", "target", "nontarget", "both")
WEIGHTS = {"tokensplit": "tokensplit.pt", "tokensplit-refine": "tokensplit-refine.pt"}


def _paths(kind: str, options: dict[str, Any]) -> tuple[Path, Path]:
    from bench.baselines.codecs.mdct_rvq.checkpoint import codec_for_weights
    from bench.systems.tokensplit.checkpoint import PACKAGE_CHECKPOINTS

    weights = Path(options.get("checkpoint") or PACKAGE_CHECKPOINTS / WEIGHTS[kind]).expanduser()
    # no codec named: the packaged one these weights were trained on
    codec = (Path(options["codec_checkpoint"]).expanduser() if options.get("codec_checkpoint")
             else codec_for_weights(weights))
    return weights, codec


def mixture_seed(seed: int, mixture_id: str) -> int:
    return int(hashlib.sha256(f"{seed}|{mixture_id}".encode()).hexdigest()[:12], 16)


class TokenSplitSystem(System):
    """TokenSplit: sampled acoustic tokens of both sources from the mixture's tokens (eq. 5)."""

    family: ClassVar[str] = "tokensplit"
    kind: ClassVar[str] = "tokensplit"
    default_tr: ClassVar[str] = "none"
    version: ClassVar[str] = "1"
    max_batch_size: ClassVar[int] = 1

    def __init__(self, name: str, kbps: float | None = None, device: str = "cpu", sample_rate: int = 16000,
                 tr: str | None = None, checkpoint: str | None = None, codec_checkpoint: str | None = None,
                 temperature: float = 1.0, top_k: int = 0, seed: int = 0, **options: Any) -> None:
        tr = tr or self.default_tr
        if tr not in TR_MODES:
            raise BenchError(f"system {name!r}: tr must be one of {', '.join(TR_MODES)}, not {tr!r}")
        if self.kind == "tokensplit-refine" and tr not in ("none", "target"):
            raise BenchError(f"system {name!r}: TokenSplitRefine refines one source at a time; tr is none or target")
        options.update(tr=tr, temperature=float(temperature), top_k=int(top_k), seed=int(seed))
        for key, value in (("checkpoint", checkpoint), ("codec_checkpoint", codec_checkpoint)):
            if value is not None:
                options[key] = str(value)
        super().__init__(name, kbps=kbps, device=device, sample_rate=16000, **options)
        self.tr = tr
        self.needs_references = tr != "none"          # transcripts come from ASR of the references
        self.weights_path, self.codec_path = _paths(self.kind, options)
        status = self.weights_status(**options)
        if status != "present":
            raise BenchError(f"system {name!r}: weights {status}")
        self._inference = None
        self._recognizer = None

    @classmethod
    def weights_status(cls, **options: Any) -> str:
        weights, codec = _paths(cls.kind, options)
        for what, path in (("codec checkpoint", codec), ("TokenSplit weights", weights)):
            if not path.is_file():
                return f"missing: {what} {path} (train with `bench train tokensplit`)"
        from bench.systems.tokensplit.checkpoint import check_codec, read_header

        try:
            blob = read_header(weights)
            if blob["kind"] != cls.kind:
                return f"missing: {weights} holds {blob['kind']} weights, not {cls.kind}"
            check_codec(blob, weights, codec)
        except BenchError as exc:
            return f"missing: {exc}"
        return "present"

    def checkpoint_files(self) -> Sequence[Path]:
        return [self.weights_path, self.codec_path]

    @property
    def inference(self):
        if self._inference is None:
            from bench.baselines.codecs.mdct_rvq.codec import MDCTRVQCodec
            from bench.systems.tokensplit.checkpoint import load_weights
            from bench.systems.tokensplit.inference import TokenSplitInference

            model, frames = load_weights(self.weights_path, self.kind, self.codec_path, self.device)
            codec = MDCTRVQCodec(self.codec_path, device=self.device)
            self._inference = TokenSplitInference(model, frames, codec, self.device, self.options["temperature"],
                                                  self.options["top_k"])
        return self._inference

    # -- transcripts of the references (transcript-conditioned modes) -------------------------------------
    def _transcript(self, item: LoadedMixture, source: int, start: int) -> str:
        """ASR of reference ``source`` over the block starting at ``start`` (greedy, as in training)."""
        if self._recognizer is None:
            from bench.metrics.asr import get_recognizer

            self._recognizer = get_recognizer(beam_size=1)
        assert item.sources is not None
        block = self.inference.plan.cut(item.sources[source], start)
        return self._recognizer.transcribe(block, 16000)

    def config(self) -> dict[str, Any]:
        extra = {}
        if self.tr != "none":
            from bench.metrics.asr import get_recognizer

            extra["transcripts_from"] = get_recognizer(beam_size=1).config
        return {**super().config(), **extra}

    def separate(self, batch: Sequence[LoadedMixture]) -> list[Separation]:
        return [self._one(item) for item in batch]

    def _generator(self, item: LoadedMixture):
        import torch

        return torch.Generator().manual_seed(mixture_seed(self.options["seed"], item.record.mixture_id))

    def _one(self, item: LoadedMixture) -> Separation:
        mixture = np.asarray(item.mixture, dtype=np.float32)
        w = lambda i: (lambda start: self._transcript(item, i, start))  # noqa: E731
        if self.tr == "none":
            conditions = [lambda start: (None, None)]
        elif self.tr == "both":
            conditions = [lambda start: (w(0)(start), w(1)(start))]
        elif self.tr == "target":
            conditions = [lambda start, i=i: (w(i)(start), None) for i in range(2)]
        else:   # nontarget: the other source's transcript in slot 2, keep output 1
            conditions = [lambda start, i=i: (None, w(1 - i)(start)) for i in range(2)]
        waves, texts = self.inference.separate(mixture, conditions, self._generator(item))
        if len(conditions) == 1:
            estimates = np.stack(waves[0])
            transcripts = list(texts[0])
        else:
            estimates = np.stack([waves[i][0] for i in range(2)])
            transcripts = [texts[i][0] for i in range(2)]
        return Separation(estimates=estimates, info={"tr": self.tr, "transcripts": transcripts})


class TokenSplitTargetSystem(TokenSplitSystem):
    family = "tokensplit-target"
    default_tr = "target"


class TokenSplitNonTargetSystem(TokenSplitSystem):
    family = "tokensplit-nontarget"
    default_tr = "nontarget"


class TokenSplitBothSystem(TokenSplitSystem):
    family = "tokensplit-both"
    default_tr = "both"


class TokenSplitRefineSystem(TokenSplitSystem):
    """TokenSplitRefine: each Sepformer estimate's tokens refined with the mixture's (Section 3.4)."""

    family = "tokensplit-refine"
    kind = "tokensplit-refine"

    def __init__(self, name: str, kbps: float | None = None, device: str = "cpu", sample_rate: int = 16000,
                 separator_dir: str | None = None, **options: Any) -> None:
        if separator_dir is not None:
            options["separator_dir"] = str(separator_dir)
        super().__init__(name, kbps=kbps, device=device, sample_rate=sample_rate, **options)
        from bench.baselines.separators.system import SeparatorStage

        self.separator = SeparatorStage(separator_dir, device, 16000, name)

    def checkpoint_files(self) -> Sequence[Path]:
        return [*super().checkpoint_files(), *self.separator.files()]

    def config(self) -> dict[str, Any]:
        return {**super().config(), "separator": self.separator.config}

    def _one(self, item: LoadedMixture) -> Separation:
        mixture = np.asarray(item.mixture, dtype=np.float32)
        estimates = np.asarray(self.separator.separate([mixture], 1)[0], dtype=np.float32)
        if self.tr == "target":
            # the separator's order is arbitrary: give each estimate the transcript of the reference it matches
            from bench.systems.tokensplit.data import match_estimates

            assert item.sources is not None
            estimates = match_estimates(estimates, np.asarray(item.sources, dtype=np.float32))
            transcripts = lambda i, start: self._transcript(item, i, start)  # noqa: E731
        else:
            transcripts = lambda i, start: None  # noqa: E731
        refined = self.inference.refine(mixture, estimates, transcripts, self._generator(item))
        return Separation(estimates=refined, info={"tr": self.tr})


class TokenSplitRefineTargetSystem(TokenSplitRefineSystem):
    family = "tokensplit-refine-target"
    default_tr = "target"
