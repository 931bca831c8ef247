"""The store's typed reads for reports, listening tests, ``bench score`` and the CLI.

Each question asked of the results lives here once, with one answer: which key is a
system name's latest configuration, what a stored nominal bitrate means when it is
NULL, which dataset a ``--dataset`` prefix names.  Before, those were answered in
several modules with their own SQL and drifted apart (three tie-breaks for "latest").
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any, Collection, Sequence

import pandas as pd

from bench.errors import BenchError
from bench.store.rows import FAILED, OK, UNAVAILABLE, DatasetInfo
from bench.store.schema import LISTENING_COLUMNS, LISTENING_TABLE


def kbps_or_none(value: Any) -> float | None:
    """A stored nominal bitrate: NULL (read as ``None`` or NaN) means unbounded."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _only(mixture_ids: Collection[str] | None) -> tuple[str, tuple[str, ...]]:
    """A ``mixture_id IN (…)`` clause for a set of any size (one JSON parameter), or nothing."""
    if mixture_ids is None:
        return "", ()
    return " AND mixture_id IN (SELECT value FROM json_each(?))", (json.dumps(sorted(mixture_ids)),)


def _spec(text: str) -> dict[str, Any]:
    try:
        spec = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return spec if isinstance(spec, dict) else {}


class ReportReads:
    """Read methods of :class:`~bench.store.Store` (a mixin: it needs ``conn`` and ``db_path``)."""

    conn: sqlite3.Connection
    db_path: Path

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """A raw query, for tests and one-off inspection; library modules call the typed reads below."""
        return pd.read_sql_query(sql, self.conn, params=list(params))

    # -- datasets --------------------------------------------------------------------------------
    def datasets(self) -> list[DatasetInfo]:
        rows = self.conn.execute("SELECT dataset_key, name, spec_json, num_mixtures FROM datasets ORDER BY rowid")
        return [DatasetInfo(key, name, _spec(spec), int(n)) for key, name, spec, n in rows]

    def dataset(self, dataset_key: str) -> DatasetInfo | None:
        row = self.conn.execute("SELECT dataset_key, name, spec_json, num_mixtures FROM datasets WHERE dataset_key=?",
                                (dataset_key,)).fetchone()
        return None if row is None else DatasetInfo(row[0], row[1], _spec(row[2]), int(row[3]))

    def dataset_name(self, dataset_key: str) -> str:
        """The registered name, or the key's first 12 characters for results that never registered one."""
        info = self.dataset(dataset_key)
        return info.name if info is not None else dataset_key[:12]

    def find_dataset(self, prefix: str | None) -> str | None:
        """The dataset a ``--dataset`` value names (key prefix or name); ``None`` when none was given."""
        if prefix is None:
            return None
        known = self.datasets()
        hits = [d for d in known if d.key.startswith(prefix) or d.name == prefix]
        if len(hits) != 1:
            listed = ", ".join(f"{d.key[:12]} ({d.name})" for d in known)
            raise BenchError(f"--dataset {prefix!r} matches {len(hits)} stored datasets; known: {listed or 'none'}")
        return hits[0].key

    def latest_dataset_key(self) -> str | None:
        row = self.conn.execute(
            "SELECT dataset_key FROM separations ORDER BY created DESC, rowid DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    # -- systems ---------------------------------------------------------------------------------
    def system_keys(self, dataset_key: str) -> dict[str, str]:
        """System name -> key of its most recent results on a dataset, oldest name first.

        A name can own several keys (its checkpoint changed between runs); reports, ``bench
        score`` and listening tests use the newest, never a mix of two configurations.  The
        newest is the key with the latest separation; equal times go to the key stored last.
        """
        rows = self.conn.execute(
            "SELECT s.name, p.system_key, MAX(p.created) AS last, MIN(p.rowid) AS first FROM separations p "
            "JOIN systems s USING (system_key) WHERE p.dataset_key=? GROUP BY p.system_key ORDER BY last, first",
            (dataset_key,)).fetchall()
        return {name: key for name, key, _, _ in rows}

    def nominal_kbps(self) -> dict[str, float | None]:
        """System key -> declared bitrate (``None``: unbounded) of every registered system."""
        rows = self.conn.execute("SELECT system_key, nominal_kbps FROM systems")
        return {key: kbps_or_none(kbps) for key, kbps in rows}

    def system_families(self) -> dict[str, str]:
        """System key -> family (``fstc``, ``codesep``, …), for plots that draw one line per family."""
        return {key: family for key, family in self.conn.execute("SELECT system_key, family FROM systems")}

    # -- results of one system -------------------------------------------------------------------
    def permutations(self, dataset_key: str, system_key: str) -> dict[str, tuple[int, ...]]:
        """Mixture -> stored speaker assignment (``permutation[j]`` is the output estimating source j)."""
        rows = self.conn.execute("SELECT mixture_id, permutation FROM separations WHERE dataset_key=? AND "
                                 "system_key=?", (dataset_key, system_key))
        return {mixture_id: tuple(int(k) for k in json.loads(perm)) for mixture_id, perm in rows}

    def payloads(self, dataset_key: str, system_key: str) -> pd.DataFrame:
        """``mixture_id, payload_bits, seconds`` of every stored separation (bits NULL: nothing sent)."""
        return self.frame("SELECT mixture_id, payload_bits, seconds FROM separations WHERE dataset_key=? AND "
                          "system_key=?", (dataset_key, system_key))

    def metric_values(self, dataset_key: str, system_key: str) -> pd.DataFrame:
        """Every stored metric row of one system: ``mixture_id, source_index, metric, field, value, status, reason``."""
        return self.frame(
            "SELECT mixture_id, source_index, metric, field, value, status, reason FROM metric_values "
            "WHERE dataset_key=? AND system_key=?", (dataset_key, system_key))

    # -- results of a dataset --------------------------------------------------------------------
    def stored_mixtures(self, dataset_key: str) -> dict[str, frozenset[str]]:
        """System key -> the mixtures it has a stored separation of (the subset its results cover)."""
        out: dict[str, set[str]] = {}
        for key, mixture_id in self.conn.execute("SELECT system_key, mixture_id FROM separations WHERE dataset_key=?",
                                                 (dataset_key,)):
            out.setdefault(key, set()).add(mixture_id)
        return {key: frozenset(ids) for key, ids in out.items()}

    def metric_sums(self, dataset_key: str, mixture_ids: Collection[str] | None = None) -> pd.DataFrame:
        """Per (system key, metric, field): ``total`` and count ``n`` of the ok values.

        Grouped by key, not joined by name: the covering index answers this without
        reading the table, so a report over millions of rows stays fast.  ``mixture_ids``:
        only those mixtures (the ones every compared system has); the index holds the
        mixture ID, so that stays off the table too.
        """
        where, params = _only(mixture_ids)
        return self.frame(
            "SELECT system_key, metric, field, SUM(value) AS total, COUNT(value) AS n FROM metric_values "
            f"WHERE dataset_key=? AND status=?{where} GROUP BY system_key, metric, field", (dataset_key, OK, *params))

    def metric_states(self, dataset_key: str, mixture_ids: Collection[str] | None = None) -> pd.DataFrame:
        """Per (system key, metric, status) of the unavailable and failed rows: first ``reason`` and count ``n``."""
        where, params = _only(mixture_ids)
        return self.frame(
            "SELECT system_key, metric, status, MIN(reason) AS reason, COUNT(*) AS n FROM metric_values "
            f"WHERE dataset_key=? AND status IN (?, ?){where} GROUP BY system_key, metric, status",
            (dataset_key, UNAVAILABLE, FAILED, *params))

    def metric_frame(self, dataset_key: str) -> pd.DataFrame:
        """All metric rows of one dataset joined with system names (one row per value)."""
        return self.frame(
            "SELECT s.name AS system, m.system_key, m.mixture_id, m.source_index, m.metric, m.version, m.field, "
            "m.value, m.status, m.reason FROM metric_values m JOIN systems s USING (system_key) "
            "WHERE m.dataset_key=?", (dataset_key,),
        )

    def separation_frame(self, dataset_key: str) -> pd.DataFrame:
        return self.frame(
            "SELECT s.name AS system, s.system_key, s.nominal_kbps, p.mixture_id, p.seconds, p.payload_bits, "
            "p.runtime_s FROM separations p JOIN systems s USING (system_key) WHERE p.dataset_key=?",
            (dataset_key,),
        )

    def estimate_files(self, dataset_key: str) -> pd.DataFrame:
        """``system, mixture_id, output_index, path`` of every stored estimate file (paths as stored)."""
        return self.frame("SELECT s.name AS system, e.mixture_id, e.output_index, e.path FROM estimates e "
                          "JOIN systems s USING (system_key) WHERE e.dataset_key=?", (dataset_key,))

    # -- listening tests -------------------------------------------------------------------------
    def listening_results(self) -> pd.DataFrame:
        """Every stored listening-test row (columns ``LISTENING_COLUMNS``), oldest batch first; empty if none."""
        return self.frame(f"SELECT {', '.join(LISTENING_COLUMNS)} FROM {LISTENING_TABLE} "
                          "ORDER BY created, batch, test, system, other")
