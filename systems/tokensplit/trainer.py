"""What ``bench train tokensplit`` trains (TokenSplit or, with ``--refine``, TokenSplitRefine), run by the shared loop.

Teacher-forced cross-entropy over every output token (Section 4.1), inputs masked
at random (:mod:`masking`), AdamW with warm-up and cosine decay (the paper used
Adafactor with inverse-square-root decay on TPUs; AdamW is the robust choice for a
short CPU run).  Every ``eval_every`` steps the dev split's first blocks are
scored (teacher-forced top-1 accuracy on the acoustic output tokens, transcripts
masked), the resumable state is written under ``--work`` and the best weights so
far are exported to ``--out`` with a JSON twin recording the command and scores.
The loop is :func:`bench.training.token_models.train_token_model`.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.systems.tokensplit.config import PRESETS, TrainSchedule
from bench.training.token_models import TokenModelTrainee, train_token_model

log = logging.getLogger("bench.tokensplit.train")


@dataclass
class TrainOptions:
    data: Path
    out: Path
    work: Path
    config: str = "tiny"
    refine: bool = False
    split: str = "train"
    dev: Path | None = None
    dev_split: str = "dev"
    codec_checkpoint: Path | None = None
    separator_dir: Path | None = None
    semantic: Path | None = None
    trust_torchscript: bool = False
    pool_size: int | None = None
    limit: int | None = None
    steps: int | None = None
    minutes: float | None = None
    batch_size: int | None = None
    lr: float | None = None
    eval_every: int | None = None
    seed: int = 0
    threads: int = 1
    device: str = "cpu"
    dev_limit: int = 16
    cache: Path | None = None
    command: str = ""

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "TrainOptions":
        out = Path(args.out)
        opt = lambda name: Path(getattr(args, name)) if getattr(args, name, None) else None  # noqa: E731
        return cls(data=Path(args.data), out=out, work=Path(args.work) if args.work else out.with_name(out.name + ".work"),
                   config=args.config, refine=args.refine, split=args.split, dev=opt("dev"), dev_split=args.dev_split,
                   codec_checkpoint=opt("codec_checkpoint"), separator_dir=opt("separator_dir"),
                   semantic=opt("semantic"), trust_torchscript=bool(getattr(args, "trust_torchscript", False)),
                   pool_size=args.pool_size, limit=args.limit, steps=args.steps,
                   minutes=args.minutes, batch_size=args.batch_size, lr=args.lr, eval_every=args.eval_every,
                   seed=args.seed, threads=args.threads, device=args.device, cache=opt("cache"),
                   command=shlex.join(["bench", *sys.argv[1:]]))


class Examples:
    """Batches of (masked input, target) sequences for one model kind."""

    def __init__(self, opts: TrainOptions, codec, codec_hash: str, schedule: TrainSchedule) -> None:
        from bench.systems.tokensplit.data import PairSampler, build_refine_pool, load_source_blocks
        from bench.systems.tokensplit.sequences import SequenceBuilder

        cfg = replace(PRESETS[opts.config][0], refine=opts.refine)
        self.semantic = None
        if opts.semantic is not None:
            if opts.refine:
                raise SystemExit("TokenSplitRefine uses no semantic tokens (Section 3.4): drop --semantic")
            from bench.systems.tokensplit.semantic import SemanticTokenizer

            self.semantic = SemanticTokenizer.load(opts.semantic, trust_torchscript=opts.trust_torchscript)
        self.codec, self.device = codec, torch.device(opts.device)
        self.block_samples = int(round(cfg.block_seconds * cfg.sample_rate))
        frames = codec.num_frames(self.block_samples, 1)
        if self.semantic is not None:
            probe = self.semantic(torch.zeros(1, self.block_samples))
            cfg = replace(cfg, semantic_vocab=self.semantic.num_clusters, semantic_frames=int(probe.shape[-1]))
        self.cfg, self.frames = cfg, frames
        self.builder = SequenceBuilder(cfg, frames)
        levels = max(cfg.input_levels, cfg.output_levels)
        cache = opts.cache or opts.work / "cache"       # content-keyed: TokenSplit and Refine may share one
        self.data = load_source_blocks(opts.data, opts.split, self.block_samples, codec, codec_hash, levels, cache,
                                       limit=opts.limit)
        self.pairs = PairSampler(self.data, opts.seed, schedule.original_fraction, schedule.gain_db)
        self.rng = self.pairs.rng
        self.generator = torch.Generator().manual_seed(opts.seed)
        self.source_semantic = None
        if self.semantic is not None:
            self.source_semantic = torch.cat([self.semantic(torch.from_numpy(self.data.audio[i:i + 16]))
                                              for i in range(0, len(self.data.audio), 16)])
        self.pool = None
        if opts.refine:
            from bench.baselines.separators.system import SeparatorStage
            from bench.system import file_sha256

            stage = SeparatorStage(opts.separator_dir, opts.device, 16000, "tokensplit-refine training")
            digest = "|".join(file_sha256(p) for p in stage.files())
            self.pool = build_refine_pool(self.data, self.pairs, opts.pool_size or 1500,
                                          lambda mixtures: stage.separate(mixtures, 1), codec, codec_hash,
                                          cfg.input_levels, cache, digest)
        self.dev = None
        if opts.dev is not None:
            self.dev = load_source_blocks(opts.dev, opts.dev_split, self.block_samples, codec, codec_hash, levels,
                                          cache, limit=opts.dev_limit)

    # -- TokenSplit ---------------------------------------------------------------------------------------
    def _tokensplit(self, pairs: list[tuple[int, int]], data, mixtures: np.ndarray
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        mix_codes = self.codec.encode_tokens(mixtures, self.cfg.input_levels).cpu()         # [B, Q', F]
        s_mix = (self.semantic(torch.from_numpy(mixtures)) if self.semantic is not None else [None] * len(pairs))
        inputs, targets = [], []
        for k, (a, b) in enumerate(pairs):
            wa, wb = data.transcripts[a], data.transcripts[b]
            s1 = s2 = None
            if self.source_semantic is not None and data is self.data:
                s1, s2 = self.source_semantic[a], self.source_semantic[b]
            inputs.append(self.builder.tokensplit_input(wa, wb, mix_codes[k], s_mix[k]))
            targets.append(self.builder.tokensplit_target(data.tokens[a], data.tokens[b], wa, wb, s1, s2))
        return torch.stack(inputs), torch.stack(targets)

    # -- TokenSplitRefine ---------------------------------------------------------------------------------
    def _refine(self, items: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = [], []
        for p, k in items:
            source = self.pool.pairs[p][k]
            inputs.append(self.builder.refine_input(self.data.transcripts[source], self.pool.mixture_tokens[p],
                                                    self.pool.estimate_tokens[p, k]))
            targets.append(self.builder.refine_target(self.data.tokens[source]))
        return torch.stack(inputs), torch.stack(targets)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        from bench.systems.tokensplit.masking import mask_inputs

        if self.pool is not None:
            items = [(int(self.rng.integers(len(self.pool.pairs))), int(self.rng.integers(2))) for _ in range(size)]
            inputs, targets = self._refine(items)
        else:
            pairs = [self.pairs.pair() for _ in range(size)]
            mixtures = np.stack([self.pairs.mix(a, b) for a, b in pairs])
            inputs, targets = self._tokensplit(pairs, self.data, mixtures)
        inputs, _ = mask_inputs(inputs, self.builder.input_layout, self.cfg.masking, self.generator)
        return inputs.to(self.device), targets.to(self.device)

    def dev_batch(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Original dev pairs (first blocks), transcripts masked: the separation + recognition mode."""
        if self.dev is None:
            return None
        if self.pool is not None:
            return None   # the refine dev score needs separator runs; the training accuracy is logged instead
        pairs = self.dev.pairs
        mixtures = np.stack([self.dev.audio[a] + self.dev.audio[b] for a, b in pairs]).astype(np.float32)
        inputs, targets = self._tokensplit(pairs, self.dev, mixtures)
        layout = self.builder.input_layout
        for name in ("W1", "W2"):
            inputs[:, layout.slices[name]] = 0
        return inputs.to(self.device), targets.to(self.device)


