"""Throughput, overhead and memory of `bench run` / `bench report`, measured side by side.

Prints, in one run, on the embedded set scaled up (each mixture repeated under new IDs
until there are ``--mixtures``):

  * naive loop: the same metric work as a plain Python loop (load, compute every metric
    on every source, no store, no cache), with the time spent in each metric;
  * `bench run --systems clean` with all the metrics, ``--jobs 1`` and ``--jobs 2``:
    mixtures/s, peak memory (RSS of the run), and ratios against the naive loop and
    against the sum of the individual metric costs (target: within 1.3x);
  * inference throughput per system (`bench run --no-metrics`), for the systems given;
  * `bench report` over a synthetic store of 10 systems x 3000 mixtures (target < 2 s).

and writes the same numbers to ``results/perf.md`` (``--out``).  Not a test: timings
depend on the machine and on what else runs on it (the load average is recorded).

    .venv/bin/python benchmarks/perf.py --mixtures 500
    .venv/bin/python benchmarks/perf.py --mixtures 128 --systems mixture,clean,sepformer,fstc@2,codesep
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

DEFAULT_METRICS = "sisnri,sisdr,stoi,estoi,dnsmos,bitrate"


def scaled_tree(out: Path, mixtures: int) -> Path:
    """A Libri2Mix tree whose CSV lists the embedded mixtures repeatedly under new IDs."""
    from bench.data.libri2mix import DatasetSpec, open_dataset

    base = open_dataset(DatasetSpec())
    meta = out / "Libri2Mix" / "wav16k" / "min" / "metadata"
    meta.mkdir(parents=True)
    with open(meta / "mixture_test_mix_clean.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["mixture_ID", "mixture_path", "source_1_path", "source_2_path", "length"])
        for i in range(mixtures):
            m = base.mixtures[i % len(base.mixtures)]
            writer.writerow([f"{m.mixture_id}-r{i // len(base.mixtures)}", m.mixture_path, *m.source_paths,
                             m.num_samples])
    return out


def base_id(mixture_id: str) -> str:
    """The embedded mixture a scaled-up copy repeats (``<id>-r<k>`` -> ``<id>``)."""
    return mixture_id.rsplit("-r", 1)[0]


def naive_loop(tree: Path, metric_names: list[str], threads: int,
               distinct: bool) -> tuple[float, dict[str, float], int]:
    """The same work without the harness: every metric on every (clean) source, one by one.

    Runs with ``threads`` math threads, as each `bench run` metric worker does
    (``--threads``, default 1), so the two are compared at equal resources.  With
    ``distinct`` each repeated mixture is timed once and its cost counted for every copy:
    the copies are the same audio, so the sum is the full list's cost without computing
    it seven times over.  Returns (seconds, seconds per metric, mixtures counted).
    """
    from threadpoolctl import threadpool_limits
    import torch

    from bench.catalog import build_metric
    from bench.data.libri2mix import DatasetSpec, open_dataset
    from bench.metrics.base import MetricInput

    saved_env, saved_torch = os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()
    os.environ["OMP_NUM_THREADS"] = str(threads)          # read by DNSMOS's ONNX session at build time
    torch.set_num_threads(threads)
    try:
        dataset = open_dataset(DatasetSpec(root=tree))
        metrics = [build_metric(n) for n in metric_names]
        metrics = [m for m in metrics if m.unavailable_reason() is None]
        copies: dict[str, int] = {}
        for mixture in dataset.mixtures:
            copies[base_id(mixture.mixture_id)] = copies.get(base_id(mixture.mixture_id), 0) + 1
        spent = {m.name: 0.0 for m in metrics}
        total = 0.0
        seen: set[str] = set()
        with threadpool_limits(limits=threads):
            for mixture in dataset.mixtures:
                key = base_id(mixture.mixture_id)
                if distinct and key in seen:
                    continue
                seen.add(key)
                weight = copies[key] if distinct else 1
                start = time.perf_counter()
                item = dataset.load(mixture)
                for j, ref in enumerate(item.sources):
                    inp = MetricInput(estimate=ref, reference=ref, mixture=item.mixture,
                                      sample_rate=mixture.sample_rate, mixture_id=mixture.mixture_id,
                                      source_index=j, payload_bits=None, mixture_seconds=mixture.seconds,
                                      nominal_kbps=None)
                    for metric in metrics:
                        if metric.per == "mixture" and j > 0:
                            continue
                        t0 = time.perf_counter()
                        metric.compute(inp)
                        spent[metric.name] += weight * (time.perf_counter() - t0)
                total += weight * (time.perf_counter() - start)
    finally:
        torch.set_num_threads(saved_torch)
        if saved_env is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved_env
    return total, spent, len(dataset)


#: Runs a command and writes its peak RSS (KiB) to argv[1].  Linux carries a process's memory
#: high-water mark through fork and exec, so a child forked straight from this (large) process
#: would report this process's RSS; a freshly exec'd launcher is small, and its child is not.
LAUNCHER = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[2:]); _, status, usage = os.wait4(p.pid, 0); "
            "open(sys.argv[1], 'w').write(str(usage.ru_maxrss)); sys.exit(os.waitstatus_to_exitcode(status))")


def bench_cli(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `bench` command in a fresh process.

    The peak is that of the run's largest process (its metric workers included: a
    child's usage counts its own waited-for children).
    """
    rss_file = cwd / "peak_rss_kib"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, str(rss_file), sys.executable, "-m", "bench.cli", *args],
                          cwd=cwd, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench {' '.join(args)} failed with exit status {proc.returncode}")
    return wall, int(rss_file.read_text()) / 1024.0


