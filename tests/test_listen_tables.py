"""Tables 3 and 4 built through the CLI from listening tests that ``bench listen analyze`` really analysed.

One NABX and one SABX batch are exported from a store of the systems ``clean`` and
``mixture``; the key of each is copied once per table with the systems renamed to the
table's (CodeSep vs FSTC at 2 kbps for Table 3, CodeSep vs w/o TF for Table 4), which is
all the analysis reads, so the real CodeSep weights are not needed.  Listeners' votes
are generated here; every cell is checked against numbers computed from them with
scipy, and ``--paper`` against the CodeSep paper (including Table 4's SABX w/o TF row).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from test_listen_support import Batch, export_batch, make_store

from bench.cli import main

TABLE_SYSTEMS = {"3": ("codesep", "fstc@2"), "4": ("codesep", "codesep-notf")}


def _renamed_key(out: Path, folder: Path, first: str, second: str) -> Path:
    """The export's key and settings with clean -> first, mixture -> second."""
    folder.mkdir()
    names = {"clean": first, "mixture": second}
    with open(out / "secret" / "SECRET_key.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = [{**r, "system": names.get(r["system"], r["system"])} for r in reader]
        columns = reader.fieldnames
    with open(folder / "SECRET_key.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    settings = json.loads((out / "secret" / "SECRET_export.json").read_text())
    settings["pairs"] = [[first, second]]
    (folder / "SECRET_export.json").write_text(json.dumps(settings))
    return folder / "SECRET_key.csv"


def _listen(batch: Batch, rng: np.random.Generator, prefer: float) -> list[int]:
    """Ten attentive listeners, each doing every HIT; returns the votes (+1 clean, -1 mixture, 0 N/P)."""
    votes: list[int] = []
    for worker in range(10):
        for hit in range(len(batch.hits)):
            answers = {}
            for slot in range(1, batch.slots + 1):
                a, b = batch.clip(hit, f"a{slot}"), batch.clip(hit, f"b{slot}")
                if a["role"] != "stimulus":
                    answers[f"q{slot}"] = "A" if a["role"] == "gold_natural" else "B"
                    continue
                pick = rng.choice(["clean", "mixture", "np"], p=[prefer, 0.85 - prefer, 0.15])
                answers[f"q{slot}"] = "NP" if pick == "np" else ("A" if a["system"] == pick else "B")
                votes.append({"clean": 1, "mixture": -1, "np": 0}[str(pick)])
            batch.add(hit, f"W{worker:02d}", answers)
    return votes


def _expected(votes: list[int]) -> dict[str, float]:
    v = np.array(votes, dtype=float)
    first, second = int((v > 0).sum()), int((v < 0).sum())
    return {"codesep_pct": 100 * first / len(v), "other_pct": 100 * second / len(v),
            "np_pct": 100 * int((v == 0).sum()) / len(v), "p_value": sps.ttest_1samp(v, 0.0).pvalue,
            "p_binomial": sps.binomtest(first, first + second, 0.5).pvalue, "n": len(v)}


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("listen-tables")
    results = make_store(tmp, seconds=0.5)
    rng = np.random.default_rng(34)
    expected: dict[tuple[str, str], dict[str, float]] = {}
    batch_id = 9100
    for test, prefer in (("nabx", 0.55), ("sabx", 0.4)):
        out = export_batch(results, tmp / test, test, samples=6, items_per_hit=6, max_hits_per_worker=4).out
        for table, (first, second) in TABLE_SYSTEMS.items():
            batch = Batch(out)
            votes = _listen(batch, rng, prefer)
            batch_id += 1
            path = batch.write(tmp / f"Batch_{batch_id}_batch_results.csv")
            key = _renamed_key(out, tmp / f"key-{test}-{table}", first, second)
            assert main(["listen", "analyze", "--results", str(path), "--key", str(key), "--store", str(results),
                         "--quiet"]) == 0
            expected[(table, test)] = _expected(votes)
    return results, expected


@pytest.mark.parametrize("table", ["3", "4"])
def test_abx_tables_from_analysed_batches(analysed, table: str, capsys):
    results, expected = analysed
    capsys.readouterr()
    assert main(["report", "--table", table, "--paper", "--results", str(results), "--format", "json",
                 "--out", str(results / "tables")]) == 0
    records = json.loads(capsys.readouterr().out)
    other = TABLE_SYSTEMS[table][1]
    for test in ("nabx", "sabx"):
        (rec,) = [r for r in records if r["system"] == other and r["row"].startswith(test.upper())]
        want = expected[(table, test)]
        for column in ("codesep_pct", "other_pct", "np_pct"):
            assert rec[column] == pytest.approx(want[column], rel=1e-5), (test, column)
        assert rec["p_value"] == pytest.approx(want["p_value"], rel=1e-5)
        assert rec["p_binomial"] == pytest.approx(want["p_binomial"], rel=1e-5)
        assert rec["codesep_pct_n"] == want["n"]
        assert "--exclude worker" in rec["p_value_note"]
        assert rec["p_binomial_paper"] == ""  # the paper gives one p-value, from its t-test
    # the rows this store has no batch for say how to make one, naming the key file the export writes
    empty = [r for r in records if r["hint"]]
    assert empty and all("--key DIR/secret/SECRET_key.csv" in r["hint"] and "bench listen serve DIR" in r["hint"]
                         for r in empty)
    paper = {(r["row"].split()[0], r["system"]): r for r in records}
    if table == "3":
        assert paper[("NABX", "fstc@2")]["codesep_pct_paper"] == "55.83"
        assert paper[("SABX", "fstc@8")]["p_value_paper"] == "0.68"
    else:
        sabx_notf = paper[("SABX", "codesep-notf")]
        assert (sabx_notf["codesep_pct_paper"], sabx_notf["other_pct_paper"], sabx_notf["np_pct_paper"],
                sabx_notf["p_value_paper"]) == ("43.15", "37.41", "19.44", "0.14")
        assert paper[("NABX", "codesep-noacbg")]["p_value_paper"] == "0.066"

    # the Markdown table prints the exact p-values, starred, and says which test each is
    assert main(["report", "--table", table, "--results", str(results), "--out", str(results / "tables")]) == 0
    text = capsys.readouterr().out
    assert "| p (t-test) | p (binomial) |" in text and "exact two-sided sign test" in text
    for test in ("nabx", "sabx"):
        want = expected[(table, test)]
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| {test.upper()} ") and other in ln)
        stars = lambda p: "**" if p < 0.01 else "*" if p < 0.05 else ""  # noqa: E731
        assert f"| {want['p_value']:.2g}{stars(want['p_value'])}" in line
        assert f"| {want['p_binomial']:.2g}{stars(want['p_binomial'])}" in line
        assert f"{want['codesep_pct']:.2f}" in line


def test_sabx_without_tf_row_is_published():
    from bench.report.tables import published_values

    frame = published_values()
    row = frame[(frame["table"] == "4") & (frame["system"] == "codesep-notf") & (frame["condition"] == "sabx")]
    assert dict(zip(row["column"], row["value"])) == {"codesep_pct": "43.15", "other_pct": "37.41",
                                                      "np_pct": "19.44", "p_value": "0.14"}
