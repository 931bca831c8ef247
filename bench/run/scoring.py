"""Metric stage: score stored estimates with every requested metric, caching results.

Work is split by mixture: a task loads the mixture and references once, reads the
estimates of every system that still lacks a metric there, applies the stored speaker
permutation and the shared length rule, and returns rows.  Where tasks run is the
:class:`~bench.run.executors.Executor`'s business (inline, a process pool, Ray); every
worker builds its metrics once (:func:`set_up_worker`).  Only the driver writes to the
store, one transaction per mixture, so a kill loses at most the mixtures in flight.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.audio import read_audio
from bench.catalog import build_metric
from bench.metrics.base import Metric, MetricInput, TextCache, align_to_reference
from bench.paths import inside
from bench.progress import progress_bar
from bench.records import Mixture
from bench.run.executors import Executor, Worker
from bench.store import FAILED, UNAVAILABLE, MetricRow, StoredSeparation, Store

log = logging.getLogger(__name__)


@dataclass
class SystemWork:
    """The metrics one system still needs on one mixture, with its stored separation."""

    system_key: str
    separation: StoredSeparation
    metrics: tuple[str, ...]


@dataclass
class Task:
    mixture: Mixture
    work: list[SystemWork]
    #: ASR texts the store already holds for this mixture (see :class:`TextCache`)
    texts: dict[tuple[str, int, str], str] = field(default_factory=dict)
    #: system key -> declared bitrate, for per-mixture metrics
    nominal_kbps: dict[str, float | None] = field(default_factory=dict)


#: what a task returns: mixture id, (system key, row) pairs, and new ASR texts to store
TaskResult = tuple[str, list[tuple[str, MetricRow]], dict[tuple[str, int, str], str]]


_WORKER_METRICS: dict[str, Metric] = {}
_WORKER_CONTEXT: tuple[object, Path] | None = None


def set_up_worker(dataset, results_root: Path, metric_names: Sequence[str], threads: int,
                  device: str = "cpu") -> None:
    """Per-process setup: load each metric (and its models) once, on ``device``; limit math threads."""
    global _WORKER_CONTEXT
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a dependency, but metrics need not use it
        pass
    _WORKER_CONTEXT = (dataset, results_root)
    _WORKER_METRICS.clear()
    for name in metric_names:
        _WORKER_METRICS[name] = build_metric(name)
        _WORKER_METRICS[name].use_device(device)


def run_task(task: Task) -> TaskResult:
    """Compute one mixture's pending metrics; failures become ``failed`` rows, never crashes.

    Each metric sees all of the mixture's pending items at once (every source of
    every system), so batching metrics can fill one model call.  ASR-based metrics
    share texts through one :class:`TextCache` per task.
    """
    assert _WORKER_CONTEXT is not None, "worker not initialised"
    dataset, results_root = _WORKER_CONTEXT
    loaded = dataset.load(task.mixture)
    record = task.mixture
    cache = TextCache(task.texts)
    transcripts = tuple(record.transcripts) + (None,) * (loaded.sources.shape[0] - len(record.transcripts))
    out: list[tuple[str, MetricRow]] = []
    pending: dict[str, list[tuple[str, MetricInput]]] = {}
    for work in task.work:
        sep = work.separation
        try:
            estimates = [read_audio(inside(results_root, e.path, "estimate path"))[0] for e in sep.estimates]
        except Exception as exc:  # a deleted or corrupt estimate file fails its metrics, with the reason
            reason = f"cannot read estimate: {_one_line(exc)}"
            out += [(work.system_key, _state_row(record.mixture_id, j, _WORKER_METRICS[m], FAILED, reason))
                    for m in work.metrics for j in _source_indices(_WORKER_METRICS[m], loaded.sources.shape[0])]
            continue
        for j, reference in enumerate(loaded.sources):
            item = MetricInput(
                estimate=align_to_reference(estimates[sep.permutation[j]], reference.shape[-1]),
                reference=reference,
                mixture=loaded.mixture,
                sample_rate=record.sample_rate,
                mixture_id=record.mixture_id,
                source_index=j,
                system_key=work.system_key,
                transcript=transcripts[j],
                payload_bits=sep.payload_bits,
                mixture_seconds=sep.seconds,
                nominal_kbps=task.nominal_kbps.get(work.system_key),
                cache=cache,
                system_transcript=_system_transcript(sep.info, sep.permutation[j]),
            )
            for name in work.metrics:
                metric = _WORKER_METRICS[name]
                if metric.needs_system_transcript and item.system_transcript is None:
                    out.append((work.system_key, _state_row(record.mixture_id, j, metric, UNAVAILABLE,
                                                            "the system produces no transcripts")))
                elif metric.per == "mixture":
                    if j == 0:
                        item_m = MetricInput(**{**vars(item), "source_index": -1})
                        pending.setdefault(name, []).append((work.system_key, item_m))
                else:
                    pending.setdefault(name, []).append((work.system_key, item))
    for name, keyed in pending.items():
        out += _compute_many(_WORKER_METRICS[name], keyed)
    return record.mixture_id, out, cache.new


def _source_indices(metric: Metric, num_sources: int) -> range:
    return range(-1, 0) if metric.per == "mixture" else range(num_sources)


def _system_transcript(info: dict, index: int) -> str | None:
    """The system's own text for its ``index``-th estimate (``info["transcripts"]``), if it made one."""
    texts = (info or {}).get("transcripts")
    if isinstance(texts, list) and 0 <= index < len(texts) and isinstance(texts[index], str):
        return texts[index]
    return None


