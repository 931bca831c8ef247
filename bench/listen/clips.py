"""Audio for listening tests, read from the results store.

Test stimuli are a system's stored estimates, matched to reference sources through
the speaker assignment stored with each separation (``bench/run/assignment.py``;
``permutation[j]`` is the output that estimates source ``j``), so "system X on source 2
of mixture M" means the same utterance for every system.  Natural speech (references, gold items) comes from the
``clean`` system's stored estimates when present, otherwise from the dataset's own
source files, re-opened from the dataset spec kept in the store's ``datasets`` table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

import numpy as np

from bench.audio import read_audio
from bench.errors import BenchError
from bench.store import Store

log = logging.getLogger(__name__)

#: the system whose stored estimates are the true sources
CLEAN_SYSTEM = "clean"

Item = tuple[str, int]  # (mixture ID, 0-based source index)


@dataclass(frozen=True)
class Clip:
    """Mono float32 audio with its sample rate."""

    audio: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


class StoredClips:
    """Estimates and natural speech of one stored dataset."""

    def __init__(self, store: Store, dataset_key: str) -> None:
        self.store = store
        self.dataset_key = dataset_key
        info = store.dataset(dataset_key)
        if info is None:
            raise BenchError(f"{store.db_path}: no dataset {dataset_key[:12]} stored")
        self.dataset_name: str = info.name
        self.spec: dict[str, Any] = info.spec
        self._estimates: dict[str, dict[Item, str]] = {}

    # -- systems -----------------------------------------------------------------------------
    def system_names(self) -> list[str]:
        """Names of the systems with separations in this dataset."""
        return sorted(self.store.system_keys(self.dataset_key))

    def system_key(self, name: str) -> str:
        """The configuration of ``name`` most recently separated on this dataset (names can be re-keyed
        when a checkpoint changes; the newest is what a listening test should hear)."""
        key = self.store.system_keys(self.dataset_key).get(name)
        if key is None:
            known = ", ".join(self.system_names()) or "none"
            raise BenchError(f"system {name!r} has no stored estimates on dataset {self.dataset_name} "
                             f"({self.dataset_key[:12]}); stored systems: {known}")
        return key

    def estimate_paths(self, name: str) -> dict[Item, str]:
        """(mixture, source) -> stored estimate path (relative to the results root)."""
        if name not in self._estimates:
            key = self.system_key(name)
            by_output = {(mixture_id, row.output_index): row.path
                         for mixture_id, rows in self.store.estimate_rows(self.dataset_key, key).items()
                         for row in rows}
            paths: dict[Item, str] = {}
            for mixture_id, perm in self.store.permutations(self.dataset_key, key).items():
                for source, output in enumerate(perm):
                    if (mixture_id, output) in by_output:
                        paths[(mixture_id, source)] = by_output[(mixture_id, output)]
            self._estimates[name] = paths
        return self._estimates[name]

    def items(self, name: str) -> set[Item]:
        return set(self.estimate_paths(name))

    def load(self, name: str, item: Item) -> Clip:
        path = self.store.resolve(self.estimate_paths(name)[item])
        audio, rate = read_audio(path)
        return Clip(audio, rate)

    # -- natural speech --------------------------------------------------------------------------
    @cached_property
    def has_clean(self) -> bool:
        return CLEAN_SYSTEM in self.system_names()

    @cached_property
    def _dataset(self):
        from bench.data.libri2mix import DatasetSpec, open_dataset

        known = {f.name for f in fields(DatasetSpec)}
        spec = DatasetSpec(**{k: v for k, v in self.spec.items() if k in known})
        dataset = open_dataset(spec)
        return {m.mixture_id: m for m in dataset.mixtures}

    def natural_items(self) -> set[Item]:
        """Every (mixture, source) whose natural speech can be read."""
        if self.has_clean:
            return self.items(CLEAN_SYSTEM)
        return {(mid, j) for mid, m in self._dataset.items() for j in range(m.num_sources)}

    def natural(self, item: Item) -> Clip:
        if self.has_clean and item in self.estimate_paths(CLEAN_SYSTEM):
            return self.load(CLEAN_SYSTEM, item)
        mixture = self._dataset.get(item[0])
        if mixture is None or item[1] >= mixture.num_sources:
            raise BenchError(f"no natural speech for source {item[1] + 1} of mixture {item[0]} "
                             f"in dataset {self.dataset_name}")
        audio, rate = read_audio(mixture.source_paths[item[1]], mixture.start, mixture.num_samples)
        return Clip(audio, rate)

    @property
    def natural_origin(self) -> str:
        """Where natural speech comes from, for the export's README."""
        return f"stored estimates of the {CLEAN_SYSTEM!r} system" if self.has_clean else "the dataset's source files"


def speaker_of(item: Item) -> str | None:
    """LibriSpeech speaker of a source, from the Libri2Mix mixture ID (``spk-chapter-utt_spk-...``)."""
    parts = item[0].split("_")
    if len(parts) <= item[1]:
        return None
    speaker = parts[item[1]].split("-")[0]
    return speaker or None
