"""``--limit N --subset-seed S`` are the first N of one seeded order: smaller runs reuse larger ones,
and reports say which subset each row covers and compare different subsets on what they share."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from bench.baselines.reference import CleanSystem, MixtureSystem
from bench.data import DatasetSpec, open_dataset
from bench.report.aggregate import SystemResults
from bench.report.layouts import SISNRI, TableLayout
from bench.report.plain import build_plain_report, render
from bench.report.render import to_csv, to_markdown
from bench.report.tables import build_table
from bench.run.runner import RunRequest, run
from bench.store import Store

METRICS = ["bitrate", "sisnri"]


def embedded(limit: int | None, seed: int | None = 0):
    return open_dataset(DatasetSpec(limit=limit, subset_seed=seed))


@pytest.fixture
def calls(monkeypatch) -> dict[str, int]:
    """How many mixtures each reference system was asked to separate."""
    counted = {"mixture": 0, "clean": 0}
    for name, cls in (("mixture", MixtureSystem), ("clean", CleanSystem)):
        original = cls.separate

        def separate(self, batch, _original=original, _name=name):
            counted[_name] += len(batch)
            return _original(self, batch)

        monkeypatch.setattr(cls, "separate", separate)
    return counted


def count_rows(store: Store) -> dict[str, int]:
    with sqlite3.connect(store.db_path) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("datasets", "separations", "estimates", "metric_values")}


def test_limits_are_prefixes_of_one_order_with_one_key():
    small, large, whole = embedded(8), embedded(16), embedded(None)
    assert [m.mixture_id for m in small] == [m.mixture_id for m in large][:8]
    assert [m.mixture_id for m in large] == [m.mixture_id for m in whole][:16]
    assert small.fingerprint == large.fingerprint == whole.fingerprint
    assert (small.subset, large.subset, whole.subset) == ("n=8 of 80", "n=16 of 80", "all 80")
    assert small.name == whole.name and small.name.endswith("mix_clean[seed=0]")
    assert embedded(8, seed=1).fingerprint != small.fingerprint  # another order, another key
    assert embedded(8, seed=None).fingerprint != small.fingerprint
    # a limit's own selection still has a key of its own (training-token caches use it)
    assert small.selection_fingerprint != large.selection_fingerprint
    assert whole.selection_fingerprint == whole.fingerprint


def test_smaller_limit_reuses_the_larger_run(tmp_path, calls):
    store = Store(tmp_path / "results")
    first = run(RunRequest(systems=["mixture", "clean"], metrics=METRICS), embedded(16), store)
    assert first.separated == {"mixture": 16, "clean": 16} and calls == {"mixture": 16, "clean": 16}
    before = count_rows(store)
    again = run(RunRequest(systems=["mixture", "clean"], metrics=METRICS), embedded(8), store)
    # nothing separated, nothing scored, no row added: the 8 are the first 8 of the 16
    assert again.separated == {"mixture": 0, "clean": 0} and again.scored == 0
    assert calls == {"mixture": 16, "clean": 16}
    assert count_rows(store) == before and before["datasets"] == 1
    assert again.dataset_key == first.dataset_key
    (info,) = store.datasets()
    assert (info.num_mixtures, info.name) == (80, embedded(8).name) and "limit" not in info.spec
    report = build_plain_report(store)
    assert report.coverage.note() == "n=16 of 80 for every system"
    assert render(report, "md").startswith(f"Dataset: {info.name}; n=16 of 80 for every system")
    # a larger limit separates only the new mixtures
    bigger = run(RunRequest(systems=["mixture"], metrics=METRICS), embedded(20), store)
    assert bigger.separated == {"mixture": 4} and calls["mixture"] == 20


def test_report_compares_different_subsets_on_the_shared_mixtures(tmp_path):
    store = Store(tmp_path / "results")
    run(RunRequest(systems=["clean"], metrics=METRICS), embedded(16), store)
    run(RunRequest(systems=["mixture"], metrics=METRICS), embedded(8), store)
    report = build_plain_report(store)
    shared = [m.mixture_id for m in embedded(8)]
    assert report.coverage.note() == ("systems were run on different subsets (clean n=16 of 80, mixture n=8 of 80); "
                                      "every value is over the 8 mixtures they all share")
    text = render(report, "md")
    assert text.splitlines()[0] == f"Dataset: {embedded(8).name}; {report.coverage.note()}"
    # clean's SI-SNRi is its mean over the 8 shared mixtures, not over the 16 it has
    with sqlite3.connect(store.db_path) as conn:
        rows = pd.read_sql_query("SELECT s.name, m.mixture_id, m.value FROM metric_values m JOIN systems s "
                                 "USING (system_key) WHERE m.metric='sisnri' AND m.field='db' AND m.status='ok'", conn)
    clean = rows[rows["name"] == "clean"]
    assert len(clean) == 32
    on_shared = clean[clean["mixture_id"].isin(shared)]["value"].mean()
    assert report.means.loc["clean", "sisnri_db"] == pytest.approx(on_shared)
    assert on_shared != pytest.approx(clean["value"].mean())
    assert int(report.counts.loc["clean", "sisnri_db"]) == 16  # 8 mixtures x 2 sources
    frame = pd.read_csv(pd.io.common.StringIO(render(report, "csv")), index_col="system")
    assert frame.loc["clean", ["mixtures", "stored", "of"]].tolist() == [8, 16, 80]
    data = json.loads(render(report, "json"))
    assert data["subsets"] == report.coverage.note()
    assert {r["system"]: r["stored"] for r in data["systems"]} == {"clean": 16, "mixture": 8}
    # the paper tables: every row on the shared mixtures, each row's own subset in the CSV, a note that says so
    table = build_table(store, TableLayout("t", "Test", (SISNRI,), ("clean", "mixture"), reference="clean"),
                        store.latest_dataset_key(), resamples=50)
    cells = {row.system: row.cells[SISNRI.label] for row in table.rows}
    assert cells["clean"].n == 8 and cells["clean"].value == pytest.approx(on_shared)
    assert cells["mixture"].n == 8 and cells["mixture"].value == 0.0
    assert f"Mixtures: {report.coverage.note()}." in to_markdown(table)
    csv = pd.read_csv(pd.io.common.StringIO(to_csv(table)))
    assert csv.set_index("system")["subset"].to_dict() == {"clean": "n=16 of 80", "mixture": "n=8 of 80"}


def test_results_stored_before_subsets_nested_are_adopted(tmp_path, calls):
    """A database from an older bench filed a ``--limit 8`` run under a key of that selection."""
    store = Store(tmp_path / "results")
    small = embedded(8)
    run(RunRequest(systems=["mixture"], metrics=METRICS), small, store)
    legacy = small.prefix_fingerprint(8)
    assert legacy != small.fingerprint
    with sqlite3.connect(store.db_path) as conn:  # as the older bench wrote it
        for table in ("separations", "estimates", "metric_values", "transcripts"):
            conn.execute(f"UPDATE {table} SET dataset_key=?", (legacy,))
        spec = json.loads(conn.execute("SELECT spec_json FROM datasets").fetchone()[0])
        conn.execute("UPDATE datasets SET dataset_key=?, name=?, spec_json=?, num_mixtures=8",
                     (legacy, "embedded/wav16k/min/test/mix_clean[n=8,seed=0]", json.dumps({**spec, "limit": 8})))
    old = Store(tmp_path / "results")
    assert old.system_keys(legacy) and build_plain_report(old, legacy).coverage.note() == "all 8 for every system"
    before = calls["mixture"]
    summary = run(RunRequest(systems=["mixture"], metrics=METRICS), embedded(16), old)
    assert summary.separated == {"mixture": 8} and calls["mixture"] == before + 8  # only the 8 new ones
    assert [d.key for d in old.datasets()] == [small.fingerprint]
    assert not old.system_keys(legacy)
    report = build_plain_report(old)
    assert report.coverage.note() == "n=16 of 80 for every system"
    assert int(report.counts.loc["mixture", "sisnri_db"]) == 32
    # the adopted estimates are read where they were written
    for mixture in small:
        sep = old.separation(small.fingerprint, summary_key(old), mixture.mixture_id)
        assert all(old.resolve(e.path).is_file() for e in sep.estimates)
    assert np.isfinite(report.means.loc["mixture", "sisnri_db"])



def test_bench_score_adopts_and_registers_the_whole_order(tmp_path, capsys):
    """``bench score`` on a database whose only dataset is an older bench's ``--limit 4`` key."""
    from bench.cli import main

    small = embedded(4)
    store = Store(tmp_path / "results")
    run(RunRequest(systems=["mixture"], metrics=[], metrics_enabled=False), small, store)
    legacy = small.prefix_fingerprint(4)
    with sqlite3.connect(store.db_path) as conn:
        for table in ("separations", "estimates"):
            conn.execute(f"UPDATE {table} SET dataset_key=?", (legacy,))
        spec = json.loads(conn.execute("SELECT spec_json FROM datasets").fetchone()[0])
        conn.execute("UPDATE datasets SET dataset_key=?, spec_json=?, num_mixtures=4",
                     (legacy, json.dumps({**spec, "limit": 4})))
    assert main(["score", "--metrics", "bitrate", "--limit", "4", "--subset-seed", "0", "--results",
                 str(tmp_path / "results"), "--quiet"]) == 0
    again = Store(tmp_path / "results")
    (info,) = again.datasets()
    assert (info.key, info.num_mixtures) == (small.fingerprint, 80)
    assert build_plain_report(again).coverage.note() == "n=4 of 80 for every system"


