"""Options every training recipe's loop shares (light: argparse only, imported at CLI start-up)."""

from __future__ import annotations

import argparse


def add_loop_arguments(parser: argparse.ArgumentParser) -> None:
    """Step/time budget, optimiser overrides, seed, threads and device of a training loop."""
    parser.add_argument("--steps", type=int, default=None, help="total optimiser steps")
    parser.add_argument("--minutes", type=float, default=None, help="stop (and save) after this much wall time")
    parser.add_argument("--batch-size", type=int, default=None)


def add_data_arguments(parser: argparse.ArgumentParser, out_help: str) -> None:
    """Training/validation data, output weights, work folder and codec of a token-model recipe."""
    parser.add_argument("--data", required=True, help="training data root (holds Libri2Mix/)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--dev", default=None, help="validation data root (its 'dev' split); never the test set")
    parser.add_argument("--dev-split", default="dev")
    parser.add_argument("--out", required=True, help=out_help)
    parser.add_argument("--work", default=None, help="resumable state, logs and caches (default: <out>.work)")
    parser.add_argument("--codec-checkpoint", default=None, help="codec weights (default: the packaged one)")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Learning rate, evaluation cadence, seed, CPU threads and device."""
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--eval-every", type=int, default=None, help="validate and save every N steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: leave cores to others)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")


def warmup_cosine(step: int, warmup_steps: int, max_steps: int, time_fraction: float = 0.0) -> float:
    """Learning-rate factor: linear warm-up, then cosine decay to 10 % at ``max_steps`` or at the time budget.

    ``time_fraction`` is the share of a ``--minutes`` budget already used; whichever budget
    runs out first sets the decay, so a run stopped by the clock still ends at a low rate.
    """
    import math

    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, max_steps - warmup_steps)
    progress = min(1.0, max(progress, time_fraction))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def run_loop(model, optimizer, schedule, minutes: float | None, work, log, fingerprint: str,
             step_fn, evaluate, export, rng_state) -> dict:
    """The resumable optimisation loop every token-model recipe shares (CodeSep, TokenSplit).

    ``schedule`` has ``learning_rate``, ``warmup_steps``, ``max_steps``, ``eval_every`` and
    ``log_every``; ``step_fn()`` returns (loss, stats) for one batch; ``evaluate()`` returns
    dev scores (``dev_acc`` ranks checkpoints, else the training ``acc``); ``export(record)``
    writes the best weights so far.  ``work/state.pt`` holds model, optimiser, step, clock
    and the data RNG (``rng_state = (get, set)``), tied to ``fingerprint`` (the codec hash:
    a state trained on other tokens must not be resumed); ``work/log.jsonl`` gets one line
    per ``log_every`` steps and per evaluation.  Stops at ``max_steps`` or after ``minutes``
    of training (counted across resumptions) and ends with an evaluation.
    """
    import json
    import time

    import numpy as np
    import torch

    from bench.safe_load import load_checkpoint

    state_path, log_path = work / "state.pt", work / "log.jsonl"
    params = [p for p in model.parameters() if p.requires_grad]
    step, elapsed, best = 0, 0.0, -1.0
    if state_path.is_file():
        state = load_checkpoint(state_path, next(model.parameters()).device, "resumable state")
        if state.get("codec_sha256") != fingerprint:
            raise SystemExit(f"{state_path}: resumable state is for another codec checkpoint; use a new --work")
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        rng_state[1](state["rng"])
        step, elapsed, best = state["step"], state["elapsed"], state["best"]
        log.info("resumed at step %d (%.1f min trained)", step, elapsed / 60)
    started = time.monotonic() - elapsed
    running: dict[str, list[float]] = {}

    def write(line: dict) -> None:
        with open(log_path, "a") as handle:
            handle.write(json.dumps(line) + "\n")

    def checkpoint(final: bool) -> dict:
        nonlocal best
        scores = evaluate()
        record = {"step": step, "minutes": round((time.monotonic() - started) / 60, 2),
                  **{k: round(float(np.mean(v)), 4) for k, v in running.items()}, **scores}
        score = scores.get("dev_acc", record.get("acc", 0.0))
        if score >= best:
            best = score
            export(record)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                    "elapsed": time.monotonic() - started, "best": best, "codec_sha256": fingerprint,
                    "rng": rng_state[0]()}, state_path)
        write({"eval": True, "final": final, **record})
        log.info("eval %s", json.dumps(record))
        return record

    record: dict = {}
    model.train()
    while step < schedule.max_steps:
        if minutes is not None and time.monotonic() - started >= minutes * 60:
            break
        used = (time.monotonic() - started) / (minutes * 60) if minutes else 0.0
        for group in optimizer.param_groups:
            group["lr"] = schedule.learning_rate * warmup_cosine(step, schedule.warmup_steps, schedule.max_steps, used)
        loss, stats = step_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        step += 1
        for k, v in stats.items():
            running.setdefault(k, []).append(v)
        if step % schedule.log_every == 0:
            line = {"step": step, "minutes": round((time.monotonic() - started) / 60, 2),
                    **{k: round(float(np.mean(v)), 4) for k, v in running.items()}}
            write(line)
            log.info("train %s", json.dumps(line))
        if step % schedule.eval_every == 0:
            record = checkpoint(final=False)
            running = {}
    if record.get("step") != step:
        record = checkpoint(final=True)
    return record


def console_logger(name: str):
    """A logger that prints timestamped INFO lines to stdout even when the CLI's logging is quieter."""
    import logging
    import sys

    log = logging.getLogger(name)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log
