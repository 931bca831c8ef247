"""``bench data separate``: a separator's estimates of every mixture of a Libri2Mix split, as audio files.

Why: FSTC codes what a separator leaves, not clean speech, and a codec trained on clean
speech alone turns the separator's residue into noise the more stages it spends (README,
Table 2).  A codec meant to code separated speech has to be trained on some; this command
writes that material, from training mixtures only, in the layout the codec recipe reads
(``bench train codec --data CLEAN_TREE ESTIMATES``: every ``s1``/``s2`` folder is used).

Output: ``OUT/<rate dir>/<mode>/<split>/s1|s2/<mixture ID>.flac`` (16-bit FLAC at the split's
rate), the estimate paired with source 1 (2) by the SI-SNR permutation, so ``s1/X.flac`` is
the separator's version of the source ``s1/X`` of the input tree (an estimate that would clip in
16 bits is scaled to a 0.99 peak; the codec trains with random gains anyway).  Rerunning the command
skips mixtures whose two files exist (resumable after a kill); files are written whole
(temporary name, then rename), so a kill never leaves a truncated one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench.errors import BenchError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``bench data separate`` (the dataset options are the CLI's shared ones)."""
    parser.add_argument("root", help="Libri2Mix root whose mixtures are separated (e.g. /work/data/train/Libri2Mix)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the estimates are written")
    parser.add_argument("--separator", type=Path, default=None, metavar="DIR",
                        help="speechbrain-format Sepformer directory (default: the packaged one)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def output_paths(out: Path, relative_dir: Path, mixture_id: str) -> tuple[Path, Path]:
    """The two estimate files of one mixture; refuses an ID that would leave ``out``.

    Mixture IDs come from the input's metadata CSV, a file from outside: an ID such as
    ``../../x`` or an absolute path must not choose where this command writes.
    """
    if not mixture_id or mixture_id in (".", "..") or any(sep in mixture_id for sep in ("/", "\\", "\0")):
        raise BenchError(f"mixture ID {mixture_id!r} cannot be a file name (it would write outside {out})")
    folder = out / relative_dir
    return folder / "s1" / f"{mixture_id}.flac", folder / "s2" / f"{mixture_id}.flac"


def separate_split(spec, out: Path, separator_dir: Path | None, device: str) -> dict:
    """Separate every mixture the spec selects; returns a summary (also written as ``OUT/separate_<split>.json``)."""
    import numpy as np

    from bench.audio import write_audio_atomic
    from bench.baselines.separators.sepformer import load_separator
    from bench.baselines.separators.system import default_model_dir
    from bench.data.libri2mix import open_dataset
    from bench.metrics.sisnr import best_permutation
    from bench.progress import progress_bar

    if spec.mix_type != "mix_clean":
        raise BenchError(f"bench data separate needs mix_clean mixtures (got {spec.mix_type}): "
                         "the estimates are paired with the two clean sources")
    dataset = open_dataset(spec)
    relative_dir = Path(spec.rate_dir, spec.mode, spec.split)
    model_dir = Path(separator_dir) if separator_dir else default_model_dir()
    separator = None
    written = skipped = 0
    with progress_bar(len(dataset), desc="separating", unit="mix") as bar:
        for mixture in dataset:
            paths = output_paths(out, relative_dir, mixture.mixture_id)
            if all(p.is_file() for p in paths):
                skipped += 1
                bar.update(1)
                continue
            if separator is None:                    # loaded only when there is work left
                separator = load_separator(model_dir, device=device)
            loaded = dataset.load(mixture)
            estimates = separator.separate_many([loaded.mixture], spec.sample_rate, device=device)[0]
            ordered = estimates[list(best_permutation(estimates, loaded.sources))]
            for path, estimate in zip(paths, ordered):
                peak = float(np.max(np.abs(estimate))) if estimate.size else 0.0
                write_audio_atomic(path, estimate / peak * 0.99 if peak > 0.99 else estimate, spec.sample_rate,
                                   subtype="PCM_16")
            written += 1
            bar.update(1)
    summary = {"input": str(dataset.root), "split": spec.split, "mixtures": len(dataset), "written": written,
               "already_there": skipped, "separator": str(model_dir)}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"separate_{spec.split}.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def run(args: argparse.Namespace) -> int:
    """Separate the split; print a one-line summary. Returns the exit code."""
    import torch

    from bench.cli import check_device, dataset_spec

    check_device(args.device)
    torch.set_num_threads(max(1, args.threads))
    start = time.monotonic()
    summary = separate_split(dataset_spec(args, args.root), args.out, args.separator, args.device)
    print(f"{args.out}: {summary['written']} mixtures separated, {summary['already_there']} already there, "
          f"of {summary['mixtures']} ({summary['split']}), in {time.monotonic() - start:.0f} s", file=sys.stderr)
    return 0