def acoustic_accuracy(logits: torch.Tensor, targets: torch.Tensor, builder) -> float:
    """Top-1 accuracy over the acoustic positions of the output layout."""
    layout = builder.output_layout
    positions = torch.cat([torch.arange(layout.slices[s.name].start, layout.slices[s.name].stop)
                           for s in layout.streams if s.kind == "acoustic"])
    hits = logits[:, positions].argmax(-1) == targets[:, positions]
    return float(hits.float().mean())


class TokenSplitTrainee(TokenModelTrainee):
    """The TokenSplit (or TokenSplitRefine) network over :class:`Examples`: teacher-forced CE on every output token."""

    def __init__(self, opts: TrainOptions, codec, codec_hash: str, schedule: TrainSchedule) -> None:
        from bench.systems.tokensplit.model import TokenSplitModel

        super().__init__(schedule, opts.work, log)
        self.opts, self.codec, self.codec_hash = opts, codec, codec_hash
        self.examples = examples = Examples(opts, codec, codec_hash, schedule)
        builder = self.builder = examples.builder
        self.model = TokenSplitModel(examples.cfg, builder.vocab.size, builder.input_layout.length,
                                     builder.output_layout.length).to(opts.device)
        log.info("%s: %d parameters, %d training sources, sequences %d -> %d tokens",
                 "refine" if opts.refine else "tokensplit", sum(p.numel() for p in self.model.parameters()),
                 len(examples.data.audio), builder.input_layout.length, builder.output_layout.length)
        self.optimiser = torch.optim.AdamW(self.model.parameters(), lr=schedule.learning_rate,
                                           weight_decay=schedule.weight_decay)
        self.dev = examples.dev_batch()

    def loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, targets = self.examples.batch(self.schedule.batch_size)
        logits = self.model(inputs, targets)
        loss = F.cross_entropy(logits.transpose(1, 2), targets)      # teacher-forced CE over all output tokens
        return loss, {"loss": float(loss.detach()), "acc": acoustic_accuracy(logits.detach(), targets, self.builder)}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        if self.dev is None:
            return {}
        inputs, targets = self.dev
        self.model.eval()
        logits = torch.cat([self.model(inputs[i:i + 8], targets[i:i + 8]) for i in range(0, len(inputs), 8)])
        self.model.train()
        loss = F.cross_entropy(logits.transpose(1, 2), targets)
        return {"dev_loss": float(loss), "dev_acc": acoustic_accuracy(logits, targets, self.builder)}

    def rng_state(self) -> dict:
        return {"numpy": self.examples.rng.bit_generator.state, "torch": self.examples.generator.get_state()}

    def set_rng_state(self, value: dict) -> None:
        self.examples.rng.bit_generator.state = value["numpy"]
        self.examples.generator.set_state(value["torch"])

    def export_weights(self, record: dict[str, Any]) -> None:
        from bench.systems.tokensplit.checkpoint import export_weights

        opts = self.opts
        info = {"command": opts.command, "preset": opts.config, "refine": opts.refine,
                "codec_checkpoint": str(self.codec.checkpoint), "data": str(opts.data), "dev": str(opts.dev),
                "schedule": self.schedule.__dict__, "best": record}
        export_weights(self.model, self.examples.frames, opts.out, self.codec_hash, info)


def train(opts: TrainOptions) -> dict[str, Any]:
    """Run (or resume) one TokenSplit training; returns the last checkpoint's log record."""
    schedule = PRESETS[opts.config][1]
    schedule = replace(schedule, **{k: v for k, v in (("batch_size", opts.batch_size), ("learning_rate", opts.lr),
                                                       ("eval_every", opts.eval_every), ("max_steps", opts.steps))
                                    if v is not None})
    return train_token_model(opts, lambda codec, digest: TokenSplitTrainee(opts, codec, digest, schedule), log)
