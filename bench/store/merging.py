"""The SQL behind ``bench merge``: what a shard's database holds, and copying its rows into another.

The merge policy (which inputs belong together, copying the audio files) is
:mod:`bench.run.merge`; this module only reads and writes tables, so the schema stays
the store's business.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

#: columns that legitimately differ between two copies of the same result
VOLATILE = {"created", "runtime_s", "first_seen", "started", "finished"}


@dataclass(frozen=True)
class ShardContents:
    """What a results database holds, as far as the merge checks need it."""

    dataset_keys: frozenset[str]
    #: estimate paths as stored (relative to that database's folder; checked by the caller)
    estimate_paths: tuple[str, ...]
    #: (system name, system key) of every system with separations
    systems: tuple[tuple[str, str], ...]


def shard_contents(db_path: Path) -> ShardContents:
    with sqlite3.connect(db_path) as conn:
        datasets = frozenset(r[0] for r in conn.execute("SELECT dataset_key FROM separations GROUP BY dataset_key"))
        paths = tuple(r[0] for r in conn.execute("SELECT path FROM estimates"))
        systems = tuple((name, key) for name, key in conn.execute(
            "SELECT s.name, s.system_key FROM systems s WHERE EXISTS "
            "(SELECT 1 FROM separations p WHERE p.system_key = s.system_key)"))
    return ShardContents(datasets, paths, systems)


def _tables(conn: sqlite3.Connection, schema: str = "main") -> dict[str, str]:
    rows = conn.execute(f"SELECT name, sql FROM {schema}.sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
    return {name: sql for name, sql in rows}


def _columns(conn: sqlite3.Connection, table: str, schema: str) -> tuple[list[str], list[str]]:
    info = conn.execute(f"PRAGMA {schema}.table_info({table})").fetchall()
    columns = [r[1] for r in info]
    pk = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5] > 0]
    return columns, pk


def copy_database(conn: sqlite3.Connection, db_path: Path) -> tuple[dict[str, int], list[str]]:
    """Copy every row of ``db_path`` into ``conn``'s database in one transaction.

    A row whose key is already there with other (non-volatile) values is a conflict: nothing
    of this source is written.  Returns rows added per table and the source's estimate paths.
    """
    counts: dict[str, int] = {}
    conn.execute("ATTACH DATABASE ? AS src", (str(db_path),))
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table, sql in _tables(conn, "src").items():
                if table not in _tables(conn, "main"):
                    conn.execute(sql)
                counts[table] = _merge_table(conn, table, db_path)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        paths = [r[0] for r in conn.execute("SELECT path FROM src.estimates")]
    finally:
        conn.execute("DETACH DATABASE src")
    return counts, paths


def _merge_table(conn: sqlite3.Connection, table: str, db_path: Path) -> int:
    columns, pk = _columns(conn, table, "src")
    main_columns, _ = _columns(conn, table, "main")
    if columns != main_columns:
        raise BenchError(f"{db_path}: table {table} has columns {columns}, expected {main_columns}")
    cols = ", ".join(columns)
    if pk:
        stable = ", ".join(c for c in columns if c not in VOLATILE)
        keys = ", ".join(pk)
        same_key = conn.execute(f"SELECT COUNT(*) FROM (SELECT {keys} FROM src.{table} INTERSECT "
                                f"SELECT {keys} FROM main.{table})").fetchone()[0]
        same_row = conn.execute(f"SELECT COUNT(*) FROM (SELECT {stable} FROM src.{table} INTERSECT "
                                f"SELECT {stable} FROM main.{table})").fetchone()[0]
        if same_key != same_row and table not in ("meta",):
            raise BenchError(f"{db_path}: {same_key - same_row} rows of {table} conflict with rows "
                             "already merged (same key, different values)")
    before = conn.execute(f"SELECT COUNT(*) FROM main.{table}").fetchone()[0]
    conn.execute(f"INSERT OR IGNORE INTO main.{table} ({cols}) SELECT {cols} FROM src.{table}")
    return conn.execute(f"SELECT COUNT(*) FROM main.{table}").fetchone()[0] - before
