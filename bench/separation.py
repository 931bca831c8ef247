"""Separation stage: run one system over a dataset and store estimates and payloads.

For each pending mixture (resumable: finished ones are skipped) the stage loads the
audio, calls the system, brings estimates back to the dataset rate, resolves the PIT
permutation once, writes the estimate files atomically and then commits the rows.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterator, Sequence, TypeVar

import numpy as np

from bench.audio import resample, write_audio_atomic
from bench.errors import BenchError
from bench.metrics.sisnr import best_permutation
from bench.progress import progress_bar
from bench.records import LoadedMixture, Mixture, Separation, stream_bits
from bench.store import EstimateRow, SeparationRow, Store
from bench.system import System

log = logging.getLogger(__name__)
T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start:start + max(1, size)]


def system_input(item: LoadedMixture, system: System) -> LoadedMixture:
    """What the system may see: the mixture at its own rate, references only for oracles."""
    rate = item.record.sample_rate
    mixture = resample(item.mixture, rate, system.sample_rate)
    sources = None
    if system.needs_references:
        sources = resample(item.sources, rate, system.sample_rate)
    return LoadedMixture(record=item.record, mixture=mixture, sources=sources)


def check_separation(system: System, item: LoadedMixture, result: Separation) -> np.ndarray:
    """Validate a system's output; a malformed result is a bug in that system, named as such."""
    est = np.asarray(result.estimates, dtype=np.float32)
    expected = item.record.num_sources
    if est.ndim != 2 or est.shape[0] != expected:
        raise BenchError(f"system {system.name!r} returned estimates of shape {est.shape} for "
                         f"{item.record.mixture_id}; expected [{expected}, T]")
    if not np.all(np.isfinite(est)):
        raise BenchError(f"system {system.name!r} returned non-finite samples for {item.record.mixture_id}")
    return est


def separate_dataset(dataset, system: System, system_key: str, dataset_key: str, store: Store) -> int:
    """Separate every mixture not yet stored for this (system, dataset); returns how many were done."""
    done = store.done_mixtures(dataset_key, system_key)
    pending: list[Mixture] = [m for m in dataset.mixtures if m.mixture_id not in done]
    if not pending:
        log.info("%s: all %d mixtures cached", system.name, len(dataset.mixtures))
        return 0
    out_dir = store.audio_dir(system.name, system_key, dataset_key)
    remove_stale_temporaries(out_dir)
    bar = progress_bar(len(pending), desc=f"separate {system.name}")
    try:
        for batch in chunks(pending, system.max_batch_size):
            loaded, load_error = _load_until_error(dataset, batch)
            if loaded:
                _separate_batch(system, loaded, out_dir, store, dataset_key, system_key)
                bar.update(len(loaded))
            if load_error is not None:
                raise load_error
    finally:
        bar.close()
    return len(pending)


def _load_until_error(dataset, batch: Sequence[Mixture]) -> tuple[list[LoadedMixture], BenchError | None]:
    """Load a batch; on bad input, return what loaded before it so that work is still stored."""
    loaded = []
    for mixture in batch:
        try:
            loaded.append(dataset.load(mixture))
        except BenchError as exc:
            return loaded, exc
    return loaded, None


def _separate_batch(system: System, loaded: list[LoadedMixture], out_dir: Path, store: Store, dataset_key: str,
                    system_key: str) -> None:
    """Separate loaded mixtures, write their estimates, then commit their rows together."""
    inputs = [system_input(item, system) for item in loaded]
    start = time.perf_counter()
    results = _call_system(system, inputs)
    elapsed = time.perf_counter() - start
    if len(results) != len(inputs):
        raise BenchError(f"system {system.name!r} returned {len(results)} results for {len(inputs)} mixtures")
    total_samples = sum(item.record.num_samples for item in loaded)
    rows = []
    for item, result in zip(loaded, results):
        share = elapsed * item.record.num_samples / total_samples  # batch time split by length
        rows.append(_store_one(item, result, system, out_dir, store, share))
    store.add_separations(dataset_key, system_key, rows)


def _call_system(system: System, inputs: Sequence[LoadedMixture]) -> list[Separation]:
    """Run the system; its own crash becomes one line naming it (traceback in the run log)."""
    try:
        return system.separate(inputs)
    except BenchError:
        raise
    except Exception as exc:
        ids = inputs[0].record.mixture_id + (f" (+{len(inputs) - 1} more in the batch)" if len(inputs) > 1 else "")
        # INFO: the traceback goes to the run log file; the console gets the one-line error below
        log.info("system %s failed on %s", system.name, [item.record.mixture_id for item in inputs], exc_info=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise BenchError(f"system {system.name!r} failed on {ids}: {type(exc).__name__}: {first} "
                         "(traceback in the run log)") from None


def remove_stale_temporaries(out_dir: Path) -> None:
    """Delete temporary files a killed run left mid-write (they never have a row)."""
    if out_dir.exists():
        for stale in out_dir.rglob(".tmp-*"):
            stale.unlink(missing_ok=True)


def _store_one(item: LoadedMixture, result: Separation, system: System, out_dir, store: Store,
               runtime_s: float) -> SeparationRow:
    record = item.record
    est = check_separation(system, item, result)
    est = resample(est, system.sample_rate, record.sample_rate)
    permutation = best_permutation(est, item.sources)
    streams = list(result.payload) if result.payload is not None else None
    per_output_bits: list[int | None] = [None] * est.shape[0]
    if streams is not None and len(streams) == est.shape[0]:
        per_output_bits = [stream_bits(s) for s in streams]
    estimates = []
    for k in range(est.shape[0]):
        path = out_dir / record.mixture_id / f"s{k + 1}.wav"
        write_audio_atomic(path, est[k], record.sample_rate)
        estimates.append(EstimateRow(k, store.relative(path), est.shape[1] / record.sample_rate,
                                     record.sample_rate, per_output_bits[k]))
    return SeparationRow(
        mixture_id=record.mixture_id,
        seconds=record.seconds,
        payload_bits=None if streams is None else sum(stream_bits(s) for s in streams),
        runtime_s=runtime_s,
        permutation=permutation,
        estimates=tuple(estimates),
        info=result.info,
    )
