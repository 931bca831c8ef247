"""The typed records the store reads and writes, and the states a metric row can be in.

Callers hand these to :class:`~bench.store.Store` and get them back, so no module outside
the store needs to know a column's name or position.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

#: metric row states; ``unavailable`` rows are retried whenever the metric becomes available
OK, FAILED, UNAVAILABLE = "ok", "failed", "unavailable"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class EstimateRow:
    """An estimate file as stored (one output of one system on one mixture)."""

    output_index: int
    path: str
    seconds: float
    sample_rate: int
    payload_bits: int | None


@dataclass(frozen=True)
class StoredSeparation:
    """Everything stored about one system's result on one mixture (what
    :class:`~bench.run.separation.AssignedSeparation` becomes once its files are written)."""

    mixture_id: str
    seconds: float
    payload_bits: int | None
    runtime_s: float
    permutation: tuple[int, ...]
    estimates: tuple[EstimateRow, ...]
    info: dict[str, Any]


@dataclass(frozen=True)
class MetricRow:
    """One metric value (or state) for one reference source of one mixture."""

    mixture_id: str
    source_index: int
    metric: str
    version: str
    field: str
    value: float | None
    status: str = OK
    reason: str | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: its fingerprint, name and the spec it was opened with."""

    key: str
    name: str
    spec: dict[str, Any]
    num_mixtures: int

    @property
    def segment(self) -> str:
        """``full`` or ``first3s``: which part of each mixture was evaluated (the table's condition)."""
        return str(self.spec.get("segment", "full") or "full") if isinstance(self.spec, dict) else "full"
