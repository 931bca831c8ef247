"""Rebuild ``mix_clean = s1 + s2`` for slices packed by :mod:`pack_sources` (run on the lent machine).

    python rebuild_mixtures.py ROOT SPLIT [ROOT SPLIT ...]
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import soundfile as sf


def rebuild(root: Path, split: str) -> int:
    """Write every mixture of ``root``'s ``split`` as the int16 sum of its two sources; returns the count."""
    base = root / "Libri2Mix" / "wav16k" / "min"
    with open(base / "metadata" / f"mixture_{split}_mix_clean.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    (base / split / "mix_clean").mkdir(parents=True, exist_ok=True)
    for row in rows:
        name = Path(row["mixture_path"]).name
        s1, rate = sf.read(base / split / "s1" / name, dtype="int16")
        s2, _ = sf.read(base / split / "s2" / name, dtype="int16")
        mix = np.clip(s1.astype(np.int32) + s2.astype(np.int32), -32768, 32767).astype(np.int16)
        sf.write(base / split / "mix_clean" / name, mix, rate, format="FLAC", subtype="PCM_16")
    return len(rows)


if __name__ == "__main__":
    pairs = sys.argv[1:]
    if not pairs or len(pairs) % 2:
        raise SystemExit("usage: rebuild_mixtures.py ROOT SPLIT [ROOT SPLIT ...]")
    for root, split in zip(pairs[::2], pairs[1::2]):
        print(f"{root} {split}: {rebuild(Path(root), split)} mixtures rebuilt", flush=True)
