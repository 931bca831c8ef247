"""Pack a slice of a Libri2Mix split's *sources* small enough to travel to a lent GPU machine.

The lent machine (``device`` tool) receives at most 64 MiB with the working tree and can reach
nothing outside it, while the 5-hour training set is ~1 GB of FLAC.  Two things make a useful
slice fit:

* only the sources travel (``s1``, ``s2``); the mixtures are their sum and are rebuilt there by
  :mod:`rebuild_mixtures` (the separator recipe remixes sources anyway);
* samples are rounded to ``--bits`` (default 12) significant bits, stored as 16-bit FLAC whose
  encoder drops the zero low bits: about 40 % smaller, with the rounding noise ~49 dB below
  speech at -25 dBFS, far under anything the models resolve.

``--every N --offset K`` keeps mixtures K, K+N, K+2N, ... of the metadata CSV, so consecutive
leases can train on different slices (K = 0, 4, ...).  The CSV is rewritten with relative paths.

    python benchmarks/gpu_lease/pack_sources.py --data /work/data/train --split train \\
        --out .dev/data/train --every 9 --offset 0
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.data.libri2mix import DatasetSpec, open_dataset

SUBDIRS = {"mixture_path": "mix_clean", "source_1_path": "s1", "source_2_path": "s2"}


def quantise(audio: np.ndarray, bits: int) -> np.ndarray:
    """Round int16 samples to ``bits`` significant bits (the rest zero), staying inside int16."""
    step = 2 ** (16 - bits)
    rounded = np.round(audio.astype(np.int64) / step) * step
    return np.clip(rounded, -32768, 32768 - step).astype(np.int16)


def pack(data: Path, split: str, out: Path, every: int, offset: int = 0, bits: int = 12) -> tuple[int, int]:
    """Write the slice under ``out/Libri2Mix/wav16k/min``; returns (mixtures, bytes of audio written)."""
    base = data / "Libri2Mix" / "wav16k" / "min"
    meta = base / "metadata" / f"mixture_{split}_mix_clean.csv"
    if not meta.is_file():
        raise SystemExit(f"{meta}: no such metadata CSV (expected a Libri2Mix wav16k/min tree under --data)")
    with open(meta, newline="") as handle:
        rows = list(csv.DictReader(handle))[offset::every]
    if not rows:
        raise SystemExit(f"{meta}: no mixtures in slice offset {offset} every {every}")
    # the loader resolves each CSV path on this machine (foreign roots, .wav <-> .flac), as every run does
    located = {m.mixture_id: m.source_paths for m in open_dataset(DatasetSpec(root=data / "Libri2Mix", split=split))}
    target = out / "Libri2Mix" / "wav16k" / "min"
    (target / "metadata").mkdir(parents=True, exist_ok=True)
    written, names = 0, []
    for row in rows:
        for column, found in zip(("source_1_path", "source_2_path"), located[row["mixture_ID"]]):
            audio, rate = sf.read(found, dtype="int16")
            path = target / split / SUBDIRS[column] / f"{found.stem}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, quantise(audio, bits), rate, format="FLAC", subtype="PCM_16")
            written += path.stat().st_size
        names.append(path.name)
    with open(target / "metadata" / meta.name, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row, name in zip(rows, names):
            writer.writerow({key: (f"wav16k/min/{split}/{SUBDIRS[key]}/{name}" if key in SUBDIRS else value)
                             for key, value in row.items()})
    return len(rows), written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="root holding Libri2Mix/ (bench data synth --out)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--out", type=Path, required=True, help="new root for the packed slice")
    parser.add_argument("--every", type=int, default=9, help="keep one mixture in N")
    parser.add_argument("--offset", type=int, default=0, help="first mixture kept (0 <= K < N)")
    parser.add_argument("--bits", type=int, default=12, choices=range(8, 17), metavar="{8..16}")
    args = parser.parse_args(argv)
    count, size = pack(args.data, args.split, args.out, args.every, args.offset, args.bits)
    print(f"{args.split}: {count} mixtures, {size / 1e6:.1f} MB of sources in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
