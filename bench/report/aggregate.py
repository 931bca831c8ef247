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

Which mixtures a report compares is decided here too (:func:`coverage`): systems run with
different ``--limit`` values share one dataset key, so each row says which subset it
covers, and when they differ every value is taken over the mixtures all rows share.
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


@dataclass(frozen=True)
class Coverage:
    """Which mixtures each compared system has, and which the report compares them on."""

    #: mixtures in the dataset's whole order (``--limit`` runs cover its first n)
    total: int
    #: system name -> mixtures with a stored separation
    stored: dict[str, int]
    #: the mixtures every system has, when the systems' subsets differ; ``None``: they are all the same
    shared: frozenset[str] | None = None

    @property
    def only(self) -> frozenset[str] | None:
        """The mixtures values are restricted to (``None``: all stored; also when nothing is shared)."""
        return self.shared or None

    def subset(self, system: str) -> str:
        """``n=16 of 80`` for one system's stored mixtures."""
        from bench.data.libri2mix import subset_text

        return subset_text(self.stored.get(system, 0), self.total)

    def compared(self, system: str) -> int:
        """How many of a system's mixtures its values are over."""
        return len(self.shared) if self.only is not None else self.stored.get(system, 0)

    def note(self) -> str | None:
        """One sentence on the subsets, for the report's header (``None`` with no system)."""
        if not self.stored:
            return None
        if self.shared is None:
            return f"{self.subset(next(iter(self.stored)))} for every system"
        each = ", ".join(f"{name} {self.subset(name)}" for name in self.stored)
        if not self.shared:
            return (f"systems were run on different subsets ({each}) that share no mixture: each row is over "
                    "its own subset, so rows are not comparable")
        return (f"systems were run on different subsets ({each}); every value is over the {len(self.shared)} "
                "mixtures they all share")


def coverage(store: Store, dataset_key: str, keys: Mapping[str, str]) -> Coverage:
    """The subsets of the systems ``keys`` (name -> system key) on a dataset, and what they share."""
    info = store.dataset(dataset_key)
    mixtures = store.stored_mixtures(dataset_key)
    sets = {name: mixtures.get(key, frozenset()) for name, key in keys.items()}
    total = max([info.num_mixtures if info is not None else 0, *map(len, sets.values())])
    if len(set(sets.values())) <= 1:
        return Coverage(total, {n: len(v) for n, v in sets.items()})
    return Coverage(total, {n: len(v) for n, v in sets.items()}, frozenset.intersection(*sets.values()))


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

    def __init__(self, store: Store, dataset_key: str, system_key: str,
                 only: frozenset[str] | None = None) -> None:
        """``only``: the mixtures to read (those every compared system has); ``None``: all stored."""
        self.store, self.dataset_key, self.system_key, self.only = store, dataset_key, system_key, only
        values = store.metric_values(dataset_key, system_key)
        if only is not None:
            values = values[values["mixture_id"].isin(only)].reset_index(drop=True)
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
        if self.only is not None:
            payloads = payloads[payloads["mixture_id"].isin(self.only)]
        if payloads.empty or payloads["payload_bits"].isna().all():
            return BitrateParts(None, nominal, True)
        return BitrateParts(_parts(Bitrate.payload_parts(payloads)), nominal, False)
