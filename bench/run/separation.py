"""Separation stage: run one system over a dataset and store estimates and payloads.

For each pending mixture (resumable: finished ones are skipped) the stage loads the
audio, calls the system, brings estimates back to the dataset rate and resolves the
speaker assignment once (:func:`separate_and_assign`, which an executor may run remotely);
then the driver writes the estimate files atomically and commits the rows
(:func:`store_assigned`).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TypeVar

import numpy as np

from bench.audio import resample, write_audio_atomic
from bench.errors import BenchError
from bench.run.estimate_check import damaged_estimates
from bench.run.assignment import assign_estimates
from bench.progress import progress_bar
from bench.records import LoadedMixture, Mixture, Separation, stream_bits
from bench.store import EstimateRow, StoredSeparation, Store
from bench.run.executors.base import Worker
from bench.system import System

if TYPE_CHECKING:
    from bench.config import SystemSpec
    from bench.run.executors.base import Executor

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class AssignedSeparation:
    """One mixture's separation, ready to store: estimates at the dataset rate, in system order,
    with the speaker assignment resolved.

    The middle of one result's three stages: a system returns a :class:`~bench.records.Separation`,
    :func:`separate_and_assign` makes this, the store keeps a :class:`~bench.store.StoredSeparation`.
    """

    record: Mixture
    estimates: np.ndarray
    permutation: tuple[int, ...]
    payload_bits: int | None
    output_bits: list[int | None]
    runtime_s: float
    info: dict[str, Any] = field(default_factory=dict)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start:start + max(1, size)]


def pending_mixtures(dataset, store: Store, dataset_key: str, system_key: str, name: str = "") -> list[Mixture]:
    """Mixtures without a stored separation, plus those whose estimate files are missing or damaged.

    Estimates are a cache: a damaged one has its rows dropped (with one warning line)
    and is separated again rather than scored as ``failed`` for ever.
    """
    done = store.done_mixtures(dataset_key, system_key)
    damaged = damaged_estimates(store, dataset_key, system_key,
                                [m.mixture_id for m in dataset.mixtures if m.mixture_id in done])
    if damaged:
        first_id, why = next(iter(damaged.items()))
        log.warning("%s: %d stored estimate(s) missing or damaged, separating them again (first: %s)",
                    name or system_key[:12], len(damaged), why)
        store.forget_separations(dataset_key, system_key, damaged)
        done -= set(damaged)
    return [m for m in dataset.mixtures if m.mixture_id not in done]


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


def load_until_error(dataset, batch: Sequence[Mixture]) -> tuple[list[LoadedMixture], BenchError | None]:
    """Load a batch; on bad input, return what loaded before it so that work is still stored."""
    loaded = []
    for mixture in batch:
        try:
            loaded.append(dataset.load(mixture))
        except BenchError as exc:
            return loaded, exc
    return loaded, None


def separate_and_assign(system: System, loaded: Sequence[LoadedMixture]) -> list[AssignedSeparation]:
    """Separate loaded mixtures and assign outputs to speakers; no I/O, so it may run on a remote worker."""
    inputs = [system_input(item, system) for item in loaded]
    start = time.perf_counter()
    results = _call_system(system, inputs)
    elapsed = time.perf_counter() - start
    if len(results) != len(inputs):
        raise BenchError(f"system {system.name!r} returned {len(results)} results for {len(inputs)} mixtures")
    total_samples = sum(item.record.num_samples for item in loaded)
    out = []
    for item, result in zip(loaded, results):
        record = item.record
        est = resample(check_separation(system, item, result), system.sample_rate, record.sample_rate)
        streams = list(result.payload) if result.payload is not None else None
        output_bits: list[int | None] = [None] * est.shape[0]
        if streams is not None and len(streams) == est.shape[0]:
            output_bits = [stream_bits(s) for s in streams]
        out.append(AssignedSeparation(
            record=record,
            estimates=est,
            permutation=assign_estimates(est, item.sources, record.sample_rate),
            payload_bits=None if streams is None else sum(stream_bits(s) for s in streams),
            output_bits=output_bits,
            runtime_s=elapsed * record.num_samples / total_samples,  # batch time split by length
            info=result.info,
        ))
    return out


def store_assigned(assigned: Sequence[AssignedSeparation], out_dir: Path, store: Store, dataset_key: str,
                   system_key: str) -> None:
    """Write estimate files atomically, then commit their rows in one transaction."""
    rows = []
    for item in assigned:
        record = item.record
        estimates = []
        for k, wave in enumerate(item.estimates):
            path = store.estimate_path(out_dir, record.mixture_id, k)
            write_audio_atomic(path, wave, record.sample_rate)
            estimates.append(EstimateRow(k, store.relative(path), wave.shape[-1] / record.sample_rate,
                                         record.sample_rate, item.output_bits[k]))
        rows.append(StoredSeparation(record.mixture_id, record.seconds, item.payload_bits, item.runtime_s,
                                     item.permutation, tuple(estimates), item.info))
    store.add_separations(dataset_key, system_key, rows)


def separate_dataset(dataset, system: System, system_key: str, dataset_key: str, store: Store,
                     on_stored: "Callable[[str, list[str]], None] | None" = None) -> int:
    """Separate every mixture not yet stored for this (system, dataset); returns how many were done.

    The next batch is read from disk by a helper thread while the system works on the
    current one (audio decoding releases the GIL).  ``on_stored(system_key, ids)`` is
    called after each committed batch (the runner scores them alongside).
    """
    pending = pending_mixtures(dataset, store, dataset_key, system_key, system.name)
    if not pending:
        log.info("%s: all %d mixtures cached", system.name, len(dataset.mixtures))
        return 0
    out_dir = store.audio_dir(system.name, system_key, dataset_key)
    remove_stale_temporaries(out_dir)
    bar = progress_bar(len(pending), desc=f"separate {system.name}")
    batches = list(chunks(pending, system.max_batch_size))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-load") as loader:
        upcoming = loader.submit(load_until_error, dataset, batches[0])
        try:
            for index in range(len(batches)):
                loaded, load_error = upcoming.result()
                if load_error is None and index + 1 < len(batches):
                    upcoming = loader.submit(load_until_error, dataset, batches[index + 1])
                if loaded:
                    store_assigned(separate_and_assign(system, loaded), out_dir, store, dataset_key, system_key)
                    bar.update(len(loaded))
                    if on_stored is not None:
                        on_stored(system_key, [item.record.mixture_id for item in loaded])
                if load_error is not None:
                    raise load_error
        finally:
            bar.close()
    return len(pending)


#: the system and dataset of a remote separation worker (:func:`set_up_separation_worker`)
_REMOTE: "tuple[System, Any] | None" = None


def set_up_separation_worker(spec: "SystemSpec", device: str, sample_rate: int, dataset) -> None:
    """Per worker process: build the system once (its weights load here, not in the driver)."""
    global _REMOTE
    from bench.catalog import build_system

    _REMOTE = (build_system(spec, device=device, sample_rate=sample_rate), dataset)


def separate_chunk(chunk: Sequence[Mixture]) -> tuple[list[AssignedSeparation], str | None]:
    """Per task: separate one chunk of mixtures; what loaded before a bad input is still returned."""
    assert _REMOTE is not None, "separation worker not set up"
    system, dataset = _REMOTE
    loaded, error = load_until_error(dataset, chunk)
    assigned: list[AssignedSeparation] = []
    for batch in chunks(loaded, system.max_batch_size):
        assigned += separate_and_assign(system, batch)
    return assigned, None if error is None else str(error)


#: mixtures per remote task (at least one of the system's batches)
REMOTE_CHUNK = 8


def separate(executor: "Executor", dataset, spec: "SystemSpec", system: System, system_key: str, dataset_key: str,
             store: Store, device: str, on_stored: "Callable[[str, list[str]], None] | None" = None) -> int:
    """Separate every pending mixture where the executor says systems run; returns how many were done."""
    if executor.separates_remotely:
        return separate_remotely(executor, dataset, spec, system, system_key, dataset_key, store, device,
                                 chunk_size=max(REMOTE_CHUNK, system.max_batch_size))
    return separate_dataset(dataset, system, system_key, dataset_key, store, on_stored=on_stored)


def separate_remotely(executor: "Executor", dataset, spec: "SystemSpec", system: System, system_key: str,
                      dataset_key: str, store: Store, device: str, chunk_size: int) -> int:
    """Separation of every pending mixture as executor tasks of ``chunk_size`` mixtures; the driver
    stores each chunk as it arrives.  Returns how many were separated."""
    pending = pending_mixtures(dataset, store, dataset_key, system_key, system.name)
    if not pending:
        return 0
    out_dir = store.audio_dir(system.name, system_key, dataset_key)
    remove_stale_temporaries(out_dir)
    errors: list[str] = []
    bar = progress_bar(len(pending), desc=f"separate {system.name} (remote)")

    def stored(result: tuple[list[AssignedSeparation], str | None]) -> None:
        assigned, error = result
        if assigned:
            store_assigned(assigned, out_dir, store, dataset_key, system_key)
            bar.update(len(assigned))
        if error:
            errors.append(error)

    worker = Worker(set_up_separation_worker, (spec, device, system.sample_rate, dataset), separate_chunk)
    try:
        executor.map(worker, [list(c) for c in chunks(pending, chunk_size)], stored, per_call=1,
                     gpus=1 if device.startswith("cuda") else 0)
    finally:
        bar.close()
    if errors:
        raise BenchError(errors[0])
    return len(pending)


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
