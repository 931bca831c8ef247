"""``bench run``: separation for each system, then metrics, all resumable.

The runner only orchestrates: the dataset yields mixtures, ``bench.run.separation``
stores what systems produce, ``bench.run.scoring`` stores what metrics say.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Sequence

from bench.catalog import build_system
from bench.config import BenchConfig, resolve_system_spec
from bench.run.manifest import build_manifest
from bench.errors import BenchError
from bench.run.estimate_check import damaged_estimates
from bench.run.executors import Executor, make_executor
from bench.run.parallelism import Parallelism
from bench.run.scoring import BackgroundScorer, score
from bench.run.separation import separate
from bench.run.sharding import ShardView
from bench.store import Store

log = logging.getLogger(__name__)


@dataclass
class RunRequest:
    """Everything ``bench run`` was asked to do (the CLI builds it from arguments)."""

    systems: Sequence[str]
    metrics: Sequence[str]
    device: str = "cpu"
    jobs: int = 1
    threads: int = 1
    argv: list[str] = field(default_factory=list)
    #: stop after separation (``--no-metrics``); ``bench score`` fills the metrics later
    metrics_enabled: bool = True
    #: (k, n): this run handles the k-th of n round-robin slices of the dataset
    shard: tuple[int, int] | None = None
    #: "local" (this process + a metric worker pool) or "ray" (tasks on a Ray cluster); see
    #: :func:`~bench.run.executors.make_executor`
    executor: str = "local"
    #: Ray cluster address (None: start a local Ray instance)
    ray_address: str | None = None
    #: how ``jobs``/``threads`` were chosen (the CLI's defaults from the usable cores); recorded in the manifest
    parallelism: Parallelism | None = None

    def parallel(self) -> Parallelism:
        return self.parallelism or Parallelism(self.jobs, self.threads, self.jobs * self.threads)


@dataclass
class RunSummary:
    run_id: str
    run_dir: Path
    dataset_key: str
    separated: dict[str, int]
    scored: int


def new_run_dir(store: Store) -> tuple[str, Path]:
    run_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    run_dir = store.root / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_id, run_dir


def run(request: RunRequest, dataset, store: Store, config: BenchConfig | None = None) -> RunSummary:
    """Run every system on every mixture, then every metric; skips what is already stored."""
    config = config or BenchConfig()
    full_dataset = dataset
    if request.shard is not None:
        dataset = ShardView(dataset, *request.shard)
    specs = [resolve_system_spec(name, config) for name in request.systems]
    systems = [build_system(spec, device=request.device, sample_rate=dataset.mixtures[0].sample_rate
                            if len(dataset) else 16000) for spec in specs]
    dataset_key = dataset.fingerprint
    keyed = [(system, system.key()) for system in systems]

    run_id, run_dir = new_run_dir(store)
    handler = logging.FileHandler(run_dir / "bench.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        manifest = build_manifest(
            request.argv, dataset,
            [{"name": s.name, "key": k, "config": s.config(), "nominal_kbps": s.nominal_kbps} for s, k in keyed],
            list(request.metrics) if request.metrics_enabled else [], request.device, request.jobs,
        )
        manifest["shard"] = list(request.shard) if request.shard else None
        manifest["parallelism"] = request.parallel().manifest()
        log.info("scoring on %s", request.parallel().describe())
        (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        store.start_run(run_id, manifest)
        # the key names the whole order (every --limit and shard of it files rows under it), so it is
        # registered with the order's size and without the limit: every run's row is identical
        register_dataset(store, full_dataset)
        separated: dict[str, int] = {}
        executor = _executor(request)
        # with metric workers to spare, score each stored batch while inference goes on
        alongside = None
        if request.metrics_enabled and executor.overlaps_separation:
            alongside = BackgroundScorer(dataset, request.metrics, store, dataset_key, executor, request.threads,
                                         request.device)
        try:
            for spec, (system, key) in zip(specs, keyed):
                store.register_system(key, system.name, system.family, system.config(), system.nominal_kbps)
                separated[system.name] = separate(executor, dataset, spec, system, key, dataset_key, store,
                                                  request.device, on_stored=alongside.submit if alongside else None)
                log.info("%s (%s): separated %d new mixtures", system.name, key, separated[system.name])
        finally:
            if alongside is not None:
                alongside.close()
        scored = alongside.completed if alongside is not None else 0
        if request.metrics_enabled:
            scored += score(dataset, [(s.name, k) for s, k in keyed], request.metrics, store, dataset_key,
                            executor, threads=request.threads, device=request.device)
        store.finish_run(run_id)
        return RunSummary(run_id, run_dir, dataset_key, separated, scored)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def score_stored(request: RunRequest, dataset, store: Store) -> int:
    """``bench score``: metrics for estimates already in the store (no system is loaded).

    ``request.systems`` empty means every system stored for this dataset; each name
    maps to its most recent system key on the dataset.
    """
    register_dataset(store, dataset)  # the whole order's row, and what an older bench stored for its subsets
    if request.shard is not None:
        dataset = ShardView(dataset, *request.shard)
    dataset_key = dataset.fingerprint
    keys = store.system_keys(dataset_key)
    if not keys:
        raise BenchError(f"{store.db_path}: no stored estimates for dataset {dataset.name}; run `bench run` first")
    names = list(request.systems) or list(keys)
    missing = [n for n in names if n not in keys]
    if missing:
        raise BenchError(f"no stored estimates for {', '.join(missing)} on {dataset.name}; stored: {', '.join(keys)}")
    executor = _executor(request)
    damaged = drop_damaged(store, dataset, dataset_key, {n: keys[n] for n in names})
    scored = score(dataset, [(n, keys[n]) for n in names], request.metrics, store, dataset_key, executor,
                   threads=request.threads, device=request.device)
    if damaged:
        systems = ",".join(sorted(damaged))
        raise BenchError(f"scored {scored} mixtures, but {sum(damaged.values())} stored estimate(s) of {systems} "
                         f"were missing or damaged and have been dropped; `bench run --systems {systems}` "
                         "with the same data options separates them again")
    return scored


def _executor(request: RunRequest) -> Executor:
    """The executor a request asks for, started (a Ray cluster joined) before any work."""
    executor = make_executor(request.executor, request.jobs, request.ray_address)
    executor.start()
    return executor


def drop_damaged(store: Store, dataset, dataset_key: str, keys: dict[str, str]) -> dict[str, int]:
    """Forget stored separations whose estimate files are missing or damaged (one warning each system).

    ``bench score`` loads no system, so it cannot redo them itself; it scores the rest and
    says which ``bench run`` will.  Returns system name -> how many were dropped.
    """
    dropped: dict[str, int] = {}
    ids = [m.mixture_id for m in dataset.mixtures]
    for name, key in keys.items():
        damaged = damaged_estimates(store, dataset_key, key, ids)
        if damaged:
            log.warning("%s: %d stored estimate(s) missing or damaged, dropped (first: %s)", name, len(damaged),
                        next(iter(damaged.values())))
            store.forget_separations(dataset_key, key, damaged)
            dropped[name] = len(damaged)
    return dropped


def register_dataset(store: Store, dataset) -> None:
    """Register the dataset's key (the whole order) and adopt what earlier benches stored for its subsets."""
    store.register_dataset(dataset.fingerprint, dataset.name, _spec_dict(dataset), dataset.total)
    adopt_earlier_subsets(store, dataset)


def adopt_earlier_subsets(store: Store, dataset) -> int:
    """Results a ``--limit n`` run stored before subsets nested, under a key of their own, move under
    the dataset's key (see :meth:`~bench.store.Store.adopt_dataset`), so they are reused and reported
    with the rest.  A registered dataset is adopted only when its key is the one the first n mixtures
    of this order had (same CSV, options and order), never on a name's say-so.  Returns how many
    separations moved.
    """
    moved = 0
    for info in store.datasets():
        limit = info.spec.get("limit")
        if info.key == dataset.fingerprint or not isinstance(limit, int) or limit < 1:
            continue
        if dataset.prefix_fingerprint(limit) == info.key:
            n = store.adopt_dataset(info.key, dataset.fingerprint)
            log.warning("%s: adopted %d stored separations of %s (stored before subsets nested) as the first %d "
                        "of %s", store.db_path, n, info.name, limit, dataset.name)
            moved += n
    return moved


def _spec_dict(dataset) -> dict:
    """The dataset's spec as stored with its key: without ``limit``, which selects within the key."""
    spec = getattr(dataset, "spec", None)
    if spec is None:
        return {}
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(spec).items() if k != "limit"}
