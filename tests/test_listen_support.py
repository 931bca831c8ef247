"""Shared helpers of the listening-test tests (imported by the other ``test_listen_*`` files).

:class:`Batch` writes AMT batch results files in AMT's exact download layout.  The
results store is made by the real runner on a small real-format Libri2Mix tree
(systems ``mixture`` and ``clean``, no metrics), so exports read exactly what
``bench run`` writes; nothing needs model weights.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Sequence

from libri2mix_tree import IDS, build_tree

from bench.data import DatasetSpec, open_dataset
from bench.listen.amt_csv import RESULT_COLUMNS  # AMT's fixed columns (test_listen_units checks them)
from bench.listen.export import ExportRequest, ExportSummary, export
from bench.run.runner import RunRequest, run
from bench.store import Store

SR = 16000

START = datetime(2025, 3, 4, 9, 0, 0)


def amt_time(t: datetime) -> str:
    return t.strftime("%a %b %d %H:%M:%S PST %Y")


class Batch:
    """Builds an AMT ``Batch_<id>_batch_results.csv`` from an export's hits.csv and key."""

    def __init__(self, out: Path) -> None:
        with open(out / "public" / "hits.csv", newline="") as f:
            self.hits = list(csv.DictReader(f))
        with open(out / "secret" / "SECRET_key.csv", newline="") as f:
            self.key = {r["token"]: r for r in csv.DictReader(f)}
        self.fields = [c for c in self.hits[0] if c != "hit_ref"]
        self.slots = max(int("".join(ch for ch in c if ch.isdigit())) for c in self.fields)
        self.rows: list[dict[str, str]] = []

    def clip(self, hit: int, field: str) -> dict[str, str]:
        return self.key[self.hits[hit][field].rsplit("/", 1)[-1][:-4]]

    def add(self, hit: int, worker: str, answers: dict[str, str], status: str = "Submitted",
            seconds: float = 400, hit_id: str | None = None, native: str = "yes",
            ended: dict[str, str] | None = None) -> str:
        n = len(self.rows)
        submit = START + timedelta(minutes=10 * n)
        assignment = f"ASG{n:04d}"
        row = {c: "" for c in RESULT_COLUMNS}
        row.update({"HITId": hit_id or f"3HIT{hit:03d}", "HITTypeId": "3TYPE", "Title": "Listening test",
                    "Reward": "$0.50", "MaxAssignments": "10", "AssignmentId": assignment, "WorkerId": worker,
                    "AssignmentStatus": status, "AcceptTime": amt_time(submit - timedelta(seconds=seconds)),
                    "SubmitTime": amt_time(submit), "WorkTimeInSeconds": str(int(seconds)),
                    "LifetimeApprovalRate": "100% (12/12)"})
        row.update({f"Input.{k}": v for k, v in self.hits[hit].items()})
        answer = {"native_english": native, "elapsed_s": str(int(seconds) - 5), "page_version": "jsac-listen-1"}
        for f in self.fields:
            answer[f"plays_{f}"] = "1"
            answer[f"ended_{f}"] = "1"
        answer.update(ended or {})
        answer.update(answers)
        row.update({f"Answer.{k}": answer[k] for k in sorted(answer)})
        row.update({"Approve": "", "Reject": ""})
        self.rows.append(row)
        return assignment

    def write(self, path: Path, bom: bool = False, drop: Callable[[str], bool] = lambda column: False,
              extra: Sequence[str] = ()) -> Path:
        """AMT's layout (CRLF lines, every cell quoted); ``bom`` as Excel saves it, ``drop`` leaves columns
        out (a modified page), ``extra`` adds empty columns AMT does not write."""
        columns = list(dict.fromkeys(c for r in self.rows for c in r))
        answers = sorted(c for c in columns if c.startswith("Answer."))
        inputs = [c for c in columns if c.startswith("Input.")]
        header = [c for c in RESULT_COLUMNS + inputs + answers + ["Approve", "Reject"] + list(extra) if not drop(c)]
        with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=header, quoting=csv.QUOTE_ALL, extrasaction="ignore", restval="")
            writer.writeheader()
            writer.writerows(self.rows)
        return path


def make_store(base: Path, systems: Sequence[str] = ("mixture", "clean"), seconds: float = 1.0) -> Path:
    """Run ``systems`` over eight mixtures of ``seconds`` each; returns the results directory."""
    tree = build_tree(base / "data", lengths={mid: int(seconds * SR) for mid in IDS}, mix_types=("mix_clean",))
    store = Store(base / "results")
    try:
        run(RunRequest(systems=list(systems), metrics=[]), open_dataset(DatasetSpec(root=tree)), store)
    finally:
        store.close()
    return base / "results"


def export_batch(results: Path, out: Path, test: str, **options) -> ExportSummary:
    """``bench listen export`` through the library, small defaults for tests."""
    defaults = dict(base_url="https://example.org/lt/", samples=6, items_per_hit=4, seed=3)
    if test.endswith("abx"):
        defaults["pairs"] = [("clean", "mixture")]
    else:
        defaults["systems"] = ["clean", "mixture"]
    defaults.update(options)
    return export(ExportRequest(test=test, out=out, results=results, **defaults))


def test_store_holds_both_systems(tmp_path: Path):
    results = make_store(tmp_path, seconds=0.5)
    store = Store(results)
    names = set(store.frame("SELECT name FROM systems")["name"])
    assert names == {"mixture", "clean"}
    assert store.conn.execute("SELECT COUNT(*) FROM estimates").fetchone()[0] == 2 * 2 * len(IDS)
    store.close()


def simulated_abx_choice(rng, a: dict, constant: str | None) -> str:
    """A simulated listener's ABX answer for a test item whose clip A is ``a``: ``constant`` if given,
    else the clean clip 60 %, the mixture 30 %, no preference 10 %."""
    if constant:
        return constant
    pick = rng.choice(["clean", "mixture", "np"], p=[0.6, 0.3, 0.1])
    return "NP" if pick == "np" else ("A" if a["system"] == pick else "B")


def vote_of(choice: str, a: dict, b: dict) -> int:
    """+1 when the answer chose the clean clip, -1 the mixture, 0 no preference."""
    chosen = None if choice == "NP" else (a if choice == "A" else b)["system"]
    return 0 if chosen is None else (1 if chosen == "clean" else -1)


def play_every_clip(driver) -> None:
    """Play each clip of a HIT page to its end (at 4x), one after the other, and check the page saw no problem."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("document.querySelectorAll('audio').forEach(function (a) { a.playbackRate = 4; });")
    for button in driver.find_elements(By.CSS_SELECTOR, ".lt-play"):
        field = button.get_attribute("data-field")
        button.click()
        WebDriverWait(driver, 10).until(lambda d: d.find_element(
            By.CSS_SELECTOR, f"input[name='ended_{field}']").get_attribute("value") == "1")
    assert driver.execute_script("return window.ltProblems()") == []
