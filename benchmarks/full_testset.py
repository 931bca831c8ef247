"""Estimate, from a timed sample, the wall time of the full Libri2Mix test protocol.

The protocol: every mixture of the test set (3000) through the seven systems of Tables 1
and 2 (``codesep, fcts@1, fstc@1, sepformer, fstc@2, fstc@4, fstc@8``) and every metric
that can run here.  Running it takes hours on a CPU, so this script times a few mixtures
and scales up:

* **inference**: ``bench run --no-metrics`` per system on the sample; the store's
  per-mixture ``runtime_s`` (model loading excluded) summed;
* **metrics**: one scoring worker (``--threads``), each metric timed on each sample
  mixture with every system's estimates in one task, as ``bench run`` batches them
  (ASR texts are shared between the ASR metrics through the task's text cache, as in a
  run); model loading is timed apart, once;
* **scaling**: by mixture count and, separately, by audio duration, to the full set:
  read from the tree's metadata when ``--data`` is a Libri2Mix tree, else
  ``--full-mixtures`` x ``--full-mean-seconds`` (default 3000 x 5.02 s = 4.19 h: the min-
  mode lengths of the 3000 test pairs in LibriMix's own metadata, i.e. the shorter of
  the two LibriSpeech test-clean utterances); the embedded mixtures are a little
  shorter (4.3 s on average), and most costs grow with length (DNSMOS with windows,
  Whisper not at all: it always encodes 30 s), so the two scalings bracket the truth;
* **wall time** with ``--jobs`` metric workers: inference runs in the driver while the
  workers score (``bench run`` overlaps them), so the wall time lies between
  ``max(inference, metrics / jobs)`` (perfect overlap) and their sum; both are printed.

    .venv/bin/python benchmarks/full_testset.py --sample 2 --jobs 2 --threads 1
    .venv/bin/python benchmarks/full_testset.py --data /data/LibriMix --sample 8 --device cuda --jobs 8

Not a test (timings depend on the machine and what else runs on it; the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

SYSTEMS = "codesep,fcts@1,fstc@1,sepformer,fstc@2,fstc@4,fstc@8"


def available_metrics(names: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """(metrics that can run here, ASR-based first so the first pays the recognition; name -> why not)."""
    from bench.catalog import build_metric, default_metrics

    chosen = names or default_metrics()
    ok, missing = [], {}
    for name in chosen:
        reason = build_metric(name).unavailable_reason()
        if reason is None:
            ok.append(name)
        else:
            missing[name] = reason
    asr = [n for n in ("dwer", "dcer", "wer", "cer", "tdwer") if n in ok]
    return asr + [n for n in ok if n not in asr], missing


def time_inference(dataset, store, systems: list[str], device: str) -> dict[str, float]:
    """Seconds of inference per system over the sample (stored ``runtime_s``: loading excluded)."""
    from bench.run.runner import RunRequest, run

    out = {}
    for name in systems:
        summary = run(RunRequest(systems=[name], metrics=[], device=device, metrics_enabled=False), dataset, store)
        frame = store.separation_frame(summary.dataset_key)
        out[name] = float(frame.loc[frame["system"] == name, "runtime_s"].sum())
        print(f"  inference {name}: {out[name]:.1f} s over {len(dataset)} mixtures", flush=True)
    return out


def time_metrics(dataset, store, metric_names: list[str], threads: int, device: str) -> tuple[dict, dict]:
    """(seconds per metric over the sample, seconds of model loading per metric)."""
    from bench.run import scoring

    dataset_key = dataset.fingerprint
    keys = store.system_keys(dataset_key)
    nominal = store.nominal_kbps()

    def task(mixture, name, texts):
        work = [scoring.SystemWork(key, store.separation(dataset_key, key, mixture.mixture_id), (name,))
                for key in keys.values()]
        return scoring.Task(mixture, work, dict(texts), nominal)

    start = time.perf_counter()
    scoring.set_up_worker(dataset, store.root, metric_names, threads, device)
    loading = {"(build)": time.perf_counter() - start}
    first = dataset.mixtures[0]
    for name in metric_names:  # lazy model loads happen at the first value: pay them here, untimed below
        start = time.perf_counter()
        scoring.run_task(scoring.Task(first, task(first, name, {}).work[:1], {}, nominal))
        loading[name] = time.perf_counter() - start
    spent = {name: 0.0 for name in metric_names}
    for mixture in dataset.mixtures:
        texts: dict = {}
        for name in metric_names:
            start = time.perf_counter()
            _, _, new_texts = scoring.run_task(task(mixture, name, texts))
            spent[name] += time.perf_counter() - start
            texts.update(new_texts)
    return spent, loading


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="embedded", help="embedded or a Libri2Mix root (sampled, seeded)")
    parser.add_argument("--sample", type=int, default=2, help="mixtures timed")
    parser.add_argument("--systems", default=SYSTEMS)
    parser.add_argument("--metrics", help="default: every registered metric that can run here")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)), help="metric workers assumed")
    parser.add_argument("--threads", type=int, default=1, help="math threads of the timed metric worker")
    parser.add_argument("--full-mixtures", type=int, default=3000)
    parser.add_argument("--full-mean-seconds", type=float, default=5.02,
                        help="mean mixture length of the full set (Libri2Mix test, min mode: 5.02 s)")
    args = parser.parse_args()

    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    from bench.data.libri2mix import DatasetSpec, open_dataset
    from bench.store import Store

    torch.set_num_threads(args.threads)
    root = None if args.data == "embedded" else Path(args.data)
    dataset = open_dataset(DatasetSpec(root=root, limit=args.sample, subset_seed=0))
    sample_seconds = sum(m.seconds for m in dataset.mixtures)
    if root is not None:
        full = open_dataset(DatasetSpec(root=root)).mixtures
        full_count, full_seconds = len(full), sum(m.seconds for m in full)
    else:
        full_count = args.full_mixtures
        full_seconds = full_count * args.full_mean_seconds
    metric_names, missing = available_metrics(args.metrics.split(",") if args.metrics else None)
    systems = args.systems.split(",")
    print(f"load average {os.getloadavg()[0]:.2f}; sample: {len(dataset)} mixtures, {sample_seconds:.1f} s "
          f"(mean {sample_seconds / len(dataset):.2f} s); full set: {full_count} mixtures, "
          f"{full_seconds / 3600:.2f} h; device {args.device}, threads {args.threads}, jobs {args.jobs}", flush=True)
    for name, reason in missing.items():
        print(f"  not timed (cannot run here): {name}: {reason}")

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "results")
        inference = time_inference(dataset, store, systems, args.device)
        spent, loading = time_metrics(dataset, store, metric_names, args.threads, args.device)

    by_count, by_length = full_count / len(dataset), full_seconds / sample_seconds
    print(f"\nscaled to the full set by mixture count (x{by_count:.0f}) and by audio length (x{by_length:.0f}):")
    print(f"  {'component':<24} {'sample s':>9} {'full h':>8} {'full h':>8}")
    print(f"  {'':<24} {'':>9} {'(count)':>8} {'(length)':>8}")
    rows = {**{f"inference {k}": v for k, v in inference.items()}, **{f"metric {k}": v for k, v in spent.items()}}
    rows["inference, total"] = sum(inference.values())
    rows["metrics, one worker"] = sum(spent.values())
    for name, seconds in rows.items():
        print(f"  {name:<24} {seconds:9.1f} {seconds * by_count / 3600:8.2f} {seconds * by_length / 3600:8.2f}")
    print(f"  warm-up per metric worker (model loading, first task): {sum(loading.values()):.1f} s "
          f"({', '.join(f'{k} {v:.1f}' for k, v in loading.items())})")
    for label, scale in (("count", by_count), ("length", by_length)):
        infer_h = sum(inference.values()) * scale / 3600
        metric_h = sum(spent.values()) * scale / 3600
        low, high = max(infer_h, metric_h / args.jobs), infer_h + metric_h / args.jobs
        print(f"estimated wall time, scaled by {label}, --jobs {args.jobs} --threads {args.threads} on {args.device}: "
              f"{low:.1f} h (inference and metrics overlapped) to {high:.1f} h (one after the other)")

if __name__ == "__main__":
    main()
