"""Paper tables: numbers equal an independent pandas computation; CIs, tests, LaTeX, plots."""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from bench.cli import main
from bench.config import load_config
from bench.data import DatasetSpec, open_dataset
from bench.errors import BenchError
from bench.report.layouts import SISNRI, Column, TableLayout, layout_for
from bench.report.render import latex_escape, to_csv, to_latex, to_markdown, write_table_files
from bench.report.stats import MixtureParts, bootstrap_ci, paired_wilcoxon
from bench.report.tables import build_table, published_values
from bench.run.runner import RunRequest, run
from bench.store import Store

TESTS = Path(__file__).parent
ENERGY = Column("Energy", "metric:slowenergy", "energy", digits=5)
BITS = Column("Bitrate", "bitrate", "bitrate")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    sys.path.insert(0, str(TESTS))
    import slow_plugin  # noqa: F401  registers slowhalf / slowenergy
    from libri2mix_tree import build_tree

    base = tmp_path_factory.mktemp("reports")
    tree = build_tree(base / "data", mix_types=("mix_clean",))
    dataset = open_dataset(DatasetSpec(root=tree))
    store = Store(base / "results")
    run(RunRequest(systems=["slowhalf", "mixture", "clean"], metrics=["sisnri", "slowenergy"]), dataset, store)
    return store


def layout(rows=("slowhalf", "mixture", "clean", "never-run")) -> TableLayout:
    return TableLayout("t", "Test table", (BITS, SISNRI, ENERGY), tuple(rows), reference="slowhalf")


def raw_values(store: Store) -> pd.DataFrame:
    with sqlite3.connect(store.db_path) as conn:
        return pd.read_sql_query("SELECT s.name AS system, m.mixture_id, m.metric, m.field, m.value "
                                 "FROM metric_values m JOIN systems s USING (system_key) WHERE m.status='ok'", conn)


def test_cells_equal_independent_pandas_means(store: Store):
    table = build_table(store, layout(), store.latest_dataset_key())
    raw = raw_values(store)
    for row in table.rows[:3]:
        energy = raw[(raw.system == row.system) & (raw.metric == "slowenergy")]["value"].mean()
        sisnri = raw[(raw.system == row.system) & (raw.metric == "sisnri") & (raw.field == "db")]["value"].mean()
        assert row.cells["Energy"].value == pytest.approx(energy, rel=1e-12)
        assert row.cells["SI-SNRi ↑"].value == pytest.approx(sisnri, rel=1e-12)
        assert row.cells["Energy"].n == 8
    # slowhalf transmits 2 x 100 bytes per mixture: measured kbps = sum(bits) / sum(seconds)
    seps = store.frame("SELECT seconds FROM separations s JOIN systems USING(system_key) WHERE name='slowhalf'")
    assert table.rows[0].cells["Bitrate"].value == pytest.approx(1600 * 8 / seps["seconds"].sum() / 1000)
    assert table.rows[1].cells["Bitrate"].text == "+∞"
    assert table.rows[3].system_key is None and "bench run --systems never-run" in table.rows[3].hint


def test_bootstrap_ci_equals_a_plain_resampling_loop(store: Store):
    table = build_table(store, layout(), store.latest_dataset_key(), resamples=300, seed=5)
    raw = raw_values(store)
    per_mix = raw[(raw.system == "mixture") & (raw.metric == "slowenergy")].groupby("mixture_id")["value"]
    sums, counts = per_mix.sum().to_numpy(), per_mix.count().to_numpy()
    rng = np.random.default_rng(5)
    draws = rng.integers(0, len(sums), size=(300, len(sums)))
    stats = [sums[d].sum() / counts[d].sum() for d in draws]
    low, high = np.quantile(stats, [0.025, 0.975])
    assert table.rows[1].cells["Energy"].ci == pytest.approx((low, high))
    assert low <= table.rows[1].cells["Energy"].value <= high


def test_paired_wilcoxon_matches_scipy(store: Store):
    table = build_table(store, layout(), store.latest_dataset_key())
    raw = raw_values(store)
    per = {s: raw[(raw.system == s) & (raw.metric == "slowenergy")].groupby("mixture_id")["value"].mean()
           for s in ("slowhalf", "mixture")}
    expected = wilcoxon(per["mixture"].sort_index(), per["slowhalf"].sort_index()).pvalue
    assert table.rows[1].cells["Energy"].p_value == pytest.approx(expected)
    assert table.rows[0].cells["Energy"].p_value is None  # the reference row itself


