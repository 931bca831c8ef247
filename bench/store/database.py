"""The results store: an SQLite database (WAL mode) beside the estimate audio files.

This package is the only place that speaks SQL (``tests/test_store_boundary.py`` checks it):
the tables and their migrations are in :mod:`bench.store.schema`, the records in
:mod:`bench.store.rows`, the reads that reports and listening tests need in
:mod:`bench.store.reads`, and the table copying behind ``bench merge`` in
:mod:`bench.store.merging`.

A separation and its estimate rows are inserted in one transaction, after the audio
files are in place (atomic renames), so a run killed at any moment leaves either the
complete result of a mixture or nothing of it.  Primary keys make re-runs idempotent.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from bench.errors import BenchError
from bench.paths import child, inside
from bench.store.merging import copy_database
from bench.store.reads import ReportReads
from bench.store.rows import FAILED, OK, UNAVAILABLE, EstimateRow, MetricRow, StoredSeparation, now
from bench.store.schema import (DDL, LISTENING_COLUMNS, LISTENING_TABLE, MIGRATIONS, SCHEMA_VERSION, set_version,
                                stored_version)

DB_NAME = "bench.sqlite"

#: how long a write waits for another process's lock before giving up with a one-line error
LOCK_TIMEOUT_S = 60.0


class Store(ReportReads):
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
            self.conn.executescript(DDL)
            self._check_schema()
        except sqlite3.OperationalError as exc:
            raise self._sql_error(exc) from None
        except sqlite3.DatabaseError as exc:
            raise BenchError(f"{self.db_path}: not a usable results database ({exc})") from None

    def _check_schema(self) -> None:
        """Stamp a new database; bring an older one forward through :data:`~bench.store.schema.MIGRATIONS`."""
        version = stored_version(self.conn)
        if version is None:
            set_version(self.conn, SCHEMA_VERSION)
            return
        if version > SCHEMA_VERSION:
            raise BenchError(f"{self.db_path}: schema version {version}, this bench expects {SCHEMA_VERSION}")
        if version < SCHEMA_VERSION:
            with self.transaction() as conn:
                for step in range(version, SCHEMA_VERSION):
                    MIGRATIONS[step](conn)
                set_version(conn, SCHEMA_VERSION)

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
        """Record a dataset key: its name, spec and how many mixtures it holds (the whole order,
        which ``--limit`` cuts); a key registered before keeps its first-seen time, the rest is updated
        (a key that a run without ``--limit`` had before subsets nested was named with ``n=…``)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO datasets VALUES (?,?,?,?,?) ON CONFLICT (dataset_key) DO UPDATE SET "
                "name=excluded.name, spec_json=excluded.spec_json, num_mixtures=excluded.num_mixtures",
                (key, name, json.dumps(spec, sort_keys=True, default=str), num_mixtures, now()),
            )

    def adopt_dataset(self, old_key: str, new_key: str) -> int:
        """File the rows stored under ``old_key`` under ``new_key`` (one transaction) and forget ``old_key``.

        For results stored before subsets nested, when a limited selection had a key of its own
        (:meth:`bench.data.Dataset.prefix_fingerprint` proves ``old_key`` is the first n of
        ``new_key``'s order).  Per (system, mixture): a separation already under ``new_key`` wins, and
        with it its estimates, scores and texts; otherwise the old ones move over with their audio
        paths as stored.  Reference transcripts move where ``new_key`` lacks them.  Returns how many
        separations moved.
        """
        keyed = ("dataset_key", "system_key", "mixture_id")
        with self.transaction() as conn:
            conn.execute("CREATE TEMP TABLE adopted AS SELECT o.system_key, o.mixture_id FROM separations o "
                         "WHERE o.dataset_key=? AND NOT EXISTS (SELECT 1 FROM separations n WHERE n.dataset_key=? "
                         "AND n.system_key=o.system_key AND n.mixture_id=o.mixture_id)", (old_key, new_key))
            try:
                moved = conn.execute("SELECT COUNT(*) FROM temp.adopted").fetchone()[0]
                for table in ("separations", "estimates", "metric_values", "transcripts"):
                    columns = [r[1] for r in conn.execute(f"PRAGMA main.table_info({table})")]
                    assert tuple(columns[:3]) == keyed, (table, columns)
                    rest = ", ".join(f"o.{c}" for c in columns[1:])
                    keep = "(o.system_key, o.mixture_id) IN (SELECT system_key, mixture_id FROM temp.adopted)"
                    if table == "transcripts":
                        keep += " OR o.system_key='reference'"
                    conn.execute(f"INSERT OR IGNORE INTO main.{table} SELECT ?, {rest} FROM main.{table} o "
                                 f"WHERE o.dataset_key=? AND ({keep})", (new_key, old_key))
                    conn.execute(f"DELETE FROM main.{table} WHERE dataset_key=?", (old_key,))
            finally:
                conn.execute("DROP TABLE temp.adopted")
            conn.execute(f"UPDATE {LISTENING_TABLE} SET dataset_key=? WHERE dataset_key=?", (new_key, old_key))
            conn.execute("DELETE FROM datasets WHERE dataset_key=?", (old_key,))
        return moved

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

    def add_separations(self, dataset_key: str, system_key: str, rows: Sequence[StoredSeparation]) -> None:
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

    def separation(self, dataset_key: str, system_key: str, mixture_id: str) -> StoredSeparation | None:
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
        return StoredSeparation(mixture_id, head[0], head[1], head[2], tuple(json.loads(head[3])),
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

    # -- listening tests ---------------------------------------------------------------------------
    def save_listening_results(self, batch: str, test: str, rows: Iterable[dict[str, Any]]) -> int:
        """Replace the rows of (batch, test) with ``rows`` (dicts keyed by :data:`LISTENING_COLUMNS`);
        re-analysing a batch replaces what its earlier analysis stored."""
        rows = list(rows)
        stamp = now()
        columns = ", ".join(LISTENING_COLUMNS)
        with self.transaction() as conn:
            conn.execute(f"DELETE FROM {LISTENING_TABLE} WHERE batch=? AND test=?", (batch, test))
            conn.executemany(
                f"INSERT INTO {LISTENING_TABLE} ({columns}) VALUES ({', '.join('?' * len(LISTENING_COLUMNS))})",
                [tuple(_no_nan({**r, "batch": batch, "test": test, "created": stamp}.get(c))
                       for c in LISTENING_COLUMNS) for r in rows])
        return len(rows)

    # -- merging -----------------------------------------------------------------------------------
    def merge_from(self, db_path: Path) -> tuple[dict[str, int], list[str]]:
        """Copy another results database's rows in (``bench merge``): rows added per table and its
        estimate paths; a conflicting row stops it before anything is written."""
        return copy_database(self.conn, db_path)

    # -- runs ----------------------------------------------------------------------------------
    def start_run(self, run_id: str, manifest: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO runs VALUES (?,?,?,?)", (run_id, now(), None, json.dumps(manifest, default=str)))

    def finish_run(self, run_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET finished=? WHERE run_id=?", (now(), run_id))


def _no_nan(value: Any) -> Any:
    """NaN as SQL NULL (an undefined statistic is stored as absent, not as a float that compares unequal)."""
    return None if isinstance(value, float) and math.isnan(value) else value


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
