"""``--executor ray``: the same separation and scoring work, spread over a Ray cluster.

Ray is the engine (no scheduler of our own): separation runs as one task per
(system, chunk of mixtures), with a GPU per task when ``--device`` is CUDA; scoring runs
as one task per chunk of mixtures.  Workers only compute; the driver writes every
estimate file and row, so the store keeps a single writer and the same atomicity as a
local run.  Workers read the dataset and the stored estimates by path, so on a real
cluster the data and ``--results`` directory must be on a shared filesystem.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from bench.errors import BenchError

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 8
_SYSTEMS: dict[tuple, Any] = {}


def require_ray():
    try:
        import ray
    except ImportError:
        raise BenchError("--executor ray needs the 'ray' package (pip install 'jsac-bench[ray]')") from None
    return ray


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` or start a local one (loopback only)."""
    ray = require_ray()
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "runtime_env": {"env_vars": {"OMP_NUM_THREADS": "1"}}}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, _node_ip_address="127.0.0.1", **kwargs)


def _separate_chunk(spec, device: str, sample_rate: int, dataset, chunk) -> tuple[list, str | None]:
    """Remote: build (once per worker) and run the system on a chunk; returns Computed items."""
    from bench.catalog import build_system
    from bench.run.separation import chunks, compute_batch, load_until_error

    key = (spec.name, spec.family, spec.kbps, repr(sorted(spec.options.items())), device, sample_rate)
    if key not in _SYSTEMS:
        _SYSTEMS[key] = build_system(spec, device=device, sample_rate=sample_rate)
    system = _SYSTEMS[key]
    loaded, error = load_until_error(dataset, chunk)
    computed = []
    for batch in chunks(loaded, system.max_batch_size):
        computed += compute_batch(system, batch)
    return computed, None if error is None else str(error)


def _score_chunk(dataset, results_root, metric_names: Sequence[str], threads: int, tasks) -> list:
    """Remote: run scoring tasks with metrics built once per worker process."""
    from bench import scoring

    context = (id(dataset), str(results_root), tuple(metric_names))
    if getattr(scoring, "_RAY_CONTEXT", None) != context:
        scoring._init_worker(dataset, results_root, metric_names, threads)
        scoring._RAY_CONTEXT = context
    return [scoring.run_task(task) for task in tasks]


def _drain(refs: list, handle: Callable[[Any], None], submit_more: Callable[[], Any | None]) -> None:
    ray = require_ray()
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        handle(ray.get(done[0]))
        nxt = submit_more()
        if nxt is not None:
            pending.append(nxt)


def separate_on_ray(dataset, spec, system, system_key: str, dataset_key: str, store, device: str,
                    chunk_size: int = DEFAULT_CHUNK) -> int:
    """Separation of every pending mixture as Ray tasks; the driver stores results as they arrive."""
    from bench.progress import progress_bar
    from bench.run.separation import chunks, pending_mixtures, remove_stale_temporaries, store_computed

    ray = require_ray()
    pending = pending_mixtures(dataset, store, dataset_key, system_key, system.name)
    if not pending:
        return 0
    out_dir = store.audio_dir(system.name, system_key, dataset_key)
    remove_stale_temporaries(out_dir)
    gpus = 1 if device.startswith("cuda") else 0
    remote = ray.remote(num_gpus=gpus)(_separate_chunk)
    dataset_ref = ray.put(dataset)
    work = iter(chunks(pending, max(chunk_size, system.max_batch_size)))
    errors: list[str] = []
    bar = progress_bar(len(pending), desc=f"separate {system.name} (ray)")

    def submit():
        chunk = next(work, None)
        return None if chunk is None else remote.remote(spec, device, system.sample_rate, dataset_ref, list(chunk))

    def handle(result) -> None:
        computed, error = result
        if computed:
            store_computed(computed, out_dir, store, dataset_key, system_key)
            bar.update(len(computed))
        if error:
            errors.append(error)

    width = max(2, int(ray.available_resources().get("CPU", 2)) * 2)
    try:
        _drain([r for r in (submit() for _ in range(width)) if r is not None], handle, submit)
    finally:
        bar.close()
    if errors:
        raise BenchError(errors[0])
    return len(pending)


def score_tasks_on_ray(dataset, store, metric_names: Sequence[str], tasks: Sequence, save: Callable[[Any], None],
                       threads: int, bar, chunk_size: int = DEFAULT_CHUNK) -> None:
    """Scoring tasks as Ray tasks; ``save`` (the driver) writes each task's rows."""
    ray = require_ray()
    remote = ray.remote(_score_chunk)
    dataset_ref = ray.put(dataset)
    work = iter([tasks[i:i + chunk_size] for i in range(0, len(tasks), chunk_size)])

    def submit():
        chunk = next(work, None)
        return None if chunk is None else remote.remote(dataset_ref, store.root, tuple(metric_names), threads,
                                                        list(chunk))

    def handle(results) -> None:
        for result in results:
            save(result)
            bar.update(1)

    width = max(2, int(ray.available_resources().get("CPU", 2)) * 2)
    _drain([r for r in (submit() for _ in range(width)) if r is not None], handle, submit)
