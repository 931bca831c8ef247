"""``bench train separator``: train a Sepformer with PIT SI-SNR on Libri2Mix-format data.

Only ``argparse`` is imported at module level, so listing the CLI's recipes stays
fast; the training loop lives in :mod:`bench.baselines.separators.trainer`.

Example (how the shipped tiny model was made)::

    bench train separator --config tiny --data /work/train_data --out sepformer-tiny --minutes 60
"""

from __future__ import annotations

import argparse

from bench.training import add_loop_arguments, add_run_arguments

DESCRIPTION = "train a Sepformer separator (PIT SI-SNR, dynamic mixing), saved in speechbrain's pretrained format"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``bench train separator``; unset ones take the preset's value."""
    parser.description = DESCRIPTION
    parser.add_argument("--config", choices=("tiny", "small", "paper"), default="small",
                        help="architecture and schedule preset (paper = speechbrain's Libri2Mix recipe)")
    parser.add_argument("--data", required=True, help="training data root (holds Libri2Mix/)")
    parser.add_argument("--split", default="train", help="split of --data to train on (default: train)")
    parser.add_argument("--dev", default=None, help="validation data root (its 'dev' split); never the test set")
    parser.add_argument("--dev-split", default="dev")
    parser.add_argument("--out", required=True, help="output model directory (speechbrain pretrained format)")
    parser.add_argument("--work", default=None, help="checkpoints and loss log (default: <out>.work)")
    parser.add_argument("--init", default=None, metavar="DIR",
                        help="continue from the weights of this saved model directory (e.g. the packaged one) "
                             "when --work holds no resumable state; its step and commands carry over")
    add_loop_arguments(parser)
    parser.add_argument("--segment", type=float, default=None, help="training example length in seconds")
    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Train (resuming from ``--work`` when it holds a checkpoint) and write ``--out``."""
    from bench.baselines.separators.trainer import TrainOptions, train

    options = TrainOptions.from_args(args)
    train(options)
    return 0
