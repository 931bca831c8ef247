"""``bench merge``: combine shard result directories into one, refusing inconsistent inputs.

Shards are consistent when they describe the same datasets (fingerprints) and give
each system name the same system key (same configuration and checkpoints).  Rows are
copied table by table; a row whose key already exists with different content is a
conflict and stops the merge before anything is written.  Estimate files are copied
(hard-linked when possible) to the same relative paths.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.paths import inside
from bench.store import DB_NAME, Store

#: columns that legitimately differ between two copies of the same result
VOLATILE = {"created", "runtime_s", "first_seen", "started", "finished"}


@dataclass
class MergeSummary:
    sources: int
    rows: dict[str, int]
    files: int


def _tables(conn: sqlite3.Connection, schema: str = "main") -> dict[str, str]:
    rows = conn.execute(f"SELECT name, sql FROM {schema}.sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
    return {name: sql for name, sql in rows}


def _columns(conn: sqlite3.Connection, table: str, schema: str) -> tuple[list[str], list[str]]:
    info = conn.execute(f"PRAGMA {schema}.table_info({table})").fetchall()
    columns = [r[1] for r in info]
    pk = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5] > 0]
    return columns, pk


def check_consistent(roots: list[Path]) -> None:
    """Same dataset fingerprints everywhere, one key per system name, every estimate path inside its folder."""
    datasets: dict[Path, set[str]] = {}
    keys: dict[str, dict[str, Path]] = {}
    for root in roots:
        db = root / DB_NAME
        if not db.exists():
            raise BenchError(f"{db}: no results database to merge")
        with sqlite3.connect(db) as conn:
            datasets[root] = {r[0] for r in conn.execute("SELECT dataset_key FROM separations GROUP BY dataset_key")}
            for (path,) in conn.execute("SELECT path FROM estimates"):
                inside(root, path, "estimate path")  # a tampered database must not copy files out of its folder
            for name, key in conn.execute("SELECT s.name, s.system_key FROM systems s WHERE EXISTS "
                                          "(SELECT 1 FROM separations p WHERE p.system_key = s.system_key)"):
                keys.setdefault(name, {})[key] = root
    first = roots[0]
    for root in roots[1:]:
        if datasets[root] != datasets[first]:
            raise BenchError(f"{root}: dataset fingerprints {sorted(k[:12] for k in datasets[root])} differ from "
                             f"{first}'s {sorted(k[:12] for k in datasets[first])}; not shards of one run")
    for name, by_key in keys.items():
        if len(by_key) > 1:
            where = ", ".join(f"{k[:12]} in {r}" for k, r in by_key.items())
            raise BenchError(f"system {name!r} has different configurations across inputs ({where})")


def merge_results(sources: list[Path], out: Path) -> MergeSummary:
    roots = [Path(s) for s in sources]
    if len(roots) < 2:
        raise BenchError("bench merge needs at least two result directories")
    if Path(out).resolve() in {r.resolve() for r in roots}:
        raise BenchError(f"{out}: the output must not be one of the inputs")
    check_consistent(roots)
    store = Store(out)
    conn = store.conn
    counts: dict[str, int] = {}
    files = 0
    for root in roots:
        conn.execute("ATTACH DATABASE ? AS src", (str(root / DB_NAME),))
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for table, sql in _tables(conn, "src").items():
                    if table not in _tables(conn, "main"):
                        conn.execute(sql)
                    counts[table] = counts.get(table, 0) + _merge_table(conn, table, root)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            paths = [r[0] for r in conn.execute("SELECT path FROM src.estimates")]
        finally:
            conn.execute("DETACH DATABASE src")
        # paths come from a database someone else wrote: none may leave its folder
        files += sum(_copy_file(inside(root, p, "estimate path"), inside(store.root, p, "estimate path"))
                     for p in paths)
    return MergeSummary(len(roots), counts, files)


def _merge_table(conn: sqlite3.Connection, table: str, root: Path) -> int:
    columns, pk = _columns(conn, table, "src")
    main_columns, _ = _columns(conn, table, "main")
    if columns != main_columns:
        raise BenchError(f"{root / DB_NAME}: table {table} has columns {columns}, expected {main_columns}")
    cols = ", ".join(columns)
    if pk:
        stable = ", ".join(c for c in columns if c not in VOLATILE)
        keys = ", ".join(pk)
        same_key = conn.execute(f"SELECT COUNT(*) FROM (SELECT {keys} FROM src.{table} INTERSECT "
                                f"SELECT {keys} FROM main.{table})").fetchone()[0]
        same_row = conn.execute(f"SELECT COUNT(*) FROM (SELECT {stable} FROM src.{table} INTERSECT "
                                f"SELECT {stable} FROM main.{table})").fetchone()[0]
        if same_key != same_row and table not in ("meta",):
            raise BenchError(f"{root / DB_NAME}: {same_key - same_row} rows of {table} conflict with rows "
                             "already merged (same key, different values)")
    before = conn.execute(f"SELECT COUNT(*) FROM main.{table}").fetchone()[0]
    conn.execute(f"INSERT OR IGNORE INTO main.{table} ({cols}) SELECT {cols} FROM src.{table}")
    return conn.execute(f"SELECT COUNT(*) FROM main.{table}").fetchone()[0] - before


def _copy_file(src: Path, dst: Path) -> int:
    if dst.exists():
        return 0
    if not src.exists():
        raise BenchError(f"{src}: estimate file listed in the database is missing")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".tmp-{dst.name}")
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)
    return 1
