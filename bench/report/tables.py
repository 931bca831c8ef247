"""Build the papers' tables from the store: values, 95% CIs, paired tests, published values.

A :class:`Table` is plain data (rows of :class:`Cell`); ``bench.report.render`` turns it
into Markdown, LaTeX and CSV.  Nothing here invents a number: a system that was not run
gets a hint row, a metric that could not run gets a dash and a footnote with the
stored reason.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import pandas as pd

from bench.catalog import METRICS
from bench.errors import BenchError
from bench.report.layouts import Column, TableLayout, row_label
from bench.report.stats import MixtureParts, bootstrap_ci, paired_wilcoxon
from bench.store import OK, UNAVAILABLE, FAILED, Store

if TYPE_CHECKING:
    from bench.config import BenchConfig


@dataclass
class Cell:
    value: float | None = None
    ci: tuple[float, float] | None = None
    p_value: float | None = None  # paired test against the table's reference row
    n: int = 0
    note: str | None = None
    text: str | None = None  # replaces the number (e.g. "+∞" for an unbounded bitrate)
    nominal: float | None = None  # nominal bitrate when it differs from the measured one
    published: str | None = None


@dataclass
class Row:
    label: str
    system: str
    system_key: str | None
    cells: dict[str, Cell] = field(default_factory=dict)
    hint: str | None = None  # why the row is empty and how to fill it


@dataclass
class Table:
    layout: TableLayout
    dataset_name: str
    columns: list[Column]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    with_paper: bool = False
    condition: str = ""


@lru_cache(maxsize=1)
def published_values() -> pd.DataFrame:
    """The papers' numbers (``published.csv``: table, row, system, condition, column, value, ci95, source)."""
    text = resources.files("bench.report").joinpath("published.csv").read_text()
    return pd.DataFrame(list(csv.DictReader(text.splitlines())))


def _published(table: str, system: str, column: str, condition: str) -> str | None:
    frame = published_values()
    hit = frame[(frame["table"] == table) & (frame["system"] == system) & (frame["column"] == column)
                & (frame["condition"].isin([condition, ""]))]
    if hit.empty:
        return None
    value, ci = hit["value"].iloc[0], hit["ci95"].iloc[0]
    if value == "inf":
        value = "+∞"
    elif column == "bitrate":
        value = f"{value} kbps"
    return f"{value} (± {ci})" if ci else value


# -- store access ----------------------------------------------------------------------------
def system_keys(store: Store, dataset_key: str) -> dict[str, str]:
    """System name -> key of its most recent results on this dataset."""
    return store.system_keys(dataset_key)


def _metric_class(metric: str):
    try:
        return METRICS.entry(metric).load() if metric in METRICS else None
    except BenchError:
        return None


def metric_parts(values: pd.DataFrame, column: str) -> MixtureParts | None:
    """Per-mixture (num, den) of one stored column; the metric class may pool differently."""
    rows = values[values["column"] == column]
    if rows.empty:
        return None
    metric = rows["metric"].iloc[0]
    cls = _metric_class(metric)
    hook = getattr(cls, "mixture_parts", None) if cls is not None else None
    if hook is not None:
        items = values[values["metric"] == metric][["mixture_id", "source_index", "field", "value"]]
        frame = hook(items, column)
    else:
        ok = rows.dropna(subset=["value"])
        frame = ok.groupby("mixture_id")["value"].agg(num="sum", den="count").reset_index()
    if frame is None or frame.empty:
        return None
    return MixtureParts(frame["mixture_id"].to_numpy(), frame["num"].to_numpy(float), frame["den"].to_numpy(float))


def bitrate_parts(store: Store, dataset_key: str, system_key: str) -> tuple[MixtureParts | None, float | None, bool]:
    """Measured kbps as Σ bits / Σ seconds; (parts, nominal, unbounded)."""
    frame = store.payloads(dataset_key, system_key)
    nominal_kbps = store.nominal_kbps().get(system_key)
    if frame.empty or frame["payload_bits"].isna().all():
        return None, nominal_kbps, True
    frame = frame.dropna(subset=["payload_bits"])
    parts = MixtureParts(frame["mixture_id"].to_numpy(), frame["payload_bits"].to_numpy(float) / 1000.0,
                         frame["seconds"].to_numpy(float))
    return parts, nominal_kbps, False


def _values(store: Store, dataset_key: str, system_key: str) -> pd.DataFrame:
    frame = store.metric_values(dataset_key, system_key)
    frame["column"] = [f"{m}_{f}" if f else m for m, f in zip(frame["metric"], frame["field"])]
    return frame


def _state_note(values: pd.DataFrame, column: Column) -> str | None:
    """Why a metric column has no value: the stored unavailable/failed reason."""
    target = column.target
    metrics = [m for m in set(values["metric"]) if target == m or target.startswith(m + "_")]
    rows = values[values["metric"].isin(metrics) & values["status"].isin([UNAVAILABLE, FAILED])]
    if rows.empty:
        return None
    reason = rows["reason"].dropna().iloc[0] if rows["reason"].notna().any() else "no reason stored"
    state = "unavailable" if (rows["status"] == UNAVAILABLE).any() else "failed"
    return f"{column.label.split(' ')[0]} {state}: {reason}"


def _run_hint(system: str, config: "BenchConfig | None") -> str:
    """``bench run --systems X``, preceded by ``bench assets fetch …`` when its public weights are absent."""
    from bench.catalog import run_hint
    from bench.config import BenchConfig, resolve_system_spec

    try:
        return run_hint(resolve_system_spec(system, config or BenchConfig()))
    except BenchError:
        return f"bench run --systems {system}"


