"""The one aggregation path of every report: stored rows + metric metadata -> per-system statistics.

The plain report, the paper tables, the plots and the ABX tables all read here, so
there is one rule for which class a stored metric is, which columns it owns, how a
column is named (:func:`~bench.metrics.base.column_name`), how its values pool
(:attr:`Metric.pooled`: means, DWER's edit counts, the bitrate's bits over seconds) and
when it sits at a ceiling (:meth:`Metric.saturated`).  Two report engines with their own
rules had drifted apart; this module is why they cannot again.

Two granularities, one definition: :func:`corpus_values` turns per-field sums (summed in
SQL, fast over millions of rows) into corpus values; :class:`SystemResults` gives
per-mixture numerators and denominators of the same ratios for bootstrap intervals and
paired tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping

import pandas as pd

from bench.catalog import METRICS
from bench.errors import BenchError
from bench.metrics.base import column_name
from bench.metrics.bitrate import Bitrate
from bench.report.stats import MixtureParts
from bench.store import FAILED, OK, UNAVAILABLE, Store

if TYPE_CHECKING:
    from bench.metrics.base import Metric


def metric_class(metric: str) -> "type[Metric] | None":
    """The registered class of a stored metric; ``None`` for one no longer registered (or not loadable here)."""
    if metric not in METRICS:
        return None
    try:
        return METRICS.entry(metric).load()
    except BenchError:
        return None


def columns_of(metric: str, fields: Iterable[str] | None = None) -> list[str]:
    """Report columns of a stored metric: those its class declares; else one per stored field
    (``fields``), or the bare metric name when no field is known."""
    cls = metric_class(metric)
    if cls is not None:
        return cls.columns()
    if fields is not None:
        return sorted({column_name(metric, f) for f in fields})
    return [metric]


def metric_of(column: str, metrics: Iterable[str]) -> str | None:
    """Which of ``metrics`` owns a report column (:func:`column_name` read backwards; the longest name wins)."""
    hits = [m for m in metrics if column == m or column.startswith(m + "_")]
    return max(hits, key=len) if hits else None


def first_reason(reasons: pd.Series) -> str:
    """The stored reason shown for a state, or a plain statement that none was stored."""
    return reasons.dropna().iloc[0] if reasons.notna().any() else "no reason stored"


@dataclass
class CorpusValues:
    """One metric's corpus-level report values for one system."""

    values: dict[str, float]
    notes: dict[str, str] = field(default_factory=dict)
    #: columns at the metric's ceiling -> why (printed as ``+∞``)
    saturated: dict[str, str] = field(default_factory=dict)


def corpus_values(metric: str, sums: Mapping[str, tuple[float, int]]) -> CorpusValues:
    """Corpus values of one metric from per-field (sum, count) of its ok values."""
    cls = metric_class(metric)
    if cls is None:  # a metric no longer registered: plain means of what is stored
        return CorpusValues({column_name(metric, f): t / n if n else float("nan") for f, (t, n) in sums.items()})
    return CorpusValues(cls.aggregate_sums(sums), cls.aggregate_notes(sums), cls.saturated(sums))


@dataclass(frozen=True)
class BitrateParts:
    """The measured bitrate of one system (Σ bits / Σ seconds per mixture), its declared rate, and
    whether it sent nothing measurable (unbounded)."""

    parts: MixtureParts | None
    nominal: float | None
    unbounded: bool


def _parts(frame: pd.DataFrame | None) -> MixtureParts | None:
    if frame is None or frame.empty:
        return None
    return MixtureParts(frame["mixture_id"].to_numpy(), frame["num"].to_numpy(float), frame["den"].to_numpy(float))


class SystemResults:
    """Everything stored for one system on one dataset, read once, as per-mixture statistics."""

    def __init__(self, store: Store, dataset_key: str, system_key: str) -> None:
        self.store, self.dataset_key, self.system_key = store, dataset_key, system_key
        values = store.metric_values(dataset_key, system_key)
        values["column"] = [column_name(m, f) for m, f in zip(values["metric"], values["field"])]
        self.values = values
        self.ok = values[values["status"] == OK]

    def parts(self, column: str) -> MixtureParts | None:
        """Per-mixture (num, den) of one report column, pooled as its metric says."""
        rows = self.ok[self.ok["column"] == column]
        if rows.empty:
            return None
        metric = rows["metric"].iloc[0]
        cls = metric_class(metric)
        if cls is not None:
            items = self.ok[self.ok["metric"] == metric][["mixture_id", "source_index", "field", "value"]]
            return _parts(cls.mixture_parts(items, column))
        ok = rows.dropna(subset=["value"])
        return _parts(ok.groupby("mixture_id")["value"].agg(num="sum", den="count").reset_index())

    def state(self, column: str) -> tuple[str, str] | None:
        """(``unavailable`` or ``failed``, stored reason) when the column's metric could not run; else ``None``."""
        metric = metric_of(column, set(self.values["metric"]))
        rows = self.values[(self.values["metric"] == metric) & self.values["status"].isin([UNAVAILABLE, FAILED])]
        if rows.empty:
            return None
        return ("unavailable" if (rows["status"] == UNAVAILABLE).any() else "failed"), first_reason(rows["reason"])

    def bitrate(self) -> BitrateParts:
        """The measured bitrate from the stored separations (every system has one, scored or not)."""
        nominal = self.store.nominal_kbps().get(self.system_key)
        payloads = self.store.payloads(self.dataset_key, self.system_key)
        if payloads.empty or payloads["payload_bits"].isna().all():
            return BitrateParts(None, nominal, True)
        return BitrateParts(_parts(Bitrate.payload_parts(payloads)), nominal, False)
