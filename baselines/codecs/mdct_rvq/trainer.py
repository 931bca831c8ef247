"""What ``bench train codec`` trains, run by the shared loop (:mod:`bench.training.loop`; imported lazily by recipe.py).

Loss (generator):  15 L_mel + L_spec + 5 L_MDCT + w_snr L_SNR + 0.25 L_commit  [+ L_adv + 2 L_feat in ``paper``]
(w_snr = 5 in ``small``; L_SNR is the waveform SNR in dB, i.e. the signed-coefficient error;
with ``--waveform-full-stages K`` both waveform terms, L_MDCT and L_SNR, weigh item b by
min(1, (N'_b - Z) / (K - Z)) with Z = ``--waveform-zero-stages`` (default 1), see losses.waveform_weights)
with quantiser dropout drawing N'_b per item, EMA codebooks updated inside the
forward pass, AdamW with linear warm-up and cosine decay.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import sys
from pathlib import Path
from typing import TextIO

import torch

from bench.baselines.codecs.mdct_rvq.checkpoint import export_weights
from bench.baselines.codecs.mdct_rvq.config import CONFIGS, TrainConfig
from bench.baselines.codecs.mdct_rvq.data import SegmentSampler, find_training_files
from bench.baselines.codecs.mdct_rvq.losses import (MultiResolutionSpectralLoss, mdct_loss, snr_loss,
                                                    waveform_weights)
from bench.baselines.codecs.mdct_rvq.model import MDCTRVQModel
from bench.errors import BenchError
from bench.training import console_logger
from bench.training.loop import LoopSettings, RunningMeans, StepReport, Trainee, TrainingState, train_loop

LOG_FIELDS = ["step", "elapsed_s", "loss", "mel", "spec", "mdct", "snr", "commit", "adv", "feat", "disc", "lr",
              "val_mel_1", "val_mel_4", "val_mel_16", "val_snr_1", "val_snr_4", "val_snr_16"]


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to 10 % of the peak at ``max_steps``."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    cfg = CONFIGS[args.config]
    changes = {}
    if args.steps is not None:
        changes["max_steps"] = args.steps
    if args.batch_size is not None:
        changes["batch_size"] = args.batch_size
    if getattr(args, "snr_weight", None) is not None:
        changes["snr_weight"] = args.snr_weight
    if getattr(args, "waveform_full_stages", None) is not None:
        changes["waveform_full_stages"] = args.waveform_full_stages
    if getattr(args, "waveform_zero_stages", None) is not None:
        changes["waveform_zero_stages"] = args.waveform_zero_stages
    if getattr(args, "adversarial", False):
        changes.update(adversarial=True, adv_start_step=0)
    if getattr(args, "critic_width", None) is not None:
        if args.critic_width < 1:
            raise BenchError(f"--critic-width must be a positive number of channels, got {args.critic_width}")
        changes["critic_width"] = args.critic_width
    if getattr(args, "stage_conditioning", False):
        changes["model"] = dataclasses.replace(cfg.model, stage_conditioning=True)
    if getattr(args, "decoder_only", False):
        changes["decoder_only"] = True
    return dataclasses.replace(cfg, **changes) if changes else cfg


@torch.no_grad()
def validation_mel(model: MDCTRVQModel, spectral: MultiResolutionSpectralLoss, batch: torch.Tensor
                   ) -> dict[str, float]:
    """Mel L1 and SNR (dB) of held-out crops decoded with 1, 4 and 16 stages (should improve with stages)."""
    model.eval()
    out = {}
    for stages in (1, 4, model.cfg.num_stages):
        tokens = model.encode_tokens(batch, stages)
        decoded = model.decode_tokens(tokens, batch.shape[-1])
        mel, _ = spectral(decoded, batch)
        label = stages if stages in (1, 4) else 16
        out[f"val_mel_{label}"] = float(mel)
        out[f"val_snr_{label}"] = -float(snr_loss(decoded, batch))
    model.train()
    return out


def init_from_export(model: MDCTRVQModel, path: Path, cfg: TrainConfig, device: torch.device
                     ) -> tuple[int, float, list[dict]]:
    """Load a shipped (weights-only) checkpoint to continue training it: (step, seconds, history).

    Why: a run folder's ``last.pt`` (with the optimiser) lives on the machine that trained it;
    what a later session or another lab has is the exported checkpoint and its JSON, which
    records the steps, time and commands so far.  The optimiser restarts (AdamW's moments
    re-estimate within the warm-up), and the history keeps every command in the lineage.
    """
    import json

    from bench.baselines.codecs.mdct_rvq.checkpoint import load_model

    loaded = load_model(path, str(device))
    if dataclasses.replace(loaded.cfg, stage_conditioning=cfg.model.stage_conditioning) != cfg.model:
        raise BenchError(f"{path}: its model config differs from the preset's; pick the matching --config")
    if cfg.model.stage_conditioning and not loaded.cfg.stage_conditioning:
        # a rate-blind export grows a (zero) stage embedding: the same function to start from
        missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
        if unexpected or set(missing) != {"decoder.stage_embedding.weight"}:
            raise BenchError(f"{path}: weights do not fit the preset ({sorted(missing + unexpected)[:3]})")
    else:
        model.load_state_dict(loaded.state_dict())
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    return int(meta.get("steps", 0)), float(meta.get("train_seconds", 0.0)), list(meta.get("history", []))


class CodecTrainee(Trainee):
    """The codec (and, in ``paper``, its critics) on random crops of single-speaker audio."""

    def __init__(self, cfg: TrainConfig, model: MDCTRVQModel, sampler: SegmentSampler, generator: torch.Generator,
                 val_batch: torch.Tensor | None, device: torch.device, log_file: TextIO) -> None:
        self.cfg, self.model, self.sampler, self.generator, self.val_batch = cfg, model, sampler, generator, val_batch
        self.device = device
        self.spectral = MultiResolutionSpectralLoss(cfg.model.sample_rate).to(device)
        trained = model.parameters()
        if cfg.decoder_only:
            for part in (model.encoder, model.quantizer):
                part.requires_grad_(False)
            trained = model.decoder.parameters()
        self.optimiser = torch.optim.AdamW(trained, lr=cfg.learning_rate, betas=(0.8, 0.99),
                                           weight_decay=cfg.weight_decay)
        self.critics = self.critic_optimiser = None
        if cfg.adversarial:
            from bench.baselines.codecs.mdct_rvq.discriminators import Discriminators

            self.critics = Discriminators(width=cfg.critic_width).to(device).train()
            self.critic_optimiser = torch.optim.AdamW(self.critics.parameters(), lr=cfg.learning_rate,
                                                      betas=(0.8, 0.99))
        self.log_file, self.writer = log_file, csv.DictWriter(log_file, LOG_FIELDS)
        self.terms, self.last_row = RunningMeans(), {}

    def networks(self) -> dict[str, tuple[torch.nn.Module, torch.optim.Optimizer]]:
        nets = {"model": (self.model, self.optimiser)}
        if self.critics is not None:
            nets["critics"] = (self.critics, self.critic_optimiser)
        return nets

    def learning_rate(self, step: int, time_fraction: float) -> float:
        return learning_rate(self.cfg, step)

    def loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, device = self.cfg, self.device
        wave = self.sampler.batch(cfg.batch_size, self.generator).to(device)
        stages = self.model.quantizer.sample_stages(cfg.batch_size, device, self.generator)
        if cfg.decoder_only:
            # eval mode: the EMA codebooks neither update nor restart dead codes, so tokens stay fixed
            self.model.encoder.eval()
            self.model.quantizer.eval()
        wave_hat, predicted, target, commit = self.model(wave, stages)
        mel, spec = self.spectral(wave_hat, wave)
        weights = None if cfg.waveform_full_stages <= 1 else waveform_weights(stages, cfg.waveform_full_stages,
                                                                              cfg.waveform_zero_stages)
        l_mdct = mdct_loss(predicted, target, weights)
        l_snr = snr_loss(wave_hat, wave, weights=weights)
        loss = (cfg.mel_weight * mel + cfg.spec_weight * spec + cfg.mdct_weight * l_mdct
                + cfg.snr_weight * l_snr + cfg.commit_weight * commit)
        terms = {"mel": mel.item(), "spec": spec.item(), "mdct": l_mdct.item(), "snr": l_snr.item(),
                 "commit": commit.item()}
        if self.critics is not None and step >= cfg.adv_start_step:
            from bench.baselines.codecs.mdct_rvq.discriminators import discriminator_loss, generator_losses

            for group in self.critic_optimiser.param_groups:
                group["lr"] = learning_rate(cfg, step)
            d_loss = discriminator_loss(self.critics(wave), self.critics(wave_hat.detach()))
            self.critic_optimiser.zero_grad(set_to_none=True)
            d_loss.backward()
            self.critic_optimiser.step()
            adv, feat = generator_losses(self.critics(wave), self.critics(wave_hat))
            loss = loss + cfg.adv_weight * adv + cfg.feature_weight * feat
            terms.update(adv=adv.item(), feat=feat.item(), disc=d_loss.item())
        terms["loss"] = loss.item()
        return loss, terms

    def rng_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_rng_state(self, value: torch.Tensor) -> None:
        self.generator.set_state(value)

    def evaluate(self) -> dict[str, float]:
        return validation_mel(self.model, self.spectral, self.val_batch) if self.val_batch is not None else {}

    def log(self, report: StepReport) -> None:
        """``log.csv``: a row of the terms averaged over ``log_every`` steps (with the validation at checkpoints)."""
        self.terms.add(report.stats)
        if report.step % self.cfg.log_every:
            return
        row: dict[str, object] = {k: round(v, 5) for k, v in self.terms.means().items()}
        row.update(step=report.step, elapsed_s=round(report.seconds, 1), lr=f"{report.lr:.3g}")
        row.update({k: round(v, 5) for k, v in (report.scores or {}).items()})
        self.writer.writerow(row)
        self.log_file.flush()
        print(" ".join(f"{k}={v}" for k, v in row.items()), file=sys.stderr, flush=True)
        self.last_row = row
        self.terms.reset()

    def extra_state(self) -> dict:
        return {"config": self.cfg.to_dict()}


def train(args: argparse.Namespace) -> int:
    torch.set_num_threads(max(1, args.threads))
    cfg = resolve_config(args)
    if cfg.decoder_only and not getattr(args, "init", None):
        raise BenchError("--decoder-only fine-tunes a trained codec: name it with --init PATH")
    device = torch.device(args.device)
    out = Path(args.out or f"runs/codec-{args.config}")
    out.mkdir(parents=True, exist_ok=True)
    folders = list(args.data)                  # --data takes one or more folders (nargs='+')
    files = [f for folder in folders for f in find_training_files(Path(folder))]
    held_out = files[:: max(2, len(files) // 8)][:8] if len(files) > 16 else []
    train_files = [f for f in files if f not in set(held_out)] or files
    segment = int(cfg.segment_seconds * cfg.model.sample_rate)
    sampler = SegmentSampler(train_files, cfg.model.sample_rate, segment)
    print(f"codec training: {len(train_files)} files, {sampler.seconds / 3600:.2f} h, config {args.config}, "
          f"run folder {out}", file=sys.stderr)

    torch.manual_seed(args.seed)
    model = MDCTRVQModel(cfg.model).to(device).train()
    generator = torch.Generator().manual_seed(args.seed)
    val_batch = None
    if held_out:
        val_sampler = SegmentSampler(held_out, cfg.model.sample_rate, 2 * segment, gain_db=0.0)
        val_batch = val_sampler.batch(8, torch.Generator().manual_seed(1234)).to(device)
    command = ("bench train codec " + " ".join(sys.argv[3:]) if sys.argv[1:3] == ["train", "codec"]
               else " ".join(sys.argv))

    def init() -> TrainingState:
        step, seconds, history = init_from_export(model, Path(args.init), cfg, device)
        print(f"continuing from the exported weights {args.init} (step {step}; fresh optimiser)", file=sys.stderr)
        return TrainingState(step=step, elapsed_s=seconds, history=history)

    log_path = out / "log.csv"
    new_log = not log_path.exists() or args.fresh
    with open(log_path, "w" if new_log else "a", newline="") as log_file:
        trainee = CodecTrainee(cfg, model, sampler, generator, val_batch, device, log_file)
        if new_log:
            trainee.writer.writeheader()
        settings = LoopSettings(max_steps=cfg.max_steps, eval_every=cfg.checkpoint_every, clip=1.0,
                                minutes=args.minutes)
        result = train_loop(trainee, settings, out / "last.pt", command=command, resume=not args.fresh,
                            init=init if getattr(args, "init", None) else None,
                            log=console_logger("bench.codec.train", sys.stderr))
    if args.export:
        if cfg.decoder_only:
            model.tokens_of = token_lineage(model, Path(args.init))
        final = result.scores if result.scores is not None else trainee.evaluate()
        export_weights(model, Path(args.export), {
            "command": command, "history": result.history,
            "train_config": cfg.to_dict(), "steps": result.step,
            "train_seconds": round(result.seconds, 1),
            "data": " ".join(str(f) for f in folders), "hours": round(sampler.seconds / 3600, 3),
            "last_log": trainee.last_row, "final_validation": final,
        })
        print(f"exported {args.export}", file=sys.stderr)
    return 0


def token_lineage(model: MDCTRVQModel, init: Path) -> tuple[str, ...]:
    """(sha256 of ``init``, *its own lineage), once the encoder and codebooks are checked unchanged.

    Why: the lineage lets token models trained on ``init`` run with the fine-tuned codec,
    so it must only be claimed when every token is provably the same: the weights that
    decide tokens (encoder, codebooks) are compared exactly with the parent's.
    """
    from bench.baselines.codecs.mdct_rvq.checkpoint import codec_sha256, load_model

    parent = load_model(init, "cpu")
    mine, theirs = model.state_dict(), parent.state_dict()
    for key, value in theirs.items():
        if key.startswith(("encoder.", "quantizer.")) and not torch.equal(mine[key].cpu(), value):
            raise BenchError(f"--decoder-only run changed {key}: its tokens differ from {init}'s")
    return (codec_sha256(init), *parent.tokens_of)