def summary_key(store: Store) -> str:
    return next(iter(store.system_keys(store.latest_dataset_key()).values()))


def test_plots_compare_different_subsets_on_the_shared_mixtures(tmp_path, monkeypatch, capsys):
    """``bench plot`` reads the report's aggregation: each point is over the mixtures all systems share."""
    from bench.cli import main
    from bench.report import plots

    store = Store(tmp_path / "results")
    run(RunRequest(systems=["mixture"], metrics=["bitrate", "sisnri", "stoi"]), embedded(8), store)
    run(RunRequest(systems=["clean"], metrics=["bitrate", "sisnri", "stoi"]), embedded(16), store)
    report = build_plain_report(store)
    note = report.coverage.note()
    assert note == ("systems were run on different subsets (mixture n=8 of 80, clean n=16 of 80); "
                    "every value is over the 8 mixtures they all share")
    captions: list[str] = []
    save = plots._save

    def spy(plt, fig, out, caption=None):
        paths = save(plt, fig, out, caption)
        captions.extend(t.get_text().replace("\n", " ") for t in fig.texts)
        return paths

    monkeypatch.setattr(plots, "_save", spy)
    columns = ["sisnri_db", "stoi"]
    plotted = plots.rate_quality(store, store.latest_dataset_key(), tmp_path / "rq", metrics=[(c, c) for c in columns],
                                 resamples=50)
    assert plotted.note == note and captions == [f"Mixtures: {note}."]
    # the plotted values are the report's (and the table's) values over the 8 shared mixtures
    table = build_table(store, TableLayout("t", "Test", (SISNRI,), ("clean", "mixture"), reference="clean"),
                        store.latest_dataset_key(), resamples=50)
    for column in columns:
        points = plotted.points[column].set_index("system")
        assert set(points.index) == {"mixture", "clean"}
        for system in ("mixture", "clean"):
            assert points.loc[system, "value"] == pytest.approx(report.means.loc[system, column])
            assert points.loc[system, "kbps"] is None  # both send nothing: unbounded references
    assert plotted.points["sisnri_db"].set_index("system").loc["clean", "value"] == pytest.approx(
        next(r for r in table.rows if r.system == "clean").cells[SISNRI.label].value)
    # not what clean's own 16 mixtures give
    own = plots._points(store, {"clean": SystemResults(store, store.latest_dataset_key(),
                                                       store.system_keys(store.latest_dataset_key())["clean"])},
                        "sisnri_db", 50, 0)
    assert own["value"].iloc[0] != pytest.approx(report.means.loc["clean", "sisnri_db"])
    # the command says so too, for both plots
    captions.clear()
    assert main(["plot", "rate-quality", "--columns", ",".join(columns), "--results", str(store.root)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"Mixtures: {note}."
    assert main(["plot", "per-utterance", "--metric", "sisnri_db", "--results", str(store.root)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"Mixtures: {note}."
    assert captions == [f"Mixtures: {note}."] * 2
    # systems on the same mixtures: no note, as before
    same = Store(tmp_path / "same")
    run(RunRequest(systems=["mixture", "clean"], metrics=["sisnri"]), embedded(8), same)
    assert main(["plot", "per-utterance", "--metric", "sisnri_db", "--results", str(same.root)]) == 0
    assert capsys.readouterr().out.startswith("wrote ")
