"""The store owns the schema and every query: no SQL in the library outside ``bench/store/``.

Why a grep: the concern drifted before (three "latest system key" queries with three
tie-breaks, a listening-test table created through the store's connection); a test that
reads the package's source stops the next query from being written anywhere else.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from bench.store import SCHEMA_VERSION, Store

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "metrics", "baselines", "systems")
STORE = ROOT / "bench" / "store"
#: a call that runs SQL, the store's connection, or a statement in a string (SQL keywords in capitals,
#: as this project writes them, so prose such as "Delete temporary files" is not a hit)
SQL = re.compile(r"\.execute(many|script)?\(|\.conn\b|\bimport sqlite3\b|read_sql|"
                 r"[\"'](SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|PRAGMA|ATTACH)\s")


def library_files() -> list[Path]:
    return [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if STORE not in p.parents]


def test_no_sql_outside_the_store():
    hits = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in library_files()
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if SQL.search(line)]
    assert hits == []


def test_the_pattern_sees_sql():
    """The grep must catch what it is there to catch (a pattern that matches nothing passes vacuously)."""
    for line in ('conn.execute("x")', 'store.conn', 'store.frame("SELECT name FROM systems")',
                 "import sqlite3", "pd.read_sql_query(q, c)"):
        assert SQL.search(line), line
    assert not SQL.search("selected = select_rows(x)")


def _version_1_database(root: Path) -> None:
    """A database as bench wrote it before listening results were part of the schema."""
    store = Store(root)
    store.close()
    with sqlite3.connect(root / "bench.sqlite") as conn:
        conn.execute("DROP TABLE listening_results")
        conn.execute("CREATE TABLE listening_results (test TEXT NOT NULL, system TEXT NOT NULL, other TEXT NOT "
                     "NULL DEFAULT '', n INTEGER NOT NULL, n_workers INTEGER, mean REAL, ci_low REAL, ci_high "
                     "REAL, ci_method TEXT, pref_system REAL, pref_other REAL, pref_np REAL, p_ttest REAL, "
                     "p_sign REAL, batch TEXT NOT NULL, dataset_key TEXT, created TEXT NOT NULL, "
                     "PRIMARY KEY (batch, test, system, other))")
        conn.execute("INSERT INTO listening_results (test, system, n, mean, batch, created) "
                     "VALUES ('nmos', 'codesep', 10, 3.5, 'B0', '2000-01-01T00:00:00+00:00')")
        conn.execute("UPDATE meta SET value='1' WHERE key='schema_version'")


def test_an_older_database_is_migrated_on_open(tmp_path: Path):
    _version_1_database(tmp_path)
    store = Store(tmp_path)
    rows = store.listening_results()
    assert list(rows["system"]) == ["codesep"] and rows["exclude_policy"].isna().all()
    store.save_listening_results("B1", "nmos", [{"system": "fstc@2", "other": "", "n": 4, "mean": float("nan"),
                                                 "exclude_policy": "worker"}])
    again = store.listening_results()
    assert list(again["exclude_policy"].fillna("")) == ["", "worker"]
    assert list(again["mean"].isna()) == [False, True]  # NaN stored as NULL
    store.close()
    with sqlite3.connect(tmp_path / "bench.sqlite") as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)


def test_a_version_2_database_gets_the_index_that_sums_over_shared_mixtures(tmp_path: Path):
    """Version 3's covering index holds the mixture ID (reports on systems run on different subsets)."""
    Store(tmp_path).close()
    with sqlite3.connect(tmp_path / "bench.sqlite") as conn:  # as bench wrote it at version 2
        conn.execute("DROP INDEX metric_values_sums")
        conn.execute("CREATE INDEX metric_values_by_metric ON metric_values "
                     "(dataset_key, system_key, metric, field, status, value)")
        conn.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    store = Store(tmp_path)
    indexes = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "metric_values_sums" in indexes and "metric_values_by_metric" not in indexes
    plan = " ".join(str(r) for r in store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT system_key, SUM(value) FROM metric_values WHERE dataset_key=? AND status=? "
        "AND mixture_id IN (SELECT value FROM json_each(?)) GROUP BY system_key, metric, field", ("k", "ok", "[]")))
    assert "COVERING INDEX metric_values_sums" in plan, plan
    store.close()


def test_a_newer_database_is_refused(tmp_path: Path):
    Store(tmp_path).close()
    with sqlite3.connect(tmp_path / "bench.sqlite") as conn:
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(Exception, match="this bench expects"):
        Store(tmp_path)


def test_latest_key_and_nominal_rate_have_one_answer(tmp_path: Path):
    from bench.store import StoredSeparation

    store = Store(tmp_path)
    store.register_dataset("d" * 64, "set", {"segment": "first3s"}, 1)
    for key, kbps in (("old", 2.0), ("new", None)):
        store.register_system(key, "fstc@2", "fstc", {}, kbps)
        store.add_separations("d" * 64, key, [StoredSeparation("m1", 1.0, None, 0.1, (0, 1), (), {})])
    assert store.system_keys("d" * 64) == {"fstc@2": "new"}
    assert store.nominal_kbps() == {"old": 2.0, "new": None}
    assert store.find_dataset("set") == "d" * 64 and store.dataset("d" * 64).segment == "first3s"
    with pytest.raises(Exception, match="matches 0 stored datasets"):
        store.find_dataset("nothing")
    store.close()
