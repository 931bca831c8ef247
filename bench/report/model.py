"""A paper table as plain data: rows of cells, built by ``tables``/``abx`` and printed by ``render``.

Kept apart from the builders so that the objective and the ABX builders can share it
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bench.report.layouts import Column, TableLayout


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
    subset: str | None = None  # which mixtures of the dataset the row's system has ("n=16 of 80")


@dataclass
class Table:
    layout: TableLayout
    dataset_name: str
    columns: list[Column]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    with_paper: bool = False
    condition: str = ""


def values_frame(table: Table) -> pd.DataFrame:
    """The table as a flat frame (one row per table row), as written to CSV."""
    records: list[dict[str, Any]] = []
    for row in table.rows:
        rec: dict[str, Any] = {"row": row.label, "system": row.system, "system_key": row.system_key or "",
                               "subset": row.subset or ""}
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