def test_stats_edge_cases():
    parts = MixtureParts(np.array(["a", "b", "c"]), np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0]))
    assert parts.value == pytest.approx(6 / 4)
    assert bootstrap_ci(parts, 100, 0) == bootstrap_ci(parts, 100, 0)
    single = MixtureParts(np.array(["a"]), np.array([1.0]), np.array([1.0]))
    assert all(np.isnan(v) for v in bootstrap_ci(single))
    assert paired_wilcoxon(parts, parts) == (1.0, 3)


def test_markdown_latex_csv(store: Store, tmp_path: Path):
    table = build_table(store, layout(rows=("slowhalf", "mixture", "under_score&co")), store.latest_dataset_key())
    md = to_markdown(table)
    assert "| Sepformer" not in md and "slowhalf" in md and "[" in md  # CIs printed
    assert "not run on this dataset: bench run --systems under_score&co" in md
    assert "[" not in to_markdown(table, ci=False).split("|---")[1].split("Cells")[0].replace("[1]", "")
    tex = to_latex(table)
    body = tex[tex.index(r"\begin{tabular}"):tex.index(r"\end{tabular}")]
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    assert r"\toprule" in body and r"\midrule" in body and r"\bottomrule" in tex
    columns = 1 + len(table.columns)
    for line in body.splitlines():
        if line.endswith(r"\\"):
            assert line.count("&") - line.count(r"\&") == columns - 1, line
    assert r"under\_score\&co" in tex and "under_score&co" not in tex
    assert tex.count("{") == tex.count("}")
    frame = pd.read_csv(pd.io.common.StringIO(to_csv(table)))
    assert frame.loc[0, "system"] == "slowhalf" and "energy_p_vs_slowhalf" in frame.columns
    paths = write_table_files(table, tmp_path)
    assert [p.name for p in paths] == ["table_t.md", "table_t.tex", "table_t.csv"]


def test_latex_escape():
    assert latex_escape("a_b & 50% #1 {x} ~ ^ $ \\") == (r"a\_b \& 50\% \#1 \{x\} \textasciitilde{} "
                                                        r"\textasciicircum{} \$ \textbackslash{}")


def test_published_values_file_is_complete():
    frame = published_values()
    table2 = frame[frame["table"] == "2"]
    assert set(table2["system"]) == {"codesep", "fstc@2", "fstc@4", "fstc@8"}
    assert table2[(table2.system == "codesep") & (table2.column == "utmos")]["value"].iloc[0] == "3.14"
    assert (frame["source"].str.len() > 0).all()


def test_rows_from_bench_toml(tmp_path: Path):
    path = tmp_path / "bench.toml"
    path.write_text('[tables.2]\nrows = ["codesep", "fstc-opus@12"]\n')
    assert layout_for("2", load_config(path)).rows == ("codesep", "fstc-opus@12")
    path.write_text('[tables.2]\nrows = "codesep"\n')
    with pytest.raises(BenchError, match=r"\[tables.2\] rows"):
        layout_for("2", load_config(path))
    with pytest.raises(BenchError, match="unknown table"):
        layout_for("9", load_config(None))


