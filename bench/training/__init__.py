"""What every training recipe shares: its options, the learning-rate shape and console logging.

Light (argparse only, imported when the CLI starts); the loop itself is :mod:`bench.training.loop`.
"""

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


def console_logger(name: str, stream=None):
    """A logger that prints timestamped INFO lines (to stdout, or ``stream``) even when the CLI's logging is quieter."""
    import logging
    import sys

    log = logging.getLogger(name)
    if not log.handlers:
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log