def synthetic_store(root: Path, systems: int = 10, mixtures: int = 3000) -> None:
    from bench.store import MetricRow, StoredSeparation, Store

    store = Store(root)
    rng = np.random.default_rng(0)
    dk = "f" * 64
    store.register_dataset(dk, "synthetic-3000", {}, mixtures)
    fields = [("sisnri", "db"), ("sisnri", "capped"), ("dnsmos", "p808"), ("dnsmos", "ovrl"), ("dnsmos", "sig"),
              ("dnsmos", "bak"), ("stoi", ""), ("estoi", ""), ("dwer", ""), ("dwer", "errors"), ("dwer", "ref_len")]
    for s in range(systems):
        key = f"{s:016x}"
        store.register_system(key, f"system{s}", "synthetic", {}, 1.0)
        store.add_separations(dk, key, [StoredSeparation(f"m{i}", 5.0, 5000, 0.1, (0, 1), (), {})
                                        for i in range(mixtures)])
        store.add_metric_values(dk, key, [MetricRow(f"m{i}", j, m, "1", f, float(rng.random()))
                                          for i in range(mixtures) for j in range(2) for m, f in fields])
    store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixtures", type=int, default=500)
    parser.add_argument("--metrics", default=DEFAULT_METRICS)
    parser.add_argument("--systems", default="mixture,clean", help="systems for the inference throughput")
    parser.add_argument("--device", default="cpu", help="device for the inference section (cpu or cuda)")
    parser.add_argument("--threads", type=int, default=1, help="math threads per metric worker (bench run --threads)")
    parser.add_argument("--naive", choices=("distinct", "full"), default="distinct",
                        help="time each distinct mixture once and count it per copy, or run every copy")
    parser.add_argument("--sections", default="metrics,inference,report",
                        help="which sections to run (comma-separated subset of metrics,inference,report; "
                             "'naive' alone: only the naive loop of the metrics section)")
    parser.add_argument("--out", type=Path, default=Path("results/perf.md"))
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    metric_names = args.metrics.split(",")
    lines = [f"# Performance ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"Command: `python benchmarks/perf.py --mixtures {args.mixtures} --metrics {args.metrics} "
             f"--systems {args.systems} --device {args.device} --sections {args.sections} --threads {args.threads} "
             f"--naive {args.naive}`", "",
             f"Machine: {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.2f} "
             "(other work on the machine slows every number alike)", ""]

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tree = scaled_tree(work / "data", args.mixtures)
        n = args.mixtures
        if sections & {"metrics", "naive"}:
            run_metric_section(tree, args, metric_names, work, say, with_bench="metrics" in sections)
        if "inference" in sections:
            say(f"## Inference (`bench run --no-metrics --device {args.device}`)")
            say("")
            say("| system | seconds | mixtures/s | peak RSS (MiB) |")
            say("|---|---:|---:|---:|")
            for system in args.systems.split(","):
                wall, peak = bench_cli(["run", "--systems", system, "--no-metrics", "--data", str(tree), "--quiet",
                                        "--device", args.device, "--results", str(work / f"inf-{system}")], work)
                say(f"| {system} | {wall:.1f} | {n / wall:.2f} | {peak:.0f} |")
            say("")
        if "report" in sections:
            run_report_section(work, say)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"\nwrote {args.out}")
    return 0