def test_cli_table_with_paper_and_plot(store: Store, capsys):
    assert main(["report", "--table", "tokensplit", "--paper", "--results", str(store.root), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| Mixture (mixture) | 0.0 [0.0, 0.0]" in out
    assert re.search(r"↳ \*paper\* \| \*0\.0\* \| \*3\.57\*", out)  # full-length paper values
    assert (store.root / "table_tokensplit.tex").exists()
    assert main(["report", "--table", "2", "--results", str(store.root), "--quiet"]) == 0
    assert "not run on this dataset: bench run --systems codesep" in capsys.readouterr().out
    assert main(["plot", "per-utterance", "--metric", "sisnri_db", "--results", str(store.root)]) == 0
    png = store.root / "per_utterance_sisnri_db.png"
    assert png.exists() and png.read_bytes()[:4] == b"\x89PNG"


def test_rate_quality_plot(store: Store, capsys):
    assert main(["plot", "rate-quality", "--columns", "sisnri_db,slowenergy", "--results", str(store.root)]) == 0
    for suffix in (".png", ".pdf"):
        assert (store.root / f"rate_quality{suffix}").stat().st_size > 1000
    assert main(["plot", "rate-quality", "--columns", "nothing_here", "--results", str(store.root)]) == 2
    assert "no stored metric to plot" in capsys.readouterr().err


def test_listening_results_fill_mos_and_abx_tables(tmp_path: Path):
    store = Store(tmp_path / "results")
    store.save_listening_results("B1", "nmos", [
        {"system": "codesep", "other": "", "n": 400, "mean": 3.61, "ci_low": 3.52, "ci_high": 3.70},
        {"system": "fstc@1", "other": "", "n": 400, "mean": 3.2, "ci_low": 3.1, "ci_high": 3.3}])
    store.save_listening_results("B2", "nabx", [
        {"system": "fstc@2", "other": "codesep", "n": 300, "pref_system": 40.0, "pref_other": 55.0,
         "pref_np": 5.0, "p_ttest": 0.004, "p_sign": 0.003}])
    store.register_dataset("d" * 64, "synthetic", {}, 1)
    table1 = build_table(store, layout_for("1", load_config(None)), "d" * 64)
    nmos = table1.rows[0].cells["NMOS ↑"]
    assert (nmos.value, nmos.ci, nmos.n) == (3.61, (3.52, 3.70), 400)
    assert table1.rows[2].cells["NMOS ↑"].value == 3.2
    assert "no smos results" in (table1.rows[0].cells["SMOS ↑"].note or "")
    table3 = build_table(store, layout_for("3", load_config(None)), "d" * 64, with_paper=True)
    row = table3.rows[0]  # NABX codesep vs fstc@2: the stored pair is swapped, so sides swap back
    assert (row.cells["CodeSep"].value, row.cells["Other"].value, row.cells["N/P"].value) == (55.0, 40.0, 5.0)
    assert row.cells["p (t-test)"].value == 0.004 and row.cells["p (binomial)"].value == 0.003
    assert row.cells["CodeSep"].published == "55.83"
    assert table3.rows[1].hint.startswith("no nabx results: bench listen export --test nabx --pair codesep:fstc@4")


def test_pooled_parts_agree_with_the_corpus_aggregate():
    """DWER's per-mixture (num, den) pool to exactly the corpus value the plain report prints."""
    from bench.metrics.base import field_sums
    from bench.metrics.dwer import DWER

    rows = [("a", 0, "errors", 1.0), ("a", 0, "ref_len", 10.0), ("a", 1, "errors", 3.0), ("a", 1, "ref_len", 5.0),
            ("b", 0, "errors", 0.0), ("b", 0, "ref_len", 20.0), ("b", 1, "errors", 2.0), ("b", 1, "ref_len", 5.0)]
    rows += [(m, j, "", 100.0 * e / n) for (m, j, f, e), (_, _, _, n) in zip(rows[::2], rows[1::2])]
    frame = pd.DataFrame(rows, columns=["mixture_id", "source_index", "field", "value"])
    parts = DWER.mixture_parts(frame, "dwer")
    assert parts.set_index("mixture_id")[["num", "den"]].to_dict("index") == {
        "a": {"num": 400.0, "den": 15.0}, "b": {"num": 200.0, "den": 25.0}}
    pooled = 100.0 * 6 / 40
    assert DWER.aggregate_sums(field_sums(frame)) == {"dwer": pytest.approx(pooled)}
    assert MixtureParts(parts["mixture_id"].to_numpy(), parts["num"].to_numpy(), parts["den"].to_numpy()).value \
        == pytest.approx(pooled)


def test_not_computed_note_names_the_command_or_the_missing_metric():
    from bench.report.layouts import DNSMOS, VISQOL, Column
    from bench.report.tables import _not_computed_note

    assert _not_computed_note(DNSMOS, "fstc@2") == "DNSMOS not computed: bench run --systems fstc@2 --metrics dnsmos"
    assert _not_computed_note(VISQOL, "tokensplit") == \
        "ViSQOL not computed: bench run --systems tokensplit --metrics visqol"
    pesq = Column("PESQ ↑", "metric:pesq", "pesq")
    assert "no 'pesq' metric is registered" in _not_computed_note(pesq, "tokensplit")
