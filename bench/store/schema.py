"""The results database's tables, and the one path that brings an older database up to date.

Tables
  datasets      dataset_key -> name, spec, size
  systems       system_key  -> name, family, full config, nominal bitrate
  separations   one row per (dataset, system, mixture): payload bits, seconds, runtime, speaker permutation
  estimates     one row per (dataset, system, mixture, output): audio path, seconds, payload bits of that
                output's stream
  metric_values one row per (dataset, system, mixture, source, metric, version, field): value or a state
                with reason (source -1: a per-mixture metric such as bitrate)
  runs          one row per ``bench run``: manifest
  transcripts   one row per (dataset, system key or 'reference', mixture, source, ASR config): ASR text,
                so the ASR of a reference runs once per configuration, not once per system
  listening_results one row per (batch, test, system, other) from ``bench listen analyze``: MOS tests fill
                ``mean``/``ci_low``/``ci_high`` (``other`` empty), ABX tests the preference percentages and
                p-values; ``exclude_policy`` says how listeners were screened

Why migrations live here: the listening-test table used to be created (and altered) by the
listening code through the store's connection, so two modules owned the schema.  Now every
table is declared once, below, and a database written by an older bench is brought forward
by :data:`MIGRATIONS`, step by step, when it is opened.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

#: version 1: the tables up to ``transcripts`` (listening results were added on the side);
#: version 2: ``listening_results`` is part of the schema, with ``exclude_policy``;
#: version 3: the covering index of metric sums holds the mixture ID, so a report can sum over only the
#: mixtures every system shares (systems run on different ``--limit`` subsets of one dataset key)
SCHEMA_VERSION = 3

LISTENING_TABLE = "listening_results"
#: columns of :data:`LISTENING_TABLE`, in storage order
LISTENING_COLUMNS = ("test", "system", "other", "n", "n_workers", "mean", "ci_low", "ci_high", "ci_method",
                     "pref_system", "pref_other", "pref_np", "p_ttest", "p_sign", "exclude_policy", "batch",
                     "dataset_key", "created")

DDL = f"""
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
-- covering index: per-(system, metric, field) sums for reports without touching the table, over all
-- stored mixtures or only some (mixture_id before value)
CREATE INDEX IF NOT EXISTS metric_values_sums
    ON metric_values (dataset_key, system_key, metric, field, status, mixture_id, value);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started TEXT NOT NULL, finished TEXT, manifest_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transcripts (
    dataset_key TEXT NOT NULL, system_key TEXT NOT NULL, mixture_id TEXT NOT NULL,
    source_index INTEGER NOT NULL, asr_config TEXT NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (dataset_key, system_key, mixture_id, source_index, asr_config));
CREATE TABLE IF NOT EXISTS {LISTENING_TABLE} (
    test TEXT NOT NULL, system TEXT NOT NULL, other TEXT NOT NULL DEFAULT '',
    n INTEGER NOT NULL, n_workers INTEGER,
    mean REAL, ci_low REAL, ci_high REAL, ci_method TEXT,
    pref_system REAL, pref_other REAL, pref_np REAL, p_ttest REAL, p_sign REAL, exclude_policy TEXT,
    batch TEXT NOT NULL, dataset_key TEXT, created TEXT NOT NULL,
    PRIMARY KEY (batch, test, system, other));
"""


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _listening_policy_column(conn: sqlite3.Connection) -> None:
    """1 -> 2: a listening table made before the screening policy was recorded gains ``exclude_policy``."""
    if "exclude_policy" not in _columns(conn, LISTENING_TABLE):
        conn.execute(f"ALTER TABLE {LISTENING_TABLE} ADD COLUMN exclude_policy TEXT")


def _drop_old_sums_index(conn: sqlite3.Connection) -> None:
    """2 -> 3: :data:`DDL` made ``metric_values_sums``; the index it replaces (no mixture ID) goes."""
    conn.execute("DROP INDEX IF EXISTS metric_values_by_metric")


#: version n -> the step that turns a version-n database into version n + 1 (run after :data:`DDL`,
#: which creates any table or index a version lacked)
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _listening_policy_column,
                                                                2: _drop_old_sums_index}


def stored_version(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return None if row is None else int(row[0])


def set_version(conn: sqlite3.Connection, version: int) -> None:
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))
