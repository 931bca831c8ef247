"""What ``bench train codesep`` trains (one module per run: BTDM or ATSP), run by the shared loop.

Both modules are trained independently against the frozen codec's tokens (Section 3):
the BTDM on dynamically mixed mixtures with PI-CE (eq. 3), the ATSP on single-speaker
token crops with TF-CE (eq. 6) or, for the ablation, on its own serial predictions.
AdamW, linear warm-up then cosine decay; every ``eval_every`` steps the dev split is
scored (base-token top-1 accuracy under the best permutation / auxiliary-token
accuracy), the resumable state is saved under ``--work`` and the best weights so far
are exported to ``--out`` with a JSON twin recording the command and the scores
(:mod:`bench.training.loop`, :mod:`bench.training.token_models`).
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

from bench.systems.codesep.config import PRESETS, Schedule
from bench.systems.codesep.losses import permuted_targets, pi_ce, tf_ce, token_accuracy
from bench.training.token_models import TokenModelTrainee, train_token_model

log = logging.getLogger("bench.codesep.train")


@dataclass
class TrainOptions:
    stage: str
    data: Path
    out: Path
    work: Path
    config: str = "tiny"
    split: str = "train"
    dev: Path | None = None
    dev_split: str = "dev"
    codec_checkpoint: Path | None = None
    no_acbg: bool = False
    no_teacher_forcing: bool = False
    steps: int | None = None
    minutes: float | None = None
    batch_size: int | None = None
    segment_frames: int | None = None
    lr: float | None = None
    eval_every: int | None = None
    seed: int = 0
    threads: int = 1
    device: str = "cpu"
    dev_limit: int = 32
    cache: Path | None = None
    command: str = ""

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "TrainOptions":
        out = Path(args.out)
        return cls(stage=args.stage, data=Path(args.data), out=out,
                   work=Path(args.work) if args.work else out.with_name(out.name + ".work"),
                   config=args.config, split=args.split, dev=Path(args.dev) if args.dev else None,
                   dev_split=args.dev_split,
                   codec_checkpoint=Path(args.codec_checkpoint) if args.codec_checkpoint else None,
                   no_acbg=args.no_acbg, no_teacher_forcing=args.no_teacher_forcing, steps=args.steps,
                   minutes=args.minutes, batch_size=args.batch_size, segment_frames=args.segment_frames,
                   lr=args.lr, eval_every=args.eval_every, seed=args.seed, threads=args.threads,
                   device=args.device, cache=Path(args.cache) if getattr(args, "cache", None) else None,
                   command=shlex.join(["bench", *sys.argv[1:]]))


def schedule_for(opts: TrainOptions) -> Schedule:
    preset = PRESETS[opts.config]
    base = preset.btdm_schedule if opts.stage == "btdm" else preset.atsp_schedule
    overrides = {k: v for k, v in (("batch_size", opts.batch_size), ("segment_frames", opts.segment_frames),
                                   ("learning_rate", opts.lr), ("eval_every", opts.eval_every),
                                   ("max_steps", opts.steps)) if v is not None}
    return replace(base, **overrides)


class Stage(TokenModelTrainee):
    """What differs between the BTDM and the ATSP: the network, the batches, the loss, the dev score."""

    def __init__(self, opts: TrainOptions, codec, codec_hash: str, schedule: Schedule) -> None:
        from bench.systems.codesep.data import MixtureSampler, TokenSampler, load_token_data
        from bench.systems.codesep.model import ATSP, BTDM
        from bench.systems.codesep.inference import check_framing, codec_codebooks

        super().__init__(schedule, opts.work, log)
        self.opts, self.codec, self.codec_hash = opts, codec, codec_hash
        self.device = torch.device(opts.device)
        preset = PRESETS[opts.config]
        num_stages = preset.atsp.num_stages
        cache = opts.cache or opts.work / "tokens"
        train = load_token_data(opts.data, opts.split, codec, codec_hash, num_stages, cache)
        self.dev = (load_token_data(opts.dev, opts.dev_split, codec, codec_hash, num_stages, cache,
                                    limit=opts.dev_limit) if opts.dev else None)
        if opts.stage == "btdm":
            self.model = BTDM(replace(preset.btdm, acbg=not opts.no_acbg)).to(self.device)
            check_framing(self.model, codec)
            self.sampler = MixtureSampler(train, schedule.segment_frames, codec.model.cfg.samples_per_frame,
                                          opts.seed, schedule.gain_db, schedule.original_fraction)
        else:
            # ATSP embeds tokens with the codec's own codebooks W_n [M, K]: M and K follow the codec
            codec_cfg = codec.model.cfg
            atsp_cfg = replace(preset.atsp, codebook_size=codec_cfg.codebook_size, codebook_dim=codec_cfg.codebook_dim)
            self.model = ATSP(atsp_cfg).to(self.device)
            self.model.set_codebooks(codec_codebooks(codec, num_stages).to(self.device))
            self.sampler = TokenSampler(train, schedule.segment_frames, opts.seed)
        self.optimiser = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad],
                                           lr=schedule.learning_rate, weight_decay=schedule.weight_decay)
        log.info("%s: %d parameters, %d training sources", opts.stage,
                 sum(p.numel() for p in self.model.parameters()), len(train.sources))

    # -- one optimisation step --------------------------------------------------------------------
    def loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        b = self.schedule.batch_size
        if self.opts.stage == "btdm":
            mixture, targets = self.sampler.batch(b)
            mixture, targets = mixture.to(self.device), targets.to(self.device)
            logits = self.model.logits_from_wave(mixture, targets.shape[-1])
            loss, perms = pi_ce(logits, targets)                                         # eq. (3)
            acc = token_accuracy(logits.argmax(-1), permuted_targets(targets, perms)).mean()
            return loss, {"loss": float(loss.detach()), "acc": float(acc)}
        tokens = self.sampler.batch(b).to(self.device)
        if self.opts.no_teacher_forcing:
            logits, _ = self.model.forward_free(tokens[:, 0])
        else:
            logits = self.model.forward_teacher(tokens)
        loss = tf_ce(logits, tokens[:, 1:])                                               # eq. (6)
        acc = token_accuracy(logits.argmax(-1), tokens[:, 1:]).mean(dim=0)                  # [N-1]
        return loss, {"loss": float(loss.detach()), "acc": float(acc.mean()),
                      **{f"acc{n + 2}": float(a) for n, a in enumerate(acc)}}

    def rng_state(self) -> dict:
        return self.sampler.rng.bit_generator.state

    def set_rng_state(self, value: dict) -> None:
        self.sampler.rng.bit_generator.state = value

    # -- validation ---------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        if self.dev is None:
            return {}
        self.model.eval()
        try:
            return self._eval_btdm() if self.opts.stage == "btdm" else self._eval_atsp()
        finally:
            self.model.train()

    def export_weights(self, record: dict[str, Any]) -> None:
        from bench.systems.codesep.checkpoint import export_weights

        opts = self.opts
        info = {"command": opts.command, "stage": opts.stage, "preset": opts.config,
                "teacher_forcing": not opts.no_teacher_forcing, "acbg": not opts.no_acbg,
                "codec_checkpoint": str(self.codec.checkpoint), "data": str(opts.data), "dev": str(opts.dev),
                "schedule": self.schedule.__dict__, "best": record}
        export_weights(self.model, opts.stage, opts.out, self.codec_hash, info)

    def _eval_btdm(self) -> dict[str, float]:
        """Top-1 base-token accuracy and PI-CE on the dev mixtures (whole utterances)."""
        accs, losses = [], []
        for a, b in self.dev.pairs:
            sa, sb = self.dev.sources[a], self.dev.sources[b]
            mixture = torch.as_tensor(sa.audio + sb.audio, device=self.device)[None]
            targets = torch.stack([sa.tokens[0], sb.tokens[0]])[None].to(self.device)
            logits = self.model.logits_from_wave(mixture, targets.shape[-1])
            loss, perms = pi_ce(logits, targets)
            accs.append(float(token_accuracy(logits.argmax(-1), permuted_targets(targets, perms)).mean()))
            losses.append(float(loss))
        return {"dev_loss": float(np.mean(losses)), "dev_acc": float(np.mean(accs))}

    def _eval_atsp(self) -> dict[str, float]:
        """Per-stage accuracy, teacher-forced and free-running (as used at inference)."""
        tf, free, losses = [], [], []
        for source in self.dev.sources:
            tokens = source.tokens[None].to(self.device)
            logits = self.model.forward_teacher(tokens)
            losses.append(float(tf_ce(logits, tokens[:, 1:])))
            tf.append(token_accuracy(logits.argmax(-1), tokens[:, 1:])[0].cpu().numpy())
            _, predicted = self.model.forward_free(tokens[:, 0])
            free.append(token_accuracy(predicted, tokens[:, 1:])[0].cpu().numpy())
        tf_m, free_m = np.mean(tf, axis=0), np.mean(free, axis=0)
        out = {"dev_loss": float(np.mean(losses)), "dev_acc": float(free_m.mean()), "dev_tf_acc": float(tf_m.mean())}
        out.update({f"dev_acc{n + 2}": float(v) for n, v in enumerate(free_m)})
        return out


def train(opts: TrainOptions) -> dict[str, Any]:
    """Run (or resume) one training stage; returns the last checkpoint's log record."""
    return train_token_model(opts, lambda codec, digest: Stage(opts, codec, digest, schedule_for(opts)), log)
