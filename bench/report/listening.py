"""Listening-test results as report cells (NMOS/SMOS columns; the ABX tables read the same rows)."""

from __future__ import annotations

import pandas as pd

from bench.report.layouts import Column
from bench.report.model import Cell
from bench.store import Store


def listening_results(store: Store) -> pd.DataFrame | None:
    """Every stored ``bench listen analyze`` row, oldest first; ``None`` when there are none."""
    frame = store.listening_results()
    return None if frame.empty else frame


def fill_listening(store: Store, cell: Cell, column: Column, system: str) -> None:
    """NMOS/SMOS of ``system`` from the latest analysed batch, or a note naming the commands that make one."""
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