def _compute_many(metric: Metric, keyed: list[tuple[str, MetricInput]]) -> list[tuple[str, MetricRow]]:
    items = [item for _, item in keyed]
    try:
        results = metric.compute_many(items)
    except Exception as exc:  # a batch that fails as a whole fails each of its items
        results = [exc] * len(items)
    out: list[tuple[str, MetricRow]] = []
    for (system_key, item), values in zip(keyed, results):
        if isinstance(values, BaseException):
            log.warning("%s failed on %s/%d: %s", metric.name, item.mixture_id, item.source_index, _one_line(values))
            out.append((system_key, _state_row(item.mixture_id, item.source_index, metric, FAILED,
                                               _one_line(values))))
            continue
        out += [(system_key, MetricRow(item.mixture_id, item.source_index, metric.name, metric.version, fld,
                                       None if value is None or not np.isfinite(value) else float(value)))
                for fld, value in values.items()]
    return out


def _state_row(mixture_id: str, source_index: int, metric: Metric, status: str, reason: str) -> MetricRow:
    return MetricRow(mixture_id, source_index, metric.name, metric.version, "", None, status, reason)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def score(dataset, systems: Sequence[tuple[str, str]], metric_names: Sequence[str], store: Store,
          dataset_key: str, executor: Executor, threads: int = 1, device: str = "cpu") -> int:
    """Fill every missing (system, mixture, metric) value; returns the number of mixtures scored.

    ``systems`` are (name, system key) pairs.  Unavailable metrics are recorded as
    such (with the reason) for every estimate and retried on a later run.
    """
    metrics = {name: build_metric(name) for name in metric_names}
    runnable = []
    for name, metric in metrics.items():
        reason = metric.unavailable_reason()
        if reason is None:
            runnable.append(name)
            continue
        log.warning("metric %s unavailable: %s", name, reason)
        for _, system_key in systems:
            stored = store.done_mixtures(dataset_key, system_key)
            rows = [_state_row(m.mixture_id, j, metric, UNAVAILABLE, reason)
                    for m in dataset.mixtures if m.mixture_id in stored
                    for j in _source_indices(metric, m.num_sources)]
            store.add_metric_values(dataset_key, system_key, rows)

    tasks = _plan(dataset, systems, [metrics[n] for n in runnable], store, dataset_key)
    if not tasks:
        return 0
    bar = progress_bar(len(tasks), desc="metrics")

    def save(result: TaskResult) -> None:
        _save(store, dataset_key, result)
        bar.update(1)

    try:
        executor.map(scoring_worker(dataset, store, runnable, threads, device), tasks, save)
    finally:
        bar.close()
    return len(tasks)


