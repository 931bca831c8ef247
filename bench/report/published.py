"""The papers' published numbers (``published.csv``), for ``--paper`` rows beside ours.

One module owns the file and its formatting, so the objective tables and the ABX
tables print a published value the same way.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

import pandas as pd


@lru_cache(maxsize=1)
def published_values() -> pd.DataFrame:
    """The papers' numbers (``published.csv``: table, row, system, condition, column, value, ci95, source)."""
    text = resources.files("bench.report").joinpath("published.csv").read_text()
    return pd.DataFrame(list(csv.DictReader(text.splitlines())))


def published_text(table: str, system: str, column: str, condition: str) -> str | None:
    """The published value of one cell as printed (``3.61 (± 0.09)``, ``+∞``, ``1 kbps``), if the paper has one."""
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
