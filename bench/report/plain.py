"""``bench report``: per-system aggregates of every stored metric.

One row per system, one column per metric field (``<metric>_<field>``), each cell the
metric's own aggregate over all (mixture, source) values: the mean unless the metric
pools (``Metric.aggregate``).  Metrics that could not run show "—" with a
footnote giving the stored reason; nothing is ever filled in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from bench.catalog import METRICS
from bench.errors import BenchError
from bench.metrics.sisnr import SI_SNR_CEILING_DB
from bench.store import FAILED, OK, UNAVAILABLE, Store

DASH = "—"


@dataclass
class PlainReport:
    """The summary table: ``means`` (systems x columns), counts and footnotes."""

    dataset_name: str
    means: pd.DataFrame
    counts: pd.DataFrame
    notes: dict[tuple[str, str], str] = field(default_factory=dict)  # (system, column) -> footnote text
    capped: dict[tuple[str, str], bool] = field(default_factory=dict)


def _column(metric: str, fld: str) -> str:
    return f"{metric}_{fld}" if fld else metric


def _metric_class(metric: str):
    if metric in METRICS:
        try:
            return METRICS.entry(metric).load()
        except BenchError:
            return None
    return None


def _metric_columns(metric: str) -> list[str]:
    """Columns a registered metric declares (so an all-unavailable metric still gets its columns)."""
    cls = _metric_class(metric)
    return cls.columns() if cls is not None else [metric]


def _hidden_columns(metrics) -> set[str]:
    hidden = set()
    for metric in metrics:
        cls = _metric_class(metric)
        if cls is not None:
            hidden |= {cls.column(f) for f in cls.hidden_fields}
    return hidden


def build_plain_report(store: Store, dataset_key: str | None = None) -> PlainReport:
    """Aggregate the store into per-system means for one dataset (default: the latest run's)."""
    dataset_key = dataset_key or store.latest_dataset_key()
    if dataset_key is None:
        raise BenchError(f"{store.db_path}: no results yet (run `bench run` first)")
    names = store.frame("SELECT name FROM datasets WHERE dataset_key=?", (dataset_key,))
    dataset_name = names["name"].iloc[0] if len(names) else dataset_key[:12]
    seps = store.separation_frame(dataset_key)
    values = store.metric_frame(dataset_key)
    systems = list(dict.fromkeys(seps["system"]))
    ok = values[values["status"] == OK].copy()
    ok["column"] = [_column(m, f) for m, f in zip(ok["metric"], ok["field"])]
    hidden = _hidden_columns(dict.fromkeys(values["metric"]))
    columns = [c for c in dict.fromkeys(ok["column"]) if c not in hidden]
    for metric in dict.fromkeys(values["metric"]):
        for col in _metric_columns(metric):
            if col not in columns:
                columns.append(col)

    means = pd.DataFrame(index=systems, columns=columns, dtype=float)
    counts = pd.DataFrame(index=systems, columns=columns, dtype="Int64")
    report = PlainReport(dataset_name, means, counts)
    _aggregate(report, ok)
    _add_state_notes(report, values)
    _mark_capped(report, ok)
    return report


def _aggregate(report: PlainReport, ok: pd.DataFrame) -> None:
    """Each metric's own corpus-level aggregation (``Metric.aggregate``; the mean by default).

    Pooled metrics (DWER from summed edit counts, measured bitrate from summed bits
    and seconds) must not be averaged per item, so the metric class decides.
    """
    for (system, metric), frame in ok.groupby(["system", "metric"], sort=False):
        cls = _metric_class(metric)
        items = frame[["mixture_id", "source_index", "field", "value"]]
        if cls is not None:
            values = cls.aggregate(items)
            notes = cls.aggregate_notes(items)
        else:  # a metric no longer registered: plain means of what is stored
            values = {_column(metric, f): s.mean() for f, s in items.groupby("field")["value"]}
            notes = {}
        for column, value in values.items():
            if column not in report.means.columns:
                continue
            report.means.loc[system, column] = value
            per_field = frame[frame["column"] == column]["value"]
            counted = per_field if len(per_field) else frame.drop_duplicates(["mixture_id", "source_index"])["value"]
            report.counts.loc[system, column] = int(per_field.notna().sum()) if len(per_field) else len(counted)
        for column, note in notes.items():
            report.notes.setdefault((system, column), note)


def _add_state_notes(report: PlainReport, values: pd.DataFrame) -> None:
    bad = values[values["status"].isin([UNAVAILABLE, FAILED])]
    for (system, metric, status), frame in bad.groupby(["system", "metric", "status"]):
        reason = frame["reason"].dropna().iloc[0] if frame["reason"].notna().any() else "no reason stored"
        for col in _metric_columns(metric):
            key = (system, col)
            if status == UNAVAILABLE:
                report.notes[key] = f"{metric} unavailable: {reason}"
            elif key not in report.notes:
                report.notes[key] = f"{metric} failed on {len(frame)} estimates (first: {reason})"


def _mark_capped(report: PlainReport, ok: pd.DataFrame) -> None:
    """SI-SNRi whose estimates are all numerically identical to the references reads as +inf."""
    flags = ok[ok["column"] == "sisnri_capped"]
    for system, series in flags.groupby("system")["value"]:
        if len(series) and bool((series == 1.0).all()):
            report.capped[(system, "sisnri_db")] = True


def format_markdown(report: PlainReport, digits: int = 2) -> str:
    cols = list(report.means.columns)
    footnotes: list[str] = []
    header = ["system", *cols]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * len(cols)) + "|"]
    for system in report.means.index:
        cells = [system]
        for col in cols:
            value = report.means.loc[system, col]
            note = report.notes.get((system, col))
            if report.capped.get((system, col)):
                text = "+∞"
                note = note or (f"SI-SNR of every estimate at the {SI_SNR_CEILING_DB:g} dB ceiling "
                                "(numerically identical to the reference); stored value is capped")
            elif pd.isna(value):
                text = DASH
            else:
                text = f"{value:.{digits}f}"
            if note:
                if note not in footnotes:
                    footnotes.append(note)
                text += f" [{footnotes.index(note) + 1}]"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    out = [f"Dataset: {report.dataset_name}", "", *lines]
    if footnotes:
        out.append("")
        out += [f"[{i + 1}] {text}" for i, text in enumerate(footnotes)]
    return "\n".join(out)


def format_csv(report: PlainReport) -> str:
    frame = report.means.copy()
    frame.index.name = "system"
    return frame.to_csv(float_format="%.6g")


def format_json(report: PlainReport) -> str:
    rows = []
    for system in report.means.index:
        row = {"system": system}
        for col in report.means.columns:
            value = report.means.loc[system, col]
            row[col] = None if pd.isna(value) else float(value)
            if (system, col) in report.notes:
                row[f"{col}_note"] = report.notes[(system, col)]
        rows.append(row)
    return json.dumps({"dataset": report.dataset_name, "systems": rows}, indent=2)


FORMATTERS = {"md": format_markdown, "csv": format_csv, "json": format_json}


def render(report: PlainReport, fmt: str) -> str:
    return FORMATTERS[fmt](report)


__all__ = ["build_plain_report", "render", "PlainReport"]