def scoring_worker(dataset, store: Store, metric_names: Sequence[str], threads: int, device: str = "cpu") -> Worker:
    """The scoring :class:`Worker`: metrics built once per process (on ``device``), one :class:`Task` per call."""
    return Worker(set_up_worker, (dataset, store.root, tuple(metric_names), threads, device), run_task)


def _plan(dataset, systems, metrics: Sequence[Metric], store: Store, dataset_key: str) -> list[Task]:
    by_mixture: dict[str, list[SystemWork]] = {}
    for _, system_key in systems:
        done = {m.name: store.metric_done(dataset_key, system_key, m.name, m.version) for m in metrics}
        stored = store.done_mixtures(dataset_key, system_key)
        for mixture in dataset.mixtures:
            mid = mixture.mixture_id
            if mid not in stored:
                continue
            pending = tuple(m.name for m in metrics if mid not in done[m.name])
            if pending:
                sep = store.separation(dataset_key, system_key, mid)
                by_mixture.setdefault(mid, []).append(SystemWork(system_key, sep, pending))
    nominal = store.nominal_kbps()
    return [Task(m, by_mixture[m.mixture_id], store.transcripts(dataset_key, m.mixture_id), nominal)
            for m in dataset.mixtures if m.mixture_id in by_mixture]


def _save(store: Store, dataset_key: str, result: TaskResult) -> None:
    mixture_id, rows, texts = result
    store.add_transcripts(dataset_key, mixture_id, texts)
    by_system: dict[str, list[MetricRow]] = {}
    for system_key, row in rows:
        by_system.setdefault(system_key, []).append(row)
    for system_key, system_rows in by_system.items():
        store.add_metric_values(dataset_key, system_key, system_rows)


class BackgroundScorer:
    """Scores mixtures on the executor's workers while the separation stage keeps going.

    The runner hands over each batch right after its rows are committed, so metric
    workers (CPU) and system inference (device) overlap and the slower stage sets the
    pace.  The executor's stream bounds the tasks in flight: when metrics fall behind,
    ``submit`` waits, so memory stays flat.  Only this (driver) process writes to the
    store.  Metrics that are unavailable here are left to the final :func:`score` pass,
    which records their state.
    """

    def __init__(self, dataset, metric_names: Sequence[str], store: Store, dataset_key: str, executor: Executor,
                 threads: int, device: str = "cpu") -> None:
        self.store = store
        self.dataset_key = dataset_key
        self.by_id = {m.mixture_id: m for m in dataset.mixtures}
        metrics = {name: build_metric(name) for name in metric_names}
        self.runnable = tuple(n for n, m in metrics.items() if m.unavailable_reason() is None)
        self.nominal = store.nominal_kbps()
        self.bar = progress_bar(0, desc="metrics (alongside)")
        #: scoring tasks finished and stored (one per system and mixture)
        self.completed = 0
        self.stream = executor.stream(scoring_worker(dataset, store, self.runnable, threads, device), self._saved)

    def _saved(self, result: TaskResult) -> None:
        _save(self.store, self.dataset_key, result)
        self.bar.update(1)
        self.completed += 1

    def submit(self, system_key: str, mixture_ids: Sequence[str]) -> None:
        if not self.runnable:
            return
        if system_key not in self.nominal:  # registered after this scorer started
            self.nominal = self.store.nominal_kbps()
        for mid in mixture_ids:
            sep = self.store.separation(self.dataset_key, system_key, mid)
            task = Task(self.by_id[mid], [SystemWork(system_key, sep, self.runnable)],
                        self.store.transcripts(self.dataset_key, mid), dict(self.nominal))
            self.bar.total += 1
            self.bar.refresh()
            self.stream.submit(task)

    def close(self) -> None:
        """Wait for every submitted task and store its rows."""
        try:
            self.stream.close()
        finally:
            self.bar.close()
