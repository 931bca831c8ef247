"""Speed of the shared separator memo: sepformer + fstc@2/4/8 with and without it, side by side.

The four systems separate the same mixtures with the same Sepformer before their codecs
differ; with the memo (``baselines/separators/memo.py``) only the first separates.  Both
sides run in this process on the same mixtures, and the estimates are checked to be equal.

    .venv/bin/python benchmarks/separation_memo.py --limit 16
"""

from __future__ import annotations

import argparse
import time

import numpy as np

SYSTEMS = ("sepformer", "fstc@2", "fstc@4", "fstc@8")


def run_all(systems, loaded) -> tuple[float, list[np.ndarray]]:
    start = time.perf_counter()
    outputs = []
    for system in systems:
        for result in system.separate(loaded):
            outputs.append(np.asarray(result.estimates))
    return time.perf_counter() - start, outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=16, help="first N embedded mixtures")
    args = parser.parse_args()

    from bench.baselines.separators import memo
    from bench.catalog import build_system
    from bench.config import BenchConfig, resolve_system_spec
    from bench.data.libri2mix import DatasetSpec, embedded_root, open_dataset

    dataset = open_dataset(DatasetSpec(root=embedded_root(), split="test", sample_rate=16000, limit=args.limit))
    loaded = [dataset.load(m) for m in dataset.mixtures]
    systems = [build_system(resolve_system_spec(name, BenchConfig())) for name in SYSTEMS]
    run_all(systems[:1], loaded[:1])                      # weights loaded outside the timings
    memo.SHARED = memo.SeparationMemo(max_bytes=0)        # reference: every system separates
    reference_s, reference = run_all(systems, loaded)
    memo.SHARED = memo.SeparationMemo()
    memo_s, memoised = run_all(systems, loaded)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(reference, memoised))
    print(f"{len(loaded)} mixtures, systems {', '.join(SYSTEMS)}")
    print("| | seconds | ratio |\n|---|---:|---:|")
    print(f"| each system separates (reference) | {reference_s:.1f} | 1.00 |")
    print(f"| shared memo | {memo_s:.1f} | {reference_s / memo_s:.2f}x faster |")
    print(f"largest difference between the estimates: {worst:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
