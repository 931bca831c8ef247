"""Train the MDCT-RVQ neural codec (``bench train codec --config tiny --data DIR``).

Resumable: the run folder keeps ``last.pt`` (model, optimiser, step, RNG state)
and ``log.csv`` (one row of losses per ``log_every`` steps); rerunning the same
command continues where it stopped.  ``--export`` writes the weights-only file the
codec loads (plus a JSON of its configuration and training summary).

Only argparse is imported at module level so ``bench --help`` stays fast.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", choices=("tiny", "small", "paper"), default="small", help="model/training preset")
    parser.add_argument("--data", required=True, metavar="DIR", nargs="+",
                        help="training audio: a Libri2Mix-format tree (its s1/s2 folders are used) or LibriSpeech; "
                             "several folders are pooled (e.g. a clean tree and `bench data separate` estimates)")
    parser.add_argument("--out", metavar="DIR", default=None, help="run folder (default: runs/codec-<config>)")
    parser.add_argument("--steps", type=int, default=None, help="total optimiser steps (overrides the preset)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="stop (checkpoint and export) after this much wall time in this invocation")
    parser.add_argument("--batch-size", type=int, default=None, help="override the preset batch size")
    parser.add_argument("--snr-weight", type=float, default=None,
                        help="override the preset weight of the waveform SNR term (signed MDCT coefficients)")
    parser.add_argument("--waveform-full-stages", type=int, default=None, metavar="N",
                        help="ramp the waveform terms (SNR, MDCT L1) in with the number of stages an item is coded "
                             "with: weight 0 at 1 stage, full from N stages on (default: full at every rate)")
    parser.add_argument("--waveform-zero-stages", type=int, default=None, metavar="Z",
                        help="with --waveform-full-stages N: the waveform terms weigh 0 up to Z stages and ramp to "
                             "full at N (default 1)")
    parser.add_argument("--adversarial", action="store_true",
                        help="add the discriminators' adversarial and feature-matching losses from this step on "
                             "(they restore the high-band texture that the waveform terms shrink towards zero)")
    parser.add_argument("--critic-width", type=int, default=None, metavar="C",
                        help="with --adversarial: channels of the critics' first layers (default 32, HiFi-GAN's; "
                             "8 makes a critic update about ten times cheaper on a CPU)")
    parser.add_argument("--stage-conditioning", action="store_true",
                        help="give the decoder a learned per-rate offset e[N'] (zero at start; see model.py)")
    parser.add_argument("--decoder-only", action="store_true",
                        help="freeze the encoder and codebooks (no EMA updates) and train only the decoder: every "
                             "token stays as it was, so token models trained on the --init codec still fit")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in the run folder")
    parser.add_argument("--init", metavar="PATH", default=None,
                        help="start from this exported checkpoint (e.g. the packaged one) when the run folder "
                             "has no last.pt; its JSON's steps and commands carry over")
    parser.add_argument("--export", metavar="PATH", default=None,
                        help="after training, write weights-only checkpoint PATH (+ PATH.json)")


def run(args: argparse.Namespace) -> int:
    from bench.baselines.codecs.mdct_rvq.trainer import train

    return train(args)
