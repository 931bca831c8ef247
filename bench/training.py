"""Options every training recipe's loop shares (light: argparse only, imported at CLI start-up)."""

from __future__ import annotations

import argparse


def add_loop_arguments(parser: argparse.ArgumentParser) -> None:
    """Step/time budget, optimiser overrides, seed, threads and device of a training loop."""
    parser.add_argument("--steps", type=int, default=None, help="total optimiser steps")
    parser.add_argument("--minutes", type=float, default=None, help="stop (and save) after this much wall time")
    parser.add_argument("--batch-size", type=int, default=None)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Learning rate, evaluation cadence, seed, CPU threads and device."""
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--eval-every", type=int, default=None, help="validate and save every N steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: leave cores to others)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
