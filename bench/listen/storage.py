"""Listening-test results in the results database, for reports.

An additive table in the same ``bench.sqlite`` (created here with ``CREATE TABLE IF
NOT EXISTS``; ``bench.store`` is untouched).  One row per (batch, test, system,
other): MOS tests fill ``mean``/``ci_low``/``ci_high`` (``other`` is empty), ABX tests
fill the preference percentages and p-values with ``system`` the first system of
the pair.  ``exclude_policy`` records how listeners were screened (``worker`` or
``assignment``, see :mod:`bench.listen.screening`); a database made before that
column existed gains it on first use.  Re-analysing a batch replaces its rows.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import pandas as pd

from bench.store import Store, now

TABLE = "listening_results"
COLUMNS = ["test", "system", "other", "n", "n_workers", "mean", "ci_low", "ci_high", "ci_method",
           "pref_system", "pref_other", "pref_np", "p_ttest", "p_sign", "exclude_policy", "batch", "dataset_key", "created"]

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    test TEXT NOT NULL, system TEXT NOT NULL, other TEXT NOT NULL DEFAULT '',
    n INTEGER NOT NULL, n_workers INTEGER,
    mean REAL, ci_low REAL, ci_high REAL, ci_method TEXT,
    pref_system REAL, pref_other REAL, pref_np REAL, p_ttest REAL, p_sign REAL, exclude_policy TEXT,
    batch TEXT NOT NULL, dataset_key TEXT, created TEXT NOT NULL,
    PRIMARY KEY (batch, test, system, other));
"""


def ensure_table(store: Store) -> None:
    store.conn.executescript(_SCHEMA)
    have = {row[1] for row in store.conn.execute(f"PRAGMA table_info({TABLE})")}
    if "exclude_policy" not in have:  # tables made before the policy was recorded
        store.conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN exclude_policy TEXT")


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def save_listening_results(store: Store, batch: str, test: str, rows: Iterable[dict[str, Any]]) -> int:
    """Replace the rows of (batch, test) with ``rows`` (dicts keyed by :data:`COLUMNS`)."""
    ensure_table(store)
    rows = list(rows)
    stamp = now()
    with store.transaction() as conn:
        conn.execute(f"DELETE FROM {TABLE} WHERE batch=? AND test=?", (batch, test))
        conn.executemany(
            f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            [tuple(_clean({**r, "batch": batch, "test": test, "created": stamp}.get(c)) for c in COLUMNS)
             for r in rows])
    return len(rows)


def load_listening_results(store: Store) -> pd.DataFrame:
    """Every stored listening-test row (columns :data:`COLUMNS`), oldest batch first; empty if none."""
    ensure_table(store)
    return store.frame(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} ORDER BY created, batch, test, system, other")
