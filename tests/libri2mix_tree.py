"""Writers of small Libri2Mix trees in the real LibriMix format, shared by the tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
FOREIGN = "/home/someone/data/Libri2Mix"
IDS = [
    "1089-134686-0000_121-121726-0001",
    "1089-134686-0001_121-121726-0002",
    "2300-131720-0000_121-121726-0003",
    "2300-131720-0001_1089-134686-0002",
    "121-121726-0004_2300-131720-0002",
    "1089-134686-0003_2300-131720-0003",
    "121-121726-0005_1089-134686-0004",
    "2300-131720-0004_121-121726-0006",
]


def build_tree(base: Path, lengths: dict[str, int] | None = None, mix_types=("mix_clean", "mix_both"),
               suffix: str = ".wav", path_style: str = "foreign", seed: int = 0) -> Path:
    """Write ``base/Libri2Mix/wav16k/min/{metadata,test/...}``; returns the Libri2Mix dir."""
    lengths = lengths or {mid: 4000 + 100 * i for i, mid in enumerate(IDS)}
    root = base / "Libri2Mix"
    test = root / "wav16k" / "min" / "test"
    meta = root / "wav16k" / "min" / "metadata"
    meta.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict]] = {m: [] for m in mix_types}

    def ref(sub: str, mid: str) -> str:
        rel = f"wav16k/min/test/{sub}/{mid}.wav"
        return {"foreign": f"{FOREIGN}/{rel}", "relative": rel}[path_style]

    for i, (mid, n) in enumerate(lengths.items()):
        sig = {k: (0.1 * rng.standard_normal(n)).astype(np.float32) for k in ("s1", "s2", "noise")}
        sig["mix_clean"] = sig["s1"] + sig["s2"]
        sig["mix_both"] = sig["s1"] + sig["s2"] + sig["noise"]
        sig["mix_single"] = sig["s1"] + sig["noise"]
        for sub in ("s1", "s2", "noise", *mix_types):
            (test / sub).mkdir(parents=True, exist_ok=True)
            sf.write(test / sub / f"{mid}{suffix}", sig[sub], SR)
        for m in mix_types:
            row = {"mixture_ID": mid}
            if m == "mix_clean":
                row["original_mixture_ID"] = f"orig{i}"
            row["mixture_path"] = ref(m, mid)
            row["source_1_path"] = ref("s1", mid)
            if m != "mix_single":
                row["source_2_path"] = ref("s2", mid)
            if m != "mix_clean":
                row["noise_path"] = ref("noise", mid)
            row["length"] = n
            rows[m].append(row)
    for m, table in rows.items():
        with open(meta / f"mixture_test_{m}.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    return root
