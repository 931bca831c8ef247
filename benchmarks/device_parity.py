"""CPU vs CUDA: the same `bench run` on both devices, every stored value compared.

A user with a GPU must get the numbers a CPU run gives (up to float round-off), or the
tables would depend on where they were computed.  This runs ``bench run --device cpu``
and ``bench run --device cuda`` over the same systems, metrics and mixtures, then prints,
per (system, metric field), the largest absolute difference between the two runs, the
two means, and each run's inference seconds.  Not a test: it needs a CUDA machine.

    python benchmarks/device_parity.py --systems codesep,fstc@2,sepformer,codec@2 \
        --metrics bitrate,sisnri,stoi --limit 32 --out results/device_parity.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def run(device: str, args: argparse.Namespace, results: Path) -> float:
    """Wall seconds of one `bench run` on ``device`` (fresh process, fresh results dir)."""
    cmd = [sys.executable, "-m", "bench.cli", "run", "--systems", args.systems, "--metrics", args.metrics,
           "--device", device, "--results", str(results), "--quiet", "--jobs", str(args.jobs)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def frames(results: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Metric rows, separation rows, and estimate files (absolute paths) of one results dir."""
    from bench.store import open_existing

    store = open_existing(results)
    key = store.latest_dataset_key()
    assert key is not None
    metrics, seps = store.metric_frame(key), store.separation_frame(key)
    files = store.estimate_files(key)
    files["path"] = [str(store.resolve(p)) for p in files.path]
    store.close()
    return metrics, seps, files


def waveform_differences(files_cpu: pd.DataFrame, files_gpu: pd.DataFrame) -> pd.DataFrame:
    """Per system: the largest sample difference between the two devices' estimates, and its RMS."""
    import soundfile as sf

    joined = files_cpu.merge(files_gpu, on=["system", "mixture_id", "output_index"], suffixes=("_cpu", "_gpu"))
    rows = []
    for system, g in joined.groupby("system"):
        peak, sq, n = 0.0, 0.0, 0
        for a, b in zip(g.path_cpu, g.path_gpu):
            x, y = sf.read(a)[0], sf.read(b)[0]
            d = x - y
            peak, sq, n = max(peak, float(abs(d).max())), sq + float((d ** 2).sum()), n + d.size
        rows.append({"system": system, "files": len(g), "max_abs": peak, "rms": (sq / max(n, 1)) ** 0.5})
    return pd.DataFrame(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default="codesep,fstc@2,sepformer,codec@2")
    parser.add_argument("--metrics", default="bitrate,sisnri,stoi")
    parser.add_argument("--limit", type=int, default=0, help="first N mixtures (0: all)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=Path("results/device_parity.md"))
    args = parser.parse_args()
    import torch

    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    lines = [f"# CPU vs {args.device} ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"Command: `python benchmarks/device_parity.py --systems {args.systems} --metrics {args.metrics} "
             f"--limit {args.limit} --jobs {args.jobs}`", "",
             f"Machine: {os.cpu_count()} cores, {name}, torch {torch.__version__}", ""]
    with tempfile.TemporaryDirectory() as tmp:
        first, second = Path(tmp) / "first-cpu", Path(tmp) / "second"
        walls = {"cpu": run("cpu", args, first), args.device: run(args.device, args, second)}
        (m_cpu, s_cpu, f_cpu), (m_gpu, s_gpu, f_gpu) = frames(first), frames(second)
        waves = waveform_differences(f_cpu, f_gpu)
    keys = ["system", "mixture_id", "source_index", "metric", "field"]
    ok_cpu, ok_gpu = m_cpu[m_cpu.status == "ok"], m_gpu[m_gpu.status == "ok"]
    joined = ok_cpu.merge(ok_gpu, on=keys, suffixes=("_cpu", "_gpu"), how="outer", indicator=True)
    missing = joined[joined["_merge"] != "both"]
    both = joined[joined["_merge"] == "both"].copy()
    both["diff"] = (both["value_cpu"] - both["value_gpu"]).abs()
    lines += [f"Whole `bench run` wall time: cpu {walls['cpu']:.1f} s, {args.device} {walls[args.device]:.1f} s", "",
              "| system | metric | field | rows | mean cpu | mean " + args.device + " | max abs diff |",
              "|---|---|---|---:|---:|---:|---:|"]
    for (system, metric, field), g in both.groupby(["system", "metric", "field"]):
        lines.append(f"| {system} | {metric} | {field or '—'} | {len(g)} | {g.value_cpu.mean():.4f} | "
                     f"{g.value_gpu.mean():.4f} | {g['diff'].max():.2e} |")
    lines += ["", "Inference seconds summed over mixtures (stored runtime_s):", "",
              "| system | cpu | " + args.device + " |", "|---|---:|---:|"]
    rt_cpu, rt_gpu = s_cpu.groupby("system").runtime_s.sum(), s_gpu.groupby("system").runtime_s.sum()
    for system in rt_cpu.index:
        lines.append(f"| {system} | {rt_cpu[system]:.1f} | {rt_gpu.get(system, float('nan')):.1f} |")
    lines += ["", "Estimates (16-bit WAV files) compared sample by sample:", "",
              "| system | files | max abs diff | RMS diff |", "|---|---:|---:|---:|"]
    for row in waves.itertuples():
        lines.append(f"| {row.system} | {row.files} | {row.max_abs:.2e} | {row.rms:.2e} |")
    bits = s_cpu.merge(s_gpu, on=["system", "mixture_id"], suffixes=("_cpu", "_gpu"))
    same_bits = (bits.payload_bits_cpu.fillna(-1) == bits.payload_bits_gpu.fillna(-1)).all()
    lines += ["", f"Payload bit counts equal on both devices: {bool(same_bits)} ({len(bits)} separations); "
              f"metric rows present on one device only: {len(missing)}"]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