# -- the table -------------------------------------------------------------------------------
def build_table(store: Store, layout: TableLayout, dataset_key: str, *, with_paper: bool = False,
                resamples: int = 2000, seed: int = 0, config: "BenchConfig | None" = None) -> Table:
    info = store.dataset(dataset_key)
    dataset_name = info.name if info is not None else dataset_key[:12]
    condition = info.segment if info is not None else "full"
    keys = system_keys(store, dataset_key)
    table = Table(layout, dataset_name, list(layout.columns), [], with_paper=with_paper, condition=condition)
    if layout.kind == "abx":
        from bench.report.abx import fill_abx_table

        fill_abx_table(store, table, keys)
        return table

    parts: dict[tuple[str, str], MixtureParts] = {}
    for system in layout.rows:
        key = keys.get(system)
        row = Row(row_label(system), system, key)
        table.rows.append(row)
        if key is None:
            row.hint = f"not run on this dataset: {_run_hint(system, config)}"
            for column in layout.columns:
                cell = row.cells[column.label] = Cell(
                    published=_published(layout.key, system, column.published, condition) if with_paper else None)
                if column.kind == "listening":  # listening tests stand on their own exports
                    _fill_listening(store, cell, column, system)
            continue
        values = _values(store, dataset_key, key)
        ok = values[values["status"] == OK]
        for column in layout.columns:
            cell = Cell()
            if column.kind == "bitrate":
                part, nominal, unbounded = bitrate_parts(store, dataset_key, key)
                if unbounded:
                    cell.text = "+∞"
                else:
                    cell.value = part.value
                    cell.n = len(part.num)
                    cell.ci = bootstrap_ci(part, resamples, seed)
                    if nominal is not None and not math.isclose(nominal, cell.value, rel_tol=5e-3):
                        cell.nominal = nominal
            elif column.kind == "metric":
                part = metric_parts(ok, column.target)
                if part is None:
                    cell.note = _state_note(values, column) or _not_computed_note(column, system)
                else:
                    parts[(system, column.label)] = part
                    cell.value = part.value * column.scale
                    cell.n = len(part.num)
                    low, high = bootstrap_ci(part, resamples, seed)
                    cell.ci = (low * column.scale, high * column.scale)
            elif column.kind == "listening":
                _fill_listening(store, cell, column, system)
            if with_paper:
                cell.published = _published(layout.key, system, column.published, condition)
            row.cells[column.label] = cell
    _significance(table, parts)
    return table


def _significance(table: Table, parts: dict[tuple[str, str], MixtureParts]) -> None:
    reference = table.layout.reference
    if reference is None:
        return
    for row in table.rows:
        if row.system == reference:
            continue
        for column in table.columns:
            mine, theirs = parts.get((row.system, column.label)), parts.get((reference, column.label))
            if mine is not None and theirs is not None:
                row.cells[column.label].p_value, _ = paired_wilcoxon(mine, theirs)


def _fill_listening(store: Store, cell: Cell, column: Column, system: str) -> None:
    """NMOS/SMOS from ``bench listen analyze`` results, when present."""
    frame = listening_results(store)
    if frame is None:
        cell.note = (f"{column.label.split(' ')[0]}: no listening-test results; see `bench listen export "
                     f"--test {column.target}` and `bench listen analyze`")
        return
    hit = frame[(frame["test"] == column.target) & (frame["system"] == system)]
    if hit.empty:
        cell.note = f"{column.label.split(' ')[0]}: no {column.target} results for {system}"
        return
    last = hit.iloc[-1]
    cell.value, cell.n = float(last["mean"]), int(last["n"])
    cell.ci = (float(last["ci_low"]), float(last["ci_high"]))


def listening_results(store: Store) -> pd.DataFrame | None:
    frame = store.listening_results()
    return None if frame.empty else frame


def values_frame(table: Table) -> pd.DataFrame:
    """The table as a flat frame (one row per table row), as written to CSV."""
    records: list[dict[str, Any]] = []
    for row in table.rows:
        rec: dict[str, Any] = {"row": row.label, "system": row.system, "system_key": row.system_key or ""}
        for column in table.columns:
            cell = row.cells.get(column.label, Cell())
            base = column.published
            rec[base] = cell.value if cell.value is not None else (cell.text or "")
            rec[f"{base}_ci_low"] = cell.ci[0] if cell.ci else ""
            rec[f"{base}_ci_high"] = cell.ci[1] if cell.ci else ""
            rec[f"{base}_n"] = cell.n or ""
            rec[f"{base}_p_vs_{table.layout.reference}"] = "" if cell.p_value is None else cell.p_value
            if column.kind == "bitrate":
                rec[f"{base}_nominal"] = "" if cell.nominal is None else cell.nominal
            rec[f"{base}_note"] = cell.note or ""
            if table.with_paper:
                rec[f"{base}_paper"] = cell.published or ""
        rec["hint"] = row.hint or ""
        records.append(rec)
    return pd.DataFrame(records)


__all__ = ["Cell", "Row", "Table", "build_table", "values_frame", "published_values"]


def _not_computed_note(column: Column, system: str) -> str:
    """Why a metric cell is empty: the command that fills it, or that no such metric is registered."""
    metric = column.target.split("_")[0]
    label = column.label.split(" ")[0]
    if metric not in METRICS.names():
        return f"{label}: no '{metric}' metric is registered in this installation (the paper's value is shown for reference)"
    return f"{label} not computed: bench run --systems {system} --metrics {metric}"
