"""The training loop behind ``bench train codec`` (imported lazily by recipe.py).

Loss (generator):  15 L_mel + L_spec + 5 L_MDCT + w_snr L_SNR + 0.25 L_commit  [+ L_adv + 2 L_feat in ``paper``]
(w_snr = 1 in ``small``; L_SNR is the waveform SNR in dB, i.e. the signed-coefficient error)
with quantiser dropout drawing N'_b per item, EMA codebooks updated inside the
forward pass, AdamW with linear warm-up and cosine decay.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import math
import signal
import sys
import time
from pathlib import Path

import torch

from bench.baselines.codecs.mdct_rvq.checkpoint import atomic_save, export_weights
from bench.baselines.codecs.mdct_rvq.config import CONFIGS, TrainConfig
from bench.baselines.codecs.mdct_rvq.data import SegmentSampler, find_training_files
from bench.baselines.codecs.mdct_rvq.losses import MultiResolutionSpectralLoss, mdct_loss, snr_loss
from bench.baselines.codecs.mdct_rvq.model import MDCTRVQModel
from bench.errors import BenchError

log = logging.getLogger(__name__)
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
    if loaded.cfg != cfg.model:
        raise BenchError(f"{path}: its model config differs from the preset's; pick the matching --config")
    model.load_state_dict(loaded.state_dict())
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    return int(meta.get("steps", 0)), float(meta.get("train_seconds", 0.0)), list(meta.get("history", []))


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so the loop's ``finally`` checkpoints before the process ends.

    Why: background jobs (``nohup … &``) ignore SIGINT, so ``kill`` (SIGTERM) is how a long run is
    stopped, and without this it lost every step since the last periodic checkpoint.
    """
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def train(args: argparse.Namespace) -> int:
    torch.set_num_threads(max(1, args.threads))
    _stop_on_sigterm()
    cfg = resolve_config(args)
    device = torch.device(args.device)
    out = Path(args.out or f"runs/codec-{args.config}")
    out.mkdir(parents=True, exist_ok=True)
    files = find_training_files(Path(args.data))
    held_out = files[:: max(2, len(files) // 8)][:8] if len(files) > 16 else []
    train_files = [f for f in files if f not in set(held_out)] or files
    segment = int(cfg.segment_seconds * cfg.model.sample_rate)
    sampler = SegmentSampler(train_files, cfg.model.sample_rate, segment)
    print(f"codec training: {len(train_files)} files, {sampler.seconds / 3600:.2f} h, config {args.config}, "
          f"run folder {out}", file=sys.stderr)

    torch.manual_seed(args.seed)
    model = MDCTRVQModel(cfg.model).to(device).train()
    spectral = MultiResolutionSpectralLoss(cfg.model.sample_rate).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, betas=(0.8, 0.99),
                                  weight_decay=cfg.weight_decay)
    critics = critic_optimiser = None
    if cfg.adversarial:
        from bench.baselines.codecs.mdct_rvq.discriminators import Discriminators

        critics = Discriminators().to(device).train()
        critic_optimiser = torch.optim.AdamW(critics.parameters(), lr=cfg.learning_rate, betas=(0.8, 0.99))
    generator = torch.Generator().manual_seed(args.seed)
    val_batch = None
    if held_out:
        val_sampler = SegmentSampler(held_out, cfg.model.sample_rate, 2 * segment, gain_db=0.0)
        val_batch = val_sampler.batch(8, torch.Generator().manual_seed(1234)).to(device)

    step, elapsed_before = 0, 0.0
    history: list[dict] = []                      # one entry per invocation: how the weights came about
    command = ("bench train codec " + " ".join(sys.argv[3:]) if sys.argv[1:3] == ["train", "codec"]
               else " ".join(sys.argv))
    last = out / "last.pt"
    if last.exists() and not args.fresh:
        from bench.safe_load import load_checkpoint  # weights_only: a state file runs no code

        state = load_checkpoint(last, device, "resumable state")
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        if critics is not None and state.get("critics") is not None:
            critics.load_state_dict(state["critics"])
            critic_optimiser.load_state_dict(state["critic_optimiser"])
        generator.set_state(state["generator"])
        step, elapsed_before = state["step"], state.get("elapsed_s", 0.0)
        history = list(state.get("history", []))
        print(f"resumed from {last} at step {step}", file=sys.stderr)
    elif getattr(args, "init", None):
        step, elapsed_before, history = init_from_export(model, Path(args.init), cfg, device)
        print(f"continuing from the exported weights {args.init} (step {step}; fresh optimiser)", file=sys.stderr)

    log_path = out / "log.csv"
    new_log = not log_path.exists() or args.fresh
    log_file = open(log_path, "w" if new_log else "a", newline="")
    writer = csv.DictWriter(log_file, LOG_FIELDS)
    if new_log:
        writer.writeheader()

    def save() -> None:
        atomic_save({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                     "critics": critics.state_dict() if critics is not None else None,
                     "critic_optimiser": critic_optimiser.state_dict() if critic_optimiser is not None else None,
                     "generator": generator.get_state(), "step": step,
                     "elapsed_s": elapsed_before + time.monotonic() - start,
                     "config": cfg.to_dict(), "history": history + [session]}, last)

    start = time.monotonic()
    session = {"command": command, "from_step": step}
    sums: dict[str, float] = {}
    count = 0
    last_row: dict[str, float] = {}
    try:
        while step < cfg.max_steps:
            if args.minutes is not None and time.monotonic() - start > 60 * args.minutes:
                print(f"time budget of {args.minutes} min reached at step {step}", file=sys.stderr)
                break
            lr = learning_rate(cfg, step)
            for group in optimiser.param_groups:
                group["lr"] = lr
            wave = sampler.batch(cfg.batch_size, generator).to(device)
            stages = model.quantizer.sample_stages(cfg.batch_size, device, generator)
            wave_hat, predicted, target, commit = model(wave, stages)
            mel, spec = spectral(wave_hat, wave)
            l_mdct = mdct_loss(predicted, target)
            l_snr = snr_loss(wave_hat, wave)
            loss = (cfg.mel_weight * mel + cfg.spec_weight * spec + cfg.mdct_weight * l_mdct
                    + cfg.snr_weight * l_snr + cfg.commit_weight * commit)
            terms = {"mel": mel.item(), "spec": spec.item(), "mdct": l_mdct.item(), "snr": l_snr.item(),
                     "commit": commit.item()}
            if critics is not None and step >= cfg.adv_start_step:
                from bench.baselines.codecs.mdct_rvq.discriminators import discriminator_loss, generator_losses

                for group in critic_optimiser.param_groups:
                    group["lr"] = lr
                d_loss = discriminator_loss(critics(wave), critics(wave_hat.detach()))
                critic_optimiser.zero_grad(set_to_none=True)
                d_loss.backward()
                critic_optimiser.step()
                adv, feat = generator_losses(critics(wave), critics(wave_hat))
                loss = loss + cfg.adv_weight * adv + cfg.feature_weight * feat
                terms.update(adv=adv.item(), feat=feat.item(), disc=d_loss.item())
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            step += 1
            terms["loss"] = loss.item()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            if step % cfg.log_every == 0:
                row = {k: round(v / count, 5) for k, v in sums.items()}
                row.update(step=step, elapsed_s=round(elapsed_before + time.monotonic() - start, 1), lr=f"{lr:.3g}")
                if step % cfg.checkpoint_every == 0 and val_batch is not None:
                    row.update({k: round(v, 5) for k, v in validation_mel(model, spectral, val_batch).items()})
                writer.writerow(row)
                log_file.flush()
                print(" ".join(f"{k}={v}" for k, v in row.items()), file=sys.stderr, flush=True)
                last_row, sums, count = row, {}, 0
            if step % cfg.checkpoint_every == 0:
                save()
    finally:
        session["to_step"] = step
        save()
        log_file.close()
    if args.export:
        final = validation_mel(model, spectral, val_batch) if val_batch is not None else {}
        export_weights(model, Path(args.export), {
            "command": command, "history": history + [session],
            "train_config": cfg.to_dict(), "steps": step,
            "train_seconds": round(elapsed_before + time.monotonic() - start, 1),
            "data": str(args.data), "hours": round(sampler.seconds / 3600, 3),
            "last_log": last_row, "final_validation": final,
        })
        print(f"exported {args.export}", file=sys.stderr)
    return 0
