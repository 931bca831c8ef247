"""``bench train tokensplit``: train TokenSplit (eq. 5) or TokenSplitRefine (Section 3.4) on codec tokens.

Only ``argparse`` is imported at module level; the loop is in :mod:`bench.systems.tokensplit.trainer`.

How the shipped tiny weights were made (see ``checkpoints/*.json``)::

    bench train tokensplit --config tiny --data /work/train_data --dev /work/sep_dev \\
        --out systems/tokensplit/checkpoints/tokensplit.pt --minutes 35
    bench train tokensplit --refine --config tiny --data /work/train_data --dev /work/sep_dev \\
        --out systems/tokensplit/checkpoints/tokensplit-refine.pt --minutes 35
"""

from __future__ import annotations

import argparse

from bench.training import add_data_arguments, add_loop_arguments, add_run_arguments

DESCRIPTION = "train TokenSplit or TokenSplitRefine on the MDCT-RVQ codec's tokens"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument("--config", choices=("tiny", "paper"), default="tiny", help="size/schedule preset")
    parser.add_argument("--refine", action="store_true", help="train TokenSplitRefine (needs a separator)")
    add_data_arguments(parser, "weights file to write")
    parser.add_argument("--separator-dir", default=None,
                        help="speechbrain-format separator for --refine (default: the packaged Sepformer)")
    parser.add_argument("--semantic", default=None,
                        help="semantic tokenizer folder (semantic.json + centroids.pt); default: none")
    parser.add_argument("--trust-torchscript", action="store_true",
                        help="allow a tokenizer whose SSL model is 'torchscript:<file>': a TorchScript file is "
                             "a program and runs with your rights; give it only for files you trust")
    parser.add_argument("--pool-size", type=int, default=None, help="refine: fixed separated mixtures")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training mixtures")
    parser.add_argument("--cache", default=None,
                        help="folder of ASR transcripts, codec tokens and the refine pool, shareable between "
                             "runs: its files are keyed by content (default: <work>/cache)")
    add_loop_arguments(parser)
    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bench.systems.tokensplit.trainer import TrainOptions, train

    train(TrainOptions.from_args(args))
    return 0
