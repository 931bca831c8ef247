"""Screening of a realistic, messy NABX results file under both ``--exclude`` policies.

Four 6-pair HITs (5 test items and a gold pair each) done by listeners who do what
real AMT workers do: one was already rejected on AMT, one answers "A" throughout
(passing the gold item where it sits in A, failing it where it sits in B), one fails a
gold item once and does well elsewhere, one leaves one item blank, one two items, one
everything, one submits the same HIT twice, one goes over the per-worker limit, one is
not a native speaker, one writes a comment with commas, quotes, a line break and
non-ASCII text.  The file has a BOM, CRLF lines and a column AMT does not write.

Which assignments each policy keeps is written down here by hand from that plan; the
votes are those the test generated for them, and the percentages and both p-values
come from scipy, not from the code under test.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from test_listen_support import Batch, export_batch, make_store, simulated_abx_choice, vote_of

from bench.cli import main
from bench.store import Store

COMMENT = 'Très bien, "clear" –\nsecond line: ñ, 日本語, 😀'


def answers_for(batch: Batch, hit: int, rng: np.random.Generator, *, constant: str | None = None,
                gold_right: bool = True, blank: int = 0) -> tuple[dict[str, str], list[int]]:
    """One assignment's answers, and its votes (+1 clean, -1 mixture, 0 N/P) on the answered test items;
    ``blank`` leaves that many test items unanswered (the first ones)."""
    answers: dict[str, str] = {}
    votes: list[int] = []
    left_blank = 0
    for slot in range(1, batch.slots + 1):
        a = batch.clip(hit, f"a{slot}")
        if a["role"] != "stimulus":
            natural = "A" if a["role"] == "gold_natural" else "B"
            answers[f"q{slot}"] = (constant or natural) if gold_right or constant else {"A": "B", "B": "A"}[natural]
            continue
        if left_blank < blank:
            answers[f"q{slot}"] = ""
            left_blank += 1
            continue
        choice = simulated_abx_choice(rng, a, constant)
        answers[f"q{slot}"] = choice
        votes.append(vote_of(choice, a, batch.clip(hit, f"b{slot}")))
    return answers, votes


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("listen-messy")
    results = make_store(tmp, seconds=0.5)
    out = export_batch(results, tmp / "abx", "nabx", samples=16, items_per_hit=5, assignments=5,
                       max_hits_per_worker=3).out
    batch = Batch(out)
    assert len(batch.hits) == 4 and batch.slots == 6
    gold_side = {h: next("A" if batch.clip(h, f"a{s}")["role"] == "gold_natural" else "B"
                         for s in range(1, 7) if batch.clip(h, f"a{s}")["role"] != "stimulus") for h in range(4)}
    assert gold_side == {0: "A", 1: "B", 2: "A", 3: "B"}  # the export alternates the natural side

    rng = np.random.default_rng(18)
    votes: dict[str, list[int]] = {}
    ids: dict[str, str] = {}

    def add(name: str, hit: int, worker: str, status: str = "Submitted", native: str = "yes",
            hit_id: str | None = None, extra: dict[str, str] | None = None, **kind) -> None:
        answers, v = answers_for(batch, hit, rng, **kind)
        answers.update(extra or {})
        ids[name] = batch.add(hit, worker, answers, status=status, native=native, hit_id=hit_id)
        votes[name] = v

    for h in (0, 1, 2):
        add(f"G1@{h}", h, "WG1")
    add("G2@0", 0, "WG2")
    add("G2@1", 1, "WG2", extra={"comment": COMMENT})
    add("G3@2", 2, "WG3")
    add("G3@3", 3, "WG3")
    add("G4@3", 3, "WG4", status="Approved")
    add("G5@0", 0, "WG5")
    add("ALLA@0", 0, "WALLA", constant="A")  # gold natural in A: passed by luck
    add("ALLA@1", 1, "WALLA", constant="A")  # gold natural in B: failed
    add("GOLDONCE@1", 1, "WGOLDONCE", gold_right=False)
    add("GOLDONCE@2", 2, "WGOLDONCE")
    add("GOLDONCE@3", 3, "WGOLDONCE")
    add("AMTREJ@2", 2, "WAMTREJ", status="Rejected")
    add("AMTREJ@3", 3, "WAMTREJ")
    add("BLANK1@3", 3, "WBLANK1", blank=1)  # 1 of 6 items: dropped alone
    add("BLANK2@0", 0, "WBLANK2", blank=2)  # 2 of 6: more than 20 %
    add("BLANK2@1", 1, "WBLANK2")
    add("EMPTY@2", 2, "WEMPTY", blank=5)
    add("DUP@1", 1, "WDUP")
    add("DUP@1again", 1, "WDUP", hit_id="3REPUBLISHED")
    for h in range(4):
        add(f"MANY@{h}", h, "WMANY")
    add("FOREIGN@3", 3, "WFOREIGN", native="no")
    empty = next(r for r in batch.rows if r["AssignmentId"] == ids["EMPTY@2"])
    empty.update({f"Answer.q{s}": "" for s in range(1, 7)})  # its gold item too: nothing answered

    # the all-"A" worker's ten test items held each system in A at least once: the pattern cannot be a preference
    alla = [batch.clip(h, f"a{s}")["system"] for h in (0, 1) for s in range(1, 7)]
    assert {"clean", "mixture"} <= set(alla)
    path = batch.write(tmp / "Batch_4400018_batch_results.csv", bom=True, extra=["RequesterNotes"])
    return tmp, results, out, batch, path, ids, votes


REJECTED = {"ALLA@0": "same answer (A) for all 10 test items of this worker",
            "ALLA@1": "failed gold", "GOLDONCE@1": "failed gold", "BLANK2@0": "too many blank items: 2 of 6",
            "EMPTY@2": "no answers"}
ALWAYS_EXCLUDED = {"DUP@1again": "duplicate", "MANY@3": "over the per-worker limit of 3", "FOREIGN@3": "non-native"}
KEPT_BY_ASSIGNMENT = ["G1@0", "G1@1", "G1@2", "G2@0", "G2@1", "G3@2", "G3@3", "G4@3", "G5@0", "GOLDONCE@2",
                      "GOLDONCE@3", "AMTREJ@3", "BLANK1@3", "BLANK2@1", "DUP@1", "MANY@0", "MANY@1", "MANY@2"]
WORKER_EXCLUDED = {"GOLDONCE@2": "GOLDONCE@1", "GOLDONCE@3": "GOLDONCE@1", "AMTREJ@3": "AMTREJ@2",
                   "BLANK2@1": "BLANK2@0"}
KEPT = {"assignment": KEPT_BY_ASSIGNMENT, "worker": [k for k in KEPT_BY_ASSIGNMENT if k not in WORKER_EXCLUDED]}


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _analyze(messy, policy: str, capsys, *extra: str) -> tuple[int, str]:
    tmp, results, out, _, path, _, _ = messy
    code = main(["listen", "analyze", "--results", str(path), "--key", str(out / "secret" / "SECRET_key.csv"),
                 "--store", str(results), "--exclude", policy, *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("policy", ["worker", "assignment"])
def test_messy_batch_under_both_policies(messy, policy: str, capsys):
    tmp, results, out, batch, path, ids, votes = messy
    code, console = _analyze(messy, policy, capsys)
    assert code == 0, console
    name_of = {v: k for k, v in ids.items()}

    # who is used, and why the others are not
    _, summary_rows = _read(tmp / "approve_reject_summary.csv")
    summary = {name_of[r["AssignmentId"]]: r for r in summary_rows}
    assert len(summary) == len(ids)
    assert sorted(n for n, r in summary.items() if r["Used"] == "yes") == sorted(KEPT[policy])
    for name, reason in REJECTED.items():
        assert summary[name]["Decision"] == "reject" and reason in summary[name]["Reasons"], summary[name]
    for name, reason in ALWAYS_EXCLUDED.items():
        assert summary[name]["Decision"] == "approve" and reason in summary[name]["Reasons"], summary[name]
    for name, cause in WORKER_EXCLUDED.items():
        if policy == "worker":
            assert summary[name]["Decision"] == "approve"
            assert f"worker failed checks in another assignment ({ids[cause]}" in summary[name]["Reasons"]
        else:
            assert summary[name]["Reasons"] == "ok"
    assert summary["BLANK1@3"]["BlankItems"] != "" and summary["BLANK1@3"]["Reasons"] == "ok"
    assert summary["AMTREJ@2"]["Decision"] == "none (rejected already)"
    assert summary["G4@3"]["Decision"] == "none (approved already)"

    # the numbers, from the generated votes of exactly the kept assignments
    v = np.array([x for name in KEPT[policy] for x in votes[name]], dtype=float)
    assert len(v) == 5 * len(KEPT[policy]) - 1  # five test items each, one left blank
    first, second, tied = int((v > 0).sum()), int((v < 0).sum()), int((v == 0).sum())
    p_t = sps.ttest_1samp(v, 0.0).pvalue
    p_binomial = sps.binomtest(first, first + second, 0.5).pvalue
    store = Store(results)
    table = store.listening_results()
    store.close()
    row = table[table["batch"] == "Batch_4400018"].iloc[0]
    assert (row["system"], row["other"], row["n"]) == ("clean", "mixture", len(v))
    assert row["n_workers"] == len({name.split("@")[0] for name in KEPT[policy]})
    assert row["pref_system"] == pytest.approx(100 * first / len(v))
    assert row["pref_other"] == pytest.approx(100 * second / len(v))
    assert row["pref_np"] == pytest.approx(100 * tied / len(v))
    assert row["p_ttest"] == pytest.approx(p_t, rel=1e-9)
    assert row["p_sign"] == pytest.approx(p_binomial, rel=1e-9)
    assert row["exclude_policy"] == policy

    line = next(ln for ln in console.splitlines() if ln.split()[:4] == ["NABX", "clean", "vs", "mixture"])
    assert f"p = {p_t:.2g}" in line and f"p = {p_binomial:.2g}" in line
    assert f"{100 * first / len(v):.2f}%" in line
    assert f"--exclude {policy}" in console
    assert f"{len(KEPT[policy])} used" in console and "blank items dropped from used assignments: 1" in console


def test_review_upload_round_trips(messy, capsys):
    """The upload is the results file itself: the same columns and rows, only Approve/Reject filled."""
    tmp, _, _, batch, path, ids, _ = messy
    assert _analyze(messy, "worker", capsys)[0] == 0
    header, original = _read(path)
    upload_header, upload = _read(tmp / "approve_reject.csv")
    assert upload_header == header
    assert len(upload) == len(original)
    for before, after in zip(original, upload):
        assert {k: v for k, v in after.items() if k not in ("Approve", "Reject")} == \
            {k: v for k, v in before.items() if k not in ("Approve", "Reject")}
    by_id = {r["AssignmentId"]: r for r in upload}
    assert by_id[ids["G2@1"]]["Answer.comment"] == COMMENT
    for name, assignment in ids.items():
        r = by_id[assignment]
        if name in ("AMTREJ@2", "G4@3"):  # not Submitted: AMT would refuse a review
            assert (r["Approve"], r["Reject"]) == ("", "")
        elif name in REJECTED:
            assert r["Approve"] == "" and r["Reject"].startswith("Quality control failed: ")
            assert REJECTED[name] in r["Reject"]
        else:
            assert (r["Approve"], r["Reject"]) == ("x", "")


def test_results_without_play_columns_are_refused(messy, capsys):
    tmp, results, out, batch, _, _, votes = messy
    stripped = batch.write(tmp / "Batch_4400019_batch_results.csv",
                           drop=lambda c: c.startswith(("Answer.ended_", "Answer.plays_")))
    args = ["listen", "analyze", "--results", str(stripped), "--key", str(out / "secret" / "SECRET_key.csv"),
            "--store", str(results)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"bench: error: {stripped}: no play-tracking columns (Answer.ended_a1")
    assert "--no-play-check" in err
    # told to skip the play check, the same batch gives the same numbers as with the columns
    assert main(args + ["--no-play-check"]) == 0
    capsys.readouterr()
    store = Store(results)
    table = store.listening_results()
    store.close()
    row = table[table["batch"] == "Batch_4400019"].iloc[0]
    assert row["n"] == sum(len(votes[name]) for name in KEPT["worker"])
