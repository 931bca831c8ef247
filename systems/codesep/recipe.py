"""``bench train codesep``: train CodeSep's BTDM (PI-CE, eq. 3) or ATSP (TF-CE, eq. 6) on codec tokens.

Only ``argparse`` is imported at module level so listing the CLI's recipes stays fast;
the loop lives in :mod:`bench.systems.codesep.trainer`.

Examples (how the shipped tiny weights were made; see ``checkpoints/*.json``)::

    bench train codesep --stage btdm --config tiny --data /work/train_data --dev /work/codesep_dev \\
        --out systems/codesep/checkpoints/btdm.pt --minutes 50
    bench train codesep --stage atsp --config tiny --data /work/train_data --dev /work/codesep_dev \\
        --out systems/codesep/checkpoints/atsp.pt --minutes 50
    ... --stage btdm --no-acbg --out .../btdm-noacbg.pt      # Table 4, w/o ACBG
    ... --stage atsp --no-teacher-forcing --out .../atsp-notf.pt  # Table 4, w/o TF
"""

from __future__ import annotations

import argparse

from bench.training import add_data_arguments, add_loop_arguments, add_run_arguments

DESCRIPTION = "train CodeSep's BTDM or ATSP against the MDCT-RVQ codec's tokens"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``bench train codesep``; unset ones take the preset's value."""
    parser.description = DESCRIPTION
    parser.add_argument("--stage", choices=("btdm", "atsp"), required=True, help="which module to train")
    parser.add_argument("--config", choices=("tiny", "paper"), default="tiny", help="size/schedule preset")
    add_data_arguments(parser, "weights file to write (e.g. .../checkpoints/btdm.pt)")
    parser.add_argument("--cache", default=None,
                        help="codec-token cache folder, shareable between runs (default: <work>/tokens)")
    parser.add_argument("--no-acbg", action="store_true", help="BTDM without the ACBG (ablation)")
    parser.add_argument("--no-teacher-forcing", action="store_true",
                        help="ATSP fed with its own predictions instead of the codec's tokens (ablation)")
    add_loop_arguments(parser)
    parser.add_argument("--segment-frames", type=int, default=None, help="codec frames per example (50 = 1 s)")
    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Train (resuming from ``--work`` when it holds a state) and write ``--out``."""
    from bench.systems.codesep.trainer import TrainOptions, train

    train(TrainOptions.from_args(args))
    return 0