def run_metric_section(tree: Path, args: argparse.Namespace, metric_names: list[str], work: Path,
                       say: Callable[[str], None], with_bench: bool = True) -> None:
    """Naive loop vs `bench run --jobs 1|2` over the same metric work."""
    naive_s, spent, n = naive_loop(tree, metric_names, args.threads, args.naive == "distinct")
    metric_sum = sum(spent.values())
    say(f"## Metrics: `clean` x {n} mixtures, metrics {args.metrics}")
    say("")
    say("| what | seconds | mixtures/s | peak RSS (MiB) | vs naive loop | vs sum of metric costs |")
    say("|---|---:|---:|---:|---:|---:|")
    label = "naive loop" + (" (each distinct mixture timed once, counted per copy)" if args.naive == "distinct" else "")
    say(f"| {label}, {args.threads} thread(s) | {naive_s:.1f} | {n / naive_s:.2f} | — | 1.00 | "
        f"{naive_s / metric_sum:.2f} |")
    base = ["run", "--systems", "clean", "--metrics", args.metrics, "--data", str(tree), "--quiet",
            "--threads", str(args.threads)]
    for jobs in ((1, 2) if with_bench else ()):
        wall, peak = bench_cli([*base, "--jobs", str(jobs), "--results", str(work / f"r{jobs}")], work)
        say(f"| bench run --jobs {jobs} | {wall:.1f} | {n / wall:.2f} | {peak:.0f} | {wall / naive_s:.2f} | "
            f"{wall / metric_sum:.2f} |")
    say("")
    say("Individual metric costs (naive loop): " + ", ".join(f"{k} {v:.1f} s" for k, v in spent.items()) +
        f"; sum {metric_sum:.1f} s")
    say("")


def run_report_section(work: Path, say: Callable[[str], None]) -> None:
    """`bench report` over a synthetic store of 10 systems x 3000 mixtures."""
    synthetic_store(work / "big")
    wall, _ = bench_cli(["report", "--results", str(work / "big"), "--quiet"], work)
    from bench.report.plain import build_plain_report
    from bench.store import Store

    start = time.perf_counter()
    build_plain_report(Store(work / "big"))
    inproc = time.perf_counter() - start
    say("## Report over 10 systems x 3000 mixtures (660,000 stored values)")
    say("")
    say(f"`bench report`: {wall:.2f} s wall including interpreter start and imports; "
        f"the aggregation itself {inproc:.2f} s (target < 2 s)")
    # one system on a smaller subset: every value is then taken over the 2000 mixtures all share
    store = Store(work / "big")
    store.forget_separations("f" * 64, f"{0:016x}", [f"m{i}" for i in range(2000, 3000)])
    start = time.perf_counter()
    report = build_plain_report(store)
    mixed = time.perf_counter() - start
    say(f"With system0 on 2000 of the mixtures (the others on 3000): {mixed:.2f} s ({report.coverage.note()})")


if __name__ == "__main__":
    sys.exit(main())
