"""``bench data synth``: the command-line face of :func:`bench.data.synth.synthesize`.

Kept apart from the CLI module so that ``bench/cli.py`` only needs
``add_arguments`` and ``run``, and imports nothing TTS-related until the command runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path



def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``bench data synth``."""
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="output root; the data set is written to DIR/Libri2Mix")
    parser.add_argument("--split", choices=("test", "dev", "train"), default="test",
                        help="which split to write (default: test); splits never share a sentence")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--mixtures", type=int, metavar="N",
                      help="number of mixtures (default for test/dev: 64)")
    size.add_argument("--hours", type=float, metavar="H", help="total mixture duration in hours")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--format", dest="audio_format", choices=("flac", "wav"), default="flac",
                        help="audio files: 16-bit FLAC (default) or 16-bit WAV")
    parser.add_argument("--voices", type=_comma_list, default=None, metavar="V1,V2,...",
                        help="voice ids to use (default: all available); see bench/data/synth/voices.py")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="parallel worker processes")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help="TTS render cache (default: ~/.cache/jsac-bench/tts)")


def run(args: argparse.Namespace) -> int:
    """Generate the split; print where it went and a one-line summary. Returns the exit code."""
    from bench.data.synth.generate import synthesize

    start = time.monotonic()
    root = synthesize(
        out_root=args.out,
        split=args.split,
        mixtures=args.mixtures,
        hours=args.hours,
        seed=args.seed,
        audio_format=args.audio_format,
        voices=args.voices,
        jobs=args.jobs,
        cache_dir=args.cache_dir,
        progress=not getattr(args, "quiet", False),
    )
    import json

    summary = json.loads((root / f"synth_{args.split}.json").read_text(encoding="utf-8"))
    print(
        f"{root}: {args.split} {summary['mixtures']} mixtures, {summary['hours']:.3f} h, "
        f"{len(summary['utterances_per_voice'])} voices, in {time.monotonic() - start:.0f} s",
        file=sys.stderr,
    )
    return 0


def _comma_list(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError("needs at least one voice id")
    return names
