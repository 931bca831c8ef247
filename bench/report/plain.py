"""``bench report``: per-system aggregates of every stored metric.

One row per system, one column per metric field (``<metric>_<field>``), each cell the
metric's own aggregate over all (mixture, source) values: the mean unless the metric
pools (``Metric.aggregate``).  Metrics that could not run show "—" with a
footnote giving the stored reason; nothing is ever filled in.  The header says which subset
of the dataset each system covers (``n=16 of 80``); when systems were run on different
subsets, every value is over the mixtures they all share, and the header says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from bench.errors import BenchError
from bench.report.aggregate import Coverage, columns_of, corpus_values, coverage, first_reason
from bench.store import UNAVAILABLE, Store

DASH = "—"


@dataclass
class PlainReport:
    """The summary table: ``means`` (systems x columns), counts and footnotes."""

    dataset_name: str
    means: pd.DataFrame
    counts: pd.DataFrame
    notes: dict[tuple[str, str], str] = field(default_factory=dict)  # (system, column) -> footnote text
    #: (system, column) at the metric's ceiling -> why (printed as +∞)
    saturated: dict[tuple[str, str], str] = field(default_factory=dict)
    #: which mixtures each system has, and which the values are over
    coverage: Coverage | None = None


def build_plain_report(store: Store, dataset_key: str | None = None) -> PlainReport:
    """Aggregate the store into per-system values for one dataset (default: the latest run's).

    The store reduces its rows to per (system, metric, field) sums and counts, and the
    one aggregation path (:func:`~bench.report.aggregate.corpus_values`, the metric's own
    rule) turns those into columns, so the report stays fast however many rows there are
    and never recomputes a metric.
    """
    dataset_key = dataset_key or store.latest_dataset_key()
    if dataset_key is None:
        raise BenchError(f"{store.db_path}: no results yet (run `bench run` first)")
    dataset_name = store.dataset_name(dataset_key)
    keys = store.system_keys(dataset_key)
    systems = list(keys)
    name_of = {key: name for name, key in keys.items()}
    subsets = coverage(store, dataset_key, keys)
    sums, states = store.metric_sums(dataset_key, subsets.only), store.metric_states(dataset_key, subsets.only)
    sums, states = ((f.assign(system=f["system_key"].map(name_of)).dropna(subset=["system"])) for f in (sums, states))
    metrics = list(dict.fromkeys([*sums["metric"], *states["metric"]]))
    columns: list[str] = []
    for metric in metrics:
        declared = columns_of(metric, sums[sums["metric"] == metric]["field"])
        columns += [c for c in declared if c not in columns]

    means = pd.DataFrame(index=systems, columns=columns, dtype=float)
    counts = pd.DataFrame(index=systems, columns=columns, dtype="Int64")
    report = PlainReport(dataset_name, means, counts, coverage=subsets)
    for (system, metric), frame in sums.groupby(["system", "metric"], sort=False):
        if system not in means.index:
            continue
        by_field = {str(f): (float(t), int(n)) for f, t, n in zip(frame["field"], frame["total"], frame["n"])}
        corpus = corpus_values(metric, by_field)
        for column, value in corpus.values.items():
            if column in means.columns:
                means.loc[system, column] = value
                fld = column[len(metric) + 1:] if column != metric else ""
                counts.loc[system, column] = by_field.get(fld, (0.0, 0))[1]
        for column, note in corpus.notes.items():
            report.notes.setdefault((system, column), note)
        for column, why in corpus.saturated.items():
            report.saturated[(system, column)] = why
    for (system, metric, status), frame in states.groupby(["system", "metric", "status"], sort=False):
        reason = first_reason(frame["reason"])
        for col in columns_of(metric):
            if status == UNAVAILABLE:
                report.notes[(system, col)] = f"{metric} unavailable: {reason}"
            else:
                report.notes.setdefault((system, col),
                                        f"{metric} failed on {int(frame['n'].sum())} estimates (first: {reason})")
    return report


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
            if (system, col) in report.saturated:
                text = "+∞"
                note = note or report.saturated[(system, col)]
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
    out = [f"Dataset: {report.dataset_name}" + (f"; {note}" if (note := _coverage_note(report)) else ""), "", *lines]
    if footnotes:
        out.append("")
        out += [f"[{i + 1}] {text}" for i, text in enumerate(footnotes)]
    return "\n".join(out)


def _coverage_note(report: PlainReport) -> str | None:
    return report.coverage.note() if report.coverage is not None else None


def _subset_columns(report: PlainReport, system: str) -> dict[str, object]:
    """``mixtures`` (how many the values are over), ``stored`` (how many the system has), ``of`` (the dataset's)."""
    cover = report.coverage
    if cover is None:
        return {}
    return {"mixtures": cover.compared(system), "stored": cover.stored.get(system, 0), "of": cover.total}


def format_csv(report: PlainReport) -> str:
    frame = report.means.copy()
    subsets = pd.DataFrame([_subset_columns(report, system) for system in frame.index], index=frame.index)
    frame = pd.concat([frame, subsets], axis=1)
    frame.index.name = "system"
    return frame.to_csv(float_format="%.6g")


def format_json(report: PlainReport) -> str:
    rows = []
    for system in report.means.index:
        row = {"system": system, **_subset_columns(report, system)}
        for col in report.means.columns:
            value = report.means.loc[system, col]
            row[col] = None if pd.isna(value) else float(value)
            if (system, col) in report.notes:
                row[f"{col}_note"] = report.notes[(system, col)]
        rows.append(row)
    return json.dumps({"dataset": report.dataset_name, "subsets": _coverage_note(report), "systems": rows},
                      indent=2)


FORMATTERS = {"md": format_markdown, "csv": format_csv, "json": format_json}


def render(report: PlainReport, fmt: str) -> str:
    return FORMATTERS[fmt](report)


__all__ = ["build_plain_report", "render", "PlainReport"]
