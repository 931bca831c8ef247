"""The results store: an SQLite database (WAL mode) beside the estimate audio files.

Tables
  datasets      dataset_key -> name, spec, size
  systems       system_key  -> name, family, full config, nominal bitrate
  separations   one row per (dataset, system, mixture): payload bits, seconds, runtime, speaker permutation
  estimates     one row per (dataset, system, mixture, output): audio path, seconds, payload bits of that output's stream
  metric_values one row per (dataset, system, mixture, source, metric, version, field): value or a state
                with reason (source -1: a per-mixture metric such as bitrate)
  runs          one row per ``bench run``: manifest
  transcripts   one row per (dataset, system key or 'reference', mixture, source, ASR config): ASR text,
                so the ASR of a reference runs once per configuration, not once per system

A separation and its estimate rows are inserted in one transaction, after the audio
files are in place (atomic renames), so a run killed at any moment leaves either the
complete result of a mixture or nothing of it.  Primary keys make re-runs idempotent.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import pandas as pd

from bench.errors import BenchError
from bench.paths import child, inside

DB_NAME = "bench.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
    dataset_key TEXT PRIMARY KEY, name TEXT NOT NULL, spec_json TEXT NOT NULL,
    num_mixtures INTEGER NOT NULL, first_seen TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS systems (
    system_key TEXT PRIMARY KEY, name TEXT NOT NULL, family TEXT NOT NULL,
    config_json TEXT NOT NULL, nominal_kbps REAL, first_seen TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS separations (
    dataset_key TEXT NOT NULL, system_key TEXT NOT NULL, mixture_id TEXT NOT NULL,
    seconds REAL NOT NULL, payload_bits INTEGER, runtime_s REAL NOT NULL,
    permutation TEXT NOT NULL, info_json TEXT NOT NULL, created TEXT NOT NULL,
    PRIMARY KEY (dataset_key, system_key, mixture_id));
CREATE TABLE IF NOT EXISTS estimates (
    dataset_key TEXT NOT NULL, system_key TEXT NOT NULL, mixture_id TEXT NOT NULL,
    output_index INTEGER NOT NULL, path TEXT NOT NULL, seconds REAL NOT NULL,
    sample_rate INTEGER NOT NULL, payload_bits INTEGER,
    PRIMARY KEY (dataset_key, system_key, mixture_id, output_index));
CREATE TABLE IF NOT EXISTS metric_values (
    dataset_key TEXT NOT NULL, system_key TEXT NOT NULL, mixture_id TEXT NOT NULL,
    source_index INTEGER NOT NULL, metric TEXT NOT NULL, version TEXT NOT NULL,
    field TEXT NOT NULL, value REAL, status TEXT NOT NULL, reason TEXT,
    PRIMARY KEY (dataset_key, system_key, mixture_id, source_index, metric, version, field));
-- covering index: per-(system, metric, field) sums for reports without touching the table
CREATE INDEX IF NOT EXISTS metric_values_by_metric
    ON metric_values (dataset_key, system_key, metric, field, status, value);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started TEXT NOT NULL, finished TEXT, manifest_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transcripts (
    dataset_key TEXT NOT NULL, system_key TEXT NOT NULL, mixture_id TEXT NOT NULL,
    source_index INTEGER NOT NULL, asr_config TEXT NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (dataset_key, system_key, mixture_id, source_index, asr_config));
"""

#: how long a write waits for another process's lock before giving up with a one-line error
LOCK_TIMEOUT_S = 60.0

#: metric row states; ``unavailable`` rows are retried whenever the metric becomes available
OK, FAILED, UNAVAILABLE = "ok", "failed", "unavailable"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class EstimateRow:
    """An estimate file as stored (one output of one system on one mixture)."""

    output_index: int
    path: str
    seconds: float
    sample_rate: int
    payload_bits: int | None


@dataclass(frozen=True)
class SeparationRow:
    """Everything stored about one system's result on one mixture."""

    mixture_id: str
    seconds: float
    payload_bits: int | None
    runtime_s: float
    permutation: tuple[int, ...]
    estimates: tuple[EstimateRow, ...]
    info: dict[str, Any]


@dataclass(frozen=True)
class MetricRow:
    """One metric value (or state) for one reference source of one mixture."""

    mixture_id: str
    source_index: int
    metric: str
    version: str
    field: str
    value: float | None
    status: str = OK
    reason: str | None = None


