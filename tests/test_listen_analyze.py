"""``bench listen analyze`` on AMT results files synthesised here in AMT's exact download format.

The batches contain the usual mess: an assignment AMT already rejected, a worker who
got the same HIT twice (re-published), too many blank items, failed gold items, unplayed
clips, a too-fast worker, a worker answering "A" throughout, one over the per-worker
HIT limit, a non-native listener, an already approved assignment.  Expected numbers
are computed here from the votes the test generated, with textbook formulas.
(``test_listen_screening.py`` has the messier batch and both exclusion policies.)
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from test_listen_support import Batch, export_batch, make_store, simulated_abx_choice, vote_of

from bench.cli import main
from bench.store import Store

def read_review(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return {r["AssignmentId"]: r for r in csv.DictReader(f)}


def summary_of(upload: Path) -> dict[str, dict[str, str]]:
    """The compact summary written beside the review upload."""
    return read_review(upload.with_name(upload.stem + "_summary.csv"))


# -- ABX --------------------------------------------------------------------------------------
def abx_answers(batch: Batch, hit: int, rng: np.random.Generator, votes: list[int] | None,
                gold_right: bool = True, constant: str | None = None) -> dict[str, str]:
    """Answers for one assignment; appends +1 (clean) / -1 (mixture) / 0 to ``votes`` for test items."""
    answers = {}
    for slot in range(1, batch.slots + 1):
        a, b = batch.clip(hit, f"a{slot}"), batch.clip(hit, f"b{slot}")
        if a["role"] != "stimulus":
            natural = "A" if a["role"] == "gold_natural" else "B"
            answers[f"q{slot}"] = natural if gold_right else {"A": "B", "B": "A"}[natural]
            continue
        choice = simulated_abx_choice(rng, a, constant)
        answers[f"q{slot}"] = choice
        if votes is not None:
            votes.append(vote_of(choice, a, b))
    return answers


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return make_store(tmp_path_factory.mktemp("listen-analyze"))


def test_nabx_analysis_screens_and_reports(results: Path, tmp_path: Path, capsys):
    out = export_batch(results, tmp_path / "abx", "nabx", samples=16, items_per_hit=8, max_hits_per_worker=1).out
    batch = Batch(out)
    assert len(batch.hits) == 2 and batch.slots == 9
    rng = np.random.default_rng(8)
    votes: list[int] = []
    expect: dict[str, tuple[str, str]] = {}  # assignment -> (Approve column, reason fragment)
    for w in range(12):  # good workers, one HIT each
        expect[batch.add(w % 2, f"WGOOD{w}", abx_answers(batch, w % 2, rng, votes))] = ("x", "ok")
    approved = batch.add(0, "WOLD", abx_answers(batch, 0, rng, votes), status="Approved")
    batch.add(1, "WAMTREJ", abx_answers(batch, 1, rng, None), status="Rejected")
    expect[batch.add(0, "WDUP", abx_answers(batch, 0, rng, votes))] = ("x", "ok")
    expect[batch.add(0, "WDUP", abx_answers(batch, 0, rng, None), hit_id="3REPUBLISHED")] = ("x", "duplicate")
    missing = abx_answers(batch, 1, rng, None)
    missing["q2"] = missing["q5"] = ""  # 2 of 9 items: more than the 20 % that may be blank
    expect[batch.add(1, "WMISS", missing)] = ("", "too many blank items: 2 of 9")
    expect[batch.add(1, "WGOLD", abx_answers(batch, 1, rng, None, gold_right=False))] = ("", "failed gold")
    expect[batch.add(1, "WDEAF", abx_answers(batch, 1, rng, None), ended={"ended_b1": "0"})] = \
        ("", "clips not played to the end: 1B")
    expect[batch.add(0, "WFAST", abx_answers(batch, 0, rng, None), seconds=10)] = ("", "too fast")
    # always "A" on a HIT where A holds clean for some items and mixture for others
    assert len({batch.clip(1, f"a{i}")["system"] for i in range(1, 10)} - {""}) == 2
    expect[batch.add(1, "WSAMEA", abx_answers(batch, 1, rng, None, constant="A"))] = \
        ("", "same answer (A) for all 8 test items of this worker, whichever")
    expect[batch.add(0, "WMANY", abx_answers(batch, 0, rng, votes))] = ("x", "ok")
    expect[batch.add(1, "WMANY", abx_answers(batch, 1, rng, None))] = ("x", "over the per-worker limit of 1")
    expect[batch.add(1, "WFOREIGN", abx_answers(batch, 1, rng, None), native="no")] = ("x", "non-native")
    path = batch.write(tmp_path / "Batch_5551234_batch_results.csv")

    code = main(["listen", "analyze", "--results", str(path), "--key", str(out / "secret" / "SECRET_key.csv"),
                 "--store", str(results)])
    assert code == 0
    console = capsys.readouterr().out

    review = read_review(tmp_path / "approve_reject.csv")
    summary = summary_of(tmp_path / "approve_reject.csv")
    # every row comes back; only Submitted ones are reviewed (none for AMT-rejected or already approved)
    assert len(review) == len(batch.rows)
    assert {a for a, r in review.items() if r["Approve"] or r["Reject"]} == set(expect)
    assert summary[approved]["Decision"] == "none (approved already)" and summary[approved]["Used"] == "yes"
    for assignment, (approve, reason) in expect.items():
        assert review[assignment]["Approve"] == approve, (assignment, review[assignment])
        assert reason in summary[assignment]["Reasons"], (assignment, summary[assignment])
        assert bool(review[assignment]["Reject"]) == (approve == "")
        assert (reason in review[assignment]["Reject"]) == (approve == "")

    # independent numbers from the generated votes of the used assignments
    v = np.array(votes, dtype=float)
    n = len(v)
    first, second, tied = int((v > 0).sum()), int((v < 0).sum()), int((v == 0).sum())
    t = v.mean() / (v.std(ddof=1) / math.sqrt(n))
    p_t = 2 * sps.t.sf(abs(t), n - 1)
    k, m = max(first, second), first + second
    p_sign = min(1.0, 2 * sum(math.comb(m, i) for i in range(k, m + 1)) / 2 ** m)
    assert n == (12 + 1 + 1 + 1) * 8  # used: 12 good workers, WOLD, WDUP's first, WMANY's first

    store = Store(results)
    table = store.listening_results()
    store.close()
    row = table[(table["test"] == "nabx") & (table["batch"] == "Batch_5551234")].iloc[0]
    assert (row["system"], row["other"], row["n"]) == ("clean", "mixture", n)
    assert row["pref_system"] == pytest.approx(100 * first / n)
    assert row["pref_other"] == pytest.approx(100 * second / n)
    assert row["pref_np"] == pytest.approx(100 * tied / n)
    assert row["p_ttest"] == pytest.approx(p_t, rel=1e-9)
    assert row["p_sign"] == pytest.approx(p_sign, rel=1e-9)
    assert row["mean"] is None or math.isnan(row["mean"])

    line = next(ln for ln in console.splitlines() if ln.startswith("NABX") and " vs " in ln)
    assert line.split()[:4] == ["NABX", "clean", "vs", "mixture"]
    assert f"{100 * first / n:.2f}%" in line and f"{100 * second / n:.2f}%" in line
    assert f"{100 * tied / n:.2f}%" in line
    assert f"p = {p_t:.2g}" in line and f"p = {p_sign:.2g}" in line  # exact, not "< 0.01"
    assert "5 to reject" in console and "stored in listening_results" in console
    assert "--exclude worker" in console and row["exclude_policy"] == "worker"

    # analysing the same batch again replaces its rows instead of adding to them
    assert main(["listen", "analyze", "--results", str(path), "--key", str(out / "secret" / "SECRET_key.csv"),
                 "--store", str(results)]) == 0
    store = Store(results)
    again = store.listening_results()
    store.close()
    assert len(again[again["batch"] == "Batch_5551234"]) == 1


# -- MOS --------------------------------------------------------------------------------------
def mos_answers(batch: Batch, hit: int, rng: np.random.Generator, ratings: dict[str, list] | None,
                worker: str, natural_gold: float = 5.0, constant: float | None = None) -> dict[str, str]:
    answers = {}
    for slot in range(1, batch.slots + 1):
        clip = batch.clip(hit, f"clip{slot}")
        if clip["role"] == "gold_natural":
            value = natural_gold
        elif clip["role"] == "gold_anchor":
            value = 1.5
        else:
            scale = [4.0, 4.5, 5.0] if clip["system"] == "clean" else [1.5, 2.0, 2.5, 3.0, 3.5]
            value = constant if constant is not None else float(rng.choice(scale))
            if ratings is not None:
                ratings[clip["system"]].append((value, worker, f"{clip['mixture_id']}#{clip['source']}"))
        answers[f"q{slot}"] = f"{value:g}"
    return answers


def test_nmos_analysis_means_and_intervals(results: Path, tmp_path: Path, capsys):
    out = export_batch(results, tmp_path / "nmos", "nmos", samples=8, items_per_hit=8).out
    batch = Batch(out)
    assert len(batch.hits) == 2 and batch.slots == 10
    rng = np.random.default_rng(11)
    ratings: dict[str, list] = {"clean": [], "mixture": []}
    for w in range(6):
        for hit in (0, 1):
            batch.add(hit, f"W{w}", mos_answers(batch, hit, rng, ratings, f"W{w}"))
    bad_gold = batch.add(0, "WGOLD", mos_answers(batch, 0, rng, None, "WGOLD", natural_gold=3.0))
    flat = batch.add(1, "WFLAT", mos_answers(batch, 1, rng, None, "WFLAT", constant=3.0))
    path = batch.write(tmp_path / "Batch_77_batch_results.csv")
    review_path = tmp_path / "review.csv"

    assert main(["listen", "analyze", "--results", str(path), "--key", str(out / "secret" / "SECRET_key.csv"),
                 "--store", str(results), "--out", str(review_path)]) == 0
    console = capsys.readouterr().out
    review = read_review(review_path)
    assert "natural speech rated 3" in review[bad_gold]["Reject"]
    assert "same answer (3)" in review[flat]["Reject"]
    assert sum(r["Approve"] == "x" for r in review.values()) == 12

    store = Store(results)
    table = store.listening_results()
    store.close()
    rows = table[(table["batch"] == "Batch_77") & (table["test"] == "nmos")].set_index("system")
    for system, data in ratings.items():
        x = np.array([r[0] for r in data])
        n = len(x)
        half = sps.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)
        assert rows.loc[system, "n"] == n == 6 * 8
        assert rows.loc[system, "mean"] == pytest.approx(x.mean())
        assert rows.loc[system, "ci_low"] == pytest.approx(x.mean() - half)
        assert rows.loc[system, "ci_high"] == pytest.approx(x.mean() + half)
        assert rows.loc[system, "ci_method"] == "t" and rows.loc[system, "n_workers"] == 6
        line = next(ln for ln in console.splitlines() if ln.startswith("NMOS") and f" {system} " in ln)
        assert f"{x.mean():.2f}" in line and f"[{x.mean() - half:.2f}, {x.mean() + half:.2f}]" in line
    assert "gold: natural" in console and "gold: anchor" in console

    # the CrowdMOS interval option stores its own method and still brackets the mean
    assert main(["listen", "analyze", "--results", str(path), "--key", str(out / "secret" / "SECRET_key.csv"),
                 "--store", str(results), "--out", str(review_path), "--ci", "crowdmos"]) == 0
    store = Store(results)
    table = store.listening_results()
    store.close()
    crowd = table[table["batch"] == "Batch_77"].set_index("system")
    assert set(crowd["ci_method"]) == {"crowdmos"}
    assert (crowd["ci_low"] < crowd["mean"]).all() and (crowd["mean"] < crowd["ci_high"]).all()


def test_results_from_another_export_are_refused(results: Path, tmp_path: Path, capsys):
    one = export_batch(results, tmp_path / "one", "nabx").out
    two = export_batch(results, tmp_path / "two", "nabx", seed=9).out
    batch = Batch(one)
    batch.add(0, "W1", abx_answers(batch, 0, np.random.default_rng(0), None))
    path = batch.write(tmp_path / "Batch_1_batch_results.csv")
    code = main(["listen", "analyze", "--results", str(path), "--key", str(two / "secret" / "SECRET_key.csv"), "--store",
                 str(tmp_path / "nowhere")])
    assert code == 2 and "not in the key" in capsys.readouterr().err
