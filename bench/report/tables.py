"""Build the papers' objective tables from the store: values, 95% CIs, paired tests, published values.

A :class:`~bench.report.model.Table` is plain data; ``bench.report.render`` turns it into
Markdown, LaTeX and CSV.  Every statistic comes from the one aggregation path
(:mod:`bench.report.aggregate`); the ABX tables are built by :mod:`bench.report.abx`.
Nothing here invents a number: a system that was not run gets a hint row, a metric that
could not run gets a dash and a footnote with the stored reason.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from bench.catalog import METRICS
from bench.errors import BenchError
from bench.report.abx import fill_abx_table
from bench.report.aggregate import SystemResults, coverage, metric_of
from bench.report.layouts import Column, TableLayout, row_label
from bench.report.listening import fill_listening
from bench.report.model import Cell, Row, Table, values_frame
from bench.report.published import published_text, published_values
from bench.report.stats import MixtureParts, bootstrap_ci, paired_wilcoxon
from bench.store import Store

if TYPE_CHECKING:
    from bench.config import BenchConfig


def _run_hint(system: str, config: "BenchConfig | None") -> str:
    """``bench run --systems X``, preceded by ``bench assets fetch …`` when its public weights are absent."""
    from bench.catalog import run_hint
    from bench.config import BenchConfig, resolve_system_spec

    try:
        return run_hint(resolve_system_spec(system, config or BenchConfig()))
    except BenchError:
        return f"bench run --systems {system}"


def build_table(store: Store, layout: TableLayout, dataset_key: str, *, with_paper: bool = False,
                resamples: int = 2000, seed: int = 0, config: "BenchConfig | None" = None) -> Table:
    info = store.dataset(dataset_key)
    dataset_name = info.name if info is not None else dataset_key[:12]
    condition = info.segment if info is not None else "full"
    keys = store.system_keys(dataset_key)
    table = Table(layout, dataset_name, list(layout.columns), [], with_paper=with_paper, condition=condition)
    if layout.kind == "abx":
        fill_abx_table(store, table, keys)
        return table

    parts: dict[tuple[str, str], MixtureParts] = {}
    # the rows' subsets of the dataset; values are over the mixtures every row with results shares
    subsets = coverage(store, dataset_key, {system: keys[system] for system in layout.rows if system in keys})
    if (note := subsets.note()) is not None:
        table.notes.append(f"Mixtures: {note}.")
    for system in layout.rows:
        key = keys.get(system)
        row = Row(row_label(system), system, key)
        table.rows.append(row)
        if key is None:
            row.hint = f"not run on this dataset: {_run_hint(system, config)}"
            for column in layout.columns:
                cell = row.cells[column.label] = Cell(
                    published=published_text(layout.key, system, column.published, condition) if with_paper else None)
                if column.kind == "listening":  # listening tests stand on their own exports
                    fill_listening(store, cell, column, system)
            continue
        row.subset = subsets.subset(system)
        results = SystemResults(store, dataset_key, key, subsets.only)
        for column in layout.columns:
            cell = Cell()
            if column.kind == "bitrate":
                bitrate = results.bitrate()
                if bitrate.unbounded or bitrate.parts is None:
                    cell.text = "+∞"
                else:
                    part = bitrate.parts
                    cell.value = part.value
                    cell.n = len(part.num)
                    cell.ci = bootstrap_ci(part, resamples, seed)
                    if bitrate.nominal is not None and not math.isclose(bitrate.nominal, cell.value, rel_tol=5e-3):
                        cell.nominal = bitrate.nominal
            elif column.kind == "metric":
                part = results.parts(column.target)
                if part is None:
                    cell.note = _state_note(results, column) or _not_computed_note(column, system)
                else:
                    parts[(system, column.label)] = part
                    cell.value = part.value * column.scale
                    cell.n = len(part.num)
                    low, high = bootstrap_ci(part, resamples, seed)
                    cell.ci = (low * column.scale, high * column.scale)
            elif column.kind == "listening":
                fill_listening(store, cell, column, system)
            if with_paper:
                cell.published = published_text(layout.key, system, column.published, condition)
            row.cells[column.label] = cell
    _significance(table, parts)
    return table


def _state_note(results: SystemResults, column: Column) -> str | None:
    """Why a metric column has no value: the stored unavailable/failed reason."""
    state = results.state(column.target)
    if state is None:
        return None
    return f"{column.label.split(' ')[0]} {state[0]}: {state[1]}"


def _not_computed_note(column: Column, system: str) -> str:
    """Why a metric cell is empty: the command that fills it, or that no such metric is registered."""
    metric = metric_of(column.target, METRICS.names()) or column.target.partition("_")[0]
    label = column.label.split(" ")[0]
    if metric not in METRICS.names():
        return f"{label}: no '{metric}' metric is registered in this installation (the paper's value is shown for reference)"
    return f"{label} not computed: bench run --systems {system} --metrics {metric}"


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


__all__ = ["Cell", "Row", "Table", "build_table", "values_frame", "published_values"]