class Store:
    """Results directory: ``<root>/bench.sqlite`` plus ``<root>/audio/``."""

    def __init__(self, root: Path, lock_timeout: float | None = None) -> None:
        self.root = Path(root)
        self.lock_timeout = LOCK_TIMEOUT_S if lock_timeout is None else lock_timeout
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BenchError(f"{self.root}: cannot create results directory ({exc.strerror})") from None
        _check_writable(self.root)
        self.db_path = self.root / DB_NAME
        try:
            self.conn = sqlite3.connect(self.db_path, timeout=self.lock_timeout, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
            self._check_schema()
        except sqlite3.OperationalError as exc:
            raise self._sql_error(exc) from None
        except sqlite3.DatabaseError as exc:
            raise BenchError(f"{self.db_path}: not a usable results database ({exc})") from None

    def _check_schema(self) -> None:
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self.conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise BenchError(f"{self.db_path}: schema version {row[0]}, this bench expects {SCHEMA_VERSION}")

    def _sql_error(self, exc: sqlite3.OperationalError) -> BenchError:
        """SQLite's operational errors (a lock held too long, a read-only file) as one line naming the file."""
        text = str(exc)
        if "locked" in text or "busy" in text:
            return BenchError(f"{self.db_path}: database is locked by another process for more than "
                              f"{self.lock_timeout:g} s (another bench on the same --results, or a program "
                              "holding it open); wait for it to finish or use another --results. "
                              "Stored rows are kept")
        if "readonly" in text or "unable to open" in text:
            return BenchError(f"{self.db_path}: cannot write the results database ({text}); fix the folder's "
                              "permissions or use another --results")
        return BenchError(f"{self.db_path}: {text}")

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing block (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error).

        A lock held elsewhere for longer than ``lock_timeout`` ends in a one-line
        :class:`BenchError`; nothing of the block is written, everything before it stays.
        """
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._sql_error(exc) from None
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise self._sql_error(exc) from None
            raise

    # -- paths ---------------------------------------------------------------------------------
    def audio_dir(self, system_name: str, system_key: str, dataset_key: str) -> Path:
        """``audio/<system>/<system key>/<dataset key>/``: one folder per cached configuration.

        The system name is encoded into one path component (:mod:`bench.paths`), so a
        name such as ``..`` cannot put files beside the database.
        """
        return child(self.root / "audio", system_name, system_key[:12], dataset_key[:12])

    @staticmethod
    def estimate_path(out_dir: Path, mixture_id: str, output_index: int) -> Path:
        """Where output ``output_index`` of one mixture goes inside :meth:`audio_dir`.

        The mixture ID is encoded into one component, so distinct IDs never share a
        file and no ID leaves ``out_dir``.
        """
        return child(out_dir, mixture_id) / f"s{output_index + 1}.wav"

    def resolve(self, stored_path: str) -> Path:
        """Estimate paths are stored relative to the results root, so the folder can move;
        one that would leave the root (a foreign or tampered database) is refused."""
        return inside(self.root, stored_path, "estimate path")

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    # -- registration --------------------------------------------------------------------------
    def register_dataset(self, key: str, name: str, spec: dict[str, Any], num_mixtures: int) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO datasets VALUES (?,?,?,?,?)",
                (key, name, json.dumps(spec, sort_keys=True, default=str), num_mixtures, now()),
            )

    def register_system(self, key: str, name: str, family: str, config: dict[str, Any],
                        nominal_kbps: float | None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO systems VALUES (?,?,?,?,?,?)",
                (key, name, family, json.dumps(config, sort_keys=True, default=str), nominal_kbps, now()),
            )

    # -- separations ---------------------------------------------------------------------------
    def done_mixtures(self, dataset_key: str, system_key: str) -> set[str]:
        rows = self.conn.execute(
            "SELECT mixture_id FROM separations WHERE dataset_key=? AND system_key=?", (dataset_key, system_key)
        )
        return {r[0] for r in rows}

    def add_separations(self, dataset_key: str, system_key: str, rows: Sequence[SeparationRow]) -> None:
        """Insert separations with their estimates; the audio files must already exist."""
        with self.transaction() as conn:
            for row in rows:
                conn.execute(
                    "INSERT OR REPLACE INTO separations VALUES (?,?,?,?,?,?,?,?,?)",
                    (dataset_key, system_key, row.mixture_id, row.seconds, row.payload_bits, row.runtime_s,
                     json.dumps(list(row.permutation)), json.dumps(row.info, sort_keys=True, default=str), now()),
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO estimates VALUES (?,?,?,?,?,?,?,?)",
                    [(dataset_key, system_key, row.mixture_id, e.output_index, e.path, e.seconds, e.sample_rate,
                      e.payload_bits) for e in row.estimates],
                )

    def estimate_rows(self, dataset_key: str, system_key: str) -> dict[str, list[EstimateRow]]:
        """Every stored estimate file of one system on one dataset, by mixture (output order)."""
        rows = self.conn.execute(
            "SELECT mixture_id, output_index, path, seconds, sample_rate, payload_bits FROM estimates "
            "WHERE dataset_key=? AND system_key=? ORDER BY mixture_id, output_index", (dataset_key, system_key))
        out: dict[str, list[EstimateRow]] = {}
        for mixture_id, *fields in rows:
            out.setdefault(mixture_id, []).append(EstimateRow(*fields))
        return out

    def forget_separations(self, dataset_key: str, system_key: str, mixture_ids: Iterable[str]) -> None:
        """Drop everything stored about these mixtures for one system (their estimates are to be redone)."""
        ids = [(dataset_key, system_key, m) for m in mixture_ids]
        with self.transaction() as conn:
            for table in ("separations", "estimates", "metric_values", "transcripts"):
                conn.executemany(f"DELETE FROM {table} WHERE dataset_key=? AND system_key=? AND mixture_id=?", ids)

    def separation(self, dataset_key: str, system_key: str, mixture_id: str) -> SeparationRow | None:
        head = self.conn.execute(
            "SELECT seconds, payload_bits, runtime_s, permutation, info_json FROM separations "
            "WHERE dataset_key=? AND system_key=? AND mixture_id=?", (dataset_key, system_key, mixture_id),
        ).fetchone()
        if head is None:
            return None
        outs = self.conn.execute(
            "SELECT output_index, path, seconds, sample_rate, payload_bits FROM estimates "
            "WHERE dataset_key=? AND system_key=? AND mixture_id=? ORDER BY output_index",
            (dataset_key, system_key, mixture_id),
        ).fetchall()
        return SeparationRow(mixture_id, head[0], head[1], head[2], tuple(json.loads(head[3])),
                             tuple(EstimateRow(*o) for o in outs), json.loads(head[4]))

    # -- metric values -------------------------------------------------------------------------
    def metric_done(self, dataset_key: str, system_key: str, metric: str, version: str) -> set[str]:
        """Mixtures whose every source has a settled (ok/failed) row for this metric version."""
        rows = self.conn.execute(
            "SELECT mixture_id FROM metric_values WHERE dataset_key=? AND system_key=? AND metric=? "
            "AND version=? AND status IN (?, ?) GROUP BY mixture_id",
            (dataset_key, system_key, metric, version, OK, FAILED),
        )
        return {r[0] for r in rows}

    def add_metric_values(self, dataset_key: str, system_key: str, rows: Iterable[MetricRow]) -> None:
        rows = list(rows)
        with self.transaction() as conn:
            # an earlier 'unavailable' state for the same metric is superseded by real values
            settled = {(r.mixture_id, r.source_index, r.metric, r.version) for r in rows if r.status != UNAVAILABLE}
            conn.executemany(
                "DELETE FROM metric_values WHERE dataset_key=? AND system_key=? AND mixture_id=? "
                "AND source_index=? AND metric=? AND version=? AND status=?",
                [(dataset_key, system_key, m, s, n, v, UNAVAILABLE) for (m, s, n, v) in settled],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO metric_values VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(dataset_key, system_key, r.mixture_id, r.source_index, r.metric, r.version, r.field, r.value,
                  r.status, r.reason) for r in rows],
            )

    # -- ASR transcripts (for DWER-type metrics) ------------------------------------------------
    def transcripts(self, dataset_key: str, mixture_id: str) -> dict[tuple[str, int, str], str]:
        """Stored ASR texts of one mixture: ``(system key or 'reference', source, config) -> text``."""
        rows = self.conn.execute(
            "SELECT system_key, source_index, asr_config, text FROM transcripts "
            "WHERE dataset_key=? AND mixture_id=?", (dataset_key, mixture_id),
        )
        return {(r[0], int(r[1]), r[2]): r[3] for r in rows}

    def add_transcripts(self, dataset_key: str, mixture_id: str,
                        texts: dict[tuple[str, int, str], str]) -> None:
        if not texts:
            return
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO transcripts VALUES (?,?,?,?,?,?)",
                [(dataset_key, owner, mixture_id, j, config, text) for (owner, j, config), text in texts.items()],
            )

    # -- runs ----------------------------------------------------------------------------------
    def start_run(self, run_id: str, manifest: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO runs VALUES (?,?,?,?)", (run_id, now(), None, json.dumps(manifest, default=str)))

    def finish_run(self, run_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET finished=? WHERE run_id=?", (now(), run_id))

    def system_keys(self, dataset_key: str) -> dict[str, str]:
        """System name -> key of its most recent results on a dataset.

        A name can own several keys (its checkpoint changed between runs); reports
        show the newest, never a mix of two configurations.
        """
        rows = self.conn.execute(
            "SELECT s.name, p.system_key, MAX(p.created) AS last, MIN(p.rowid) AS first FROM separations p "
            "JOIN systems s USING (system_key) WHERE p.dataset_key=? GROUP BY p.system_key ORDER BY last, first",
            (dataset_key,)).fetchall()
        return {name: key for name, key, _, _ in rows}

    def latest_dataset_key(self) -> str | None:
        row = self.conn.execute(
            "SELECT dataset_key FROM separations ORDER BY created DESC, rowid DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    # -- tables for reports ----------------------------------------------------------------------
    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return pd.read_sql_query(sql, self.conn, params=list(params))

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


def _check_writable(root: Path) -> None:
    """Fail early, in one line, when the results folder exists but cannot take new files."""
    try:
        fd, probe = tempfile.mkstemp(dir=root, prefix=".write-test-")
    except OSError as exc:
        raise BenchError(f"{root}: results folder is not writable ({exc.strerror}); fix its permissions "
                         "or use another --results") from None
    os.close(fd)
    os.unlink(probe)


def open_existing(root: Path) -> Store:
    """Open a results directory that must already hold a database (for ``bench report``)."""
    if not (Path(root) / DB_NAME).exists():
        raise BenchError(f"{Path(root) / DB_NAME}: no results here (run `bench run --results {root}` first)")
    return Store(root)
