"""The lab server's state: who does which HIT, and every submitted answer, kept on disk as it arrives.

An export folder holds the HITs (``hits.csv``) and their page (``hit.html``).  Here
listeners take assignments of those HITs the way AMT hands them out: a listener gets
the least-filled HIT they have not done, no HIT gets more than the export's
assignments per HIT, no listener more than its per-worker limit.

Nothing submitted is ever only in memory.  Every accepted and every submitted
assignment is appended to ``lab/journal.jsonl`` and synced to disk before the
listener is answered; the results CSV (``lab/Lab_<id>_batch_results.csv``, exactly
AMT's download format, so ``bench listen analyze`` reads it unchanged) is then
rewritten from the journal through a temporary file and a rename, so it is complete
at every instant.  A server killed at any point restarts from the journal: a torn last
line (killed mid-write, never acknowledged) is skipped.  One lock serialises
allocation and submission; assignment IDs are 96-bit random strings that only their
listener's page carries, and a submission is filed under the HIT and worker recorded
when the assignment was accepted, never under what the form claims.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.errors import BenchError
from bench.listen.amt_csv import RESULT_COLUMNS, SUBMITTED, format_amt_time, write_csv_atomically
from bench.listen.design import TestDesign, get_test
from bench.listen.names import (HIT_REF, HITS_NAME, LAB_DIR, PAGE_NAME, SETTINGS_NAME, public_dir,
                                 settings_path)

WORKER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
JOURNAL_NAME = "journal.jsonl"
#: an accepted assignment not submitted within this time no longer holds its HIT's place
ASSIGNMENT_DURATION = timedelta(hours=2)


class LabError(BenchError):
    """A request the lab refuses (unknown assignment, a second submission, a bad listener ID)."""


@dataclass
class LabAssignment:
    assignment_id: str
    hit: int  # row of hits.csv, from 0
    worker_id: str
    accept_time: str  # ISO 8601, UTC
    submit_time: str | None = None
    answers: dict[str, str] = field(default_factory=dict)

    @property
    def submitted(self) -> bool:
        return self.submit_time is not None


def _now() -> datetime:
    return datetime.now(timezone.utc)


class LabBatch:
    """An export folder opened for listening; thread-safe."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        #: what may be served: the export's public part (the key lives in secret/, never served)
        self.public = public_dir(self.folder)
        for name in (HITS_NAME, PAGE_NAME):
            if not (self.public / name).is_file():
                raise BenchError(f"{self.folder}: no public/{name}: not a folder written by `bench listen export`")
        hits_text = (self.public / HITS_NAME).read_text(encoding="utf-8")
        self.hits = list(csv.DictReader(hits_text.splitlines()))
        if not self.hits or HIT_REF not in self.hits[0]:
            raise BenchError(f"{self.public / HITS_NAME}: no HITs (expected a {HIT_REF} column and one row per HIT)")
        self.page = (self.public / PAGE_NAME).read_text(encoding="utf-8")
        settings = self._settings()
        self.design: TestDesign = get_test(str(settings.get("test", "")))
        self.assignments_per_hit = int(settings.get("assignments", 10))
        self.max_hits_per_worker = int(settings.get("max_hits_per_worker", 4))
        self.batch_id = hashlib.sha256(hits_text.encode("utf-8")).hexdigest()[:10]
        self.lab_dir = self.folder / LAB_DIR
        self.lab_dir.mkdir(exist_ok=True)
        self.journal_path = self.lab_dir / JOURNAL_NAME
        self.results_path = self.lab_dir / f"Lab_{self.batch_id}_batch_results.csv"
        self._lock = threading.Lock()
        self._assignments: dict[str, LabAssignment] = {}
        self._load_journal()
        self._write_results()

    # -- persistence ---------------------------------------------------------------------------
    def _settings(self) -> dict:
        path = settings_path(self.folder)
        if not path.is_file():
            raise BenchError(f"{self.folder}: no secret/{SETTINGS_NAME}: serve the folder `bench listen export` wrote, "
                             "as it is")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise BenchError(f"{path}: unreadable settings ({exc.msg}, line {exc.lineno})") from None

    def _load_journal(self) -> None:
        if not self.journal_path.is_file():
            return
        data = self.journal_path.read_bytes()
        complete = data[:data.rfind(b"\n") + 1]
        if len(complete) < len(data):
            # a line torn by a kill mid-write was never acknowledged: drop it, so appends start on a fresh line
            with open(self.journal_path, "r+b") as f:
                f.truncate(len(complete))
        for number, line in enumerate(complete.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                self._apply(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                raise BenchError(f"{self.journal_path}: line {number} is not a journal event (edited by hand?)") \
                    from None

    def _apply(self, event: dict) -> None:
        if event["event"] == "accept":
            self._assignments[event["assignment_id"]] = LabAssignment(
                event["assignment_id"], int(event["hit"]), event["worker_id"], event["accept_time"])
        elif event["event"] == "submit":
            a = self._assignments[event["assignment_id"]]
            a.submit_time, a.answers = event["submit_time"], dict(event["answers"])

    def _append(self, event: dict) -> None:
        with open(self.journal_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._apply(event)

    def _write_results(self) -> None:
        done = sorted((a for a in self._assignments.values() if a.submitted), key=lambda a: a.submit_time or "")
        answers = sorted({name for a in done for name in a.answers})
        inputs = list(self.hits[0])
        header = RESULT_COLUMNS + [f"Input.{c}" for c in inputs] + [f"Answer.{n}" for n in answers] + \
            ["Approve", "Reject"]
        write_csv_atomically(self.results_path, header, [self._row(a) for a in done])

    def _row(self, a: LabAssignment) -> dict[str, str]:
        hit = self.hits[a.hit]
        accept, submit = datetime.fromisoformat(a.accept_time), datetime.fromisoformat(a.submit_time or "")
        row = {"HITId": self.hit_id(a.hit), "HITTypeId": f"LAB{self.batch_id}", "Title": self.design.title,
               "Description": "lab listening test (bench listen serve)", "MaxAssignments": str(self.assignments_per_hit),
               "AssignmentDurationInSeconds": str(int(ASSIGNMENT_DURATION.total_seconds())),
               "AssignmentId": a.assignment_id, "WorkerId": a.worker_id, "AssignmentStatus": SUBMITTED,
               "AcceptTime": format_amt_time(accept), "SubmitTime": format_amt_time(submit),
               "WorkTimeInSeconds": str(max(0, round((submit - accept).total_seconds())))}
        row.update({f"Input.{k}": v for k, v in hit.items()})
        row.update({f"Answer.{k}": v for k, v in a.answers.items()})
        return row

    # -- allocation and submission ---------------------------------------------------------------
    def hit_id(self, hit: int) -> str:
        return f"LAB{self.batch_id}{self.hits[hit][HIT_REF]}"

    def _holds_place(self, a: LabAssignment, now: datetime) -> bool:
        return a.submitted or now - datetime.fromisoformat(a.accept_time) < ASSIGNMENT_DURATION

    def next_for(self, worker_id: str) -> tuple[LabAssignment | None, str]:
        """The listener's open assignment, else a new one on the least-filled HIT they have not done;
        (None, why) when there is none."""
        if not WORKER_ID.match(worker_id or ""):
            raise LabError("a listener ID is 1 to 64 letters, digits or . _ - @, starting with a letter or digit")
        with self._lock:
            now = _now()
            mine = [a for a in self._assignments.values() if a.worker_id == worker_id]
            open_ = [a for a in mine if not a.submitted and self._holds_place(a, now)]
            if open_:
                return open_[0], "resumed"
            done = sum(a.submitted for a in mine)
            if done >= self.max_hits_per_worker:
                return None, f"you have done {done} HITs, the most one listener may do in this test"
            taken = {a.hit for a in mine}
            load = [0] * len(self.hits)
            for a in self._assignments.values():
                if self._holds_place(a, now):
                    load[a.hit] += 1
            free = [h for h in range(len(self.hits)) if h not in taken and load[h] < self.assignments_per_hit]
            if not free:
                return None, f"no HIT is left for you ({done} done): the batch is complete for you"
            hit = min(free, key=lambda h: (load[h], h))
            event = {"event": "accept", "assignment_id": "LAB" + secrets.token_hex(12).upper(), "hit": hit,
                     "worker_id": worker_id, "accept_time": now.isoformat()}
            self._append(event)
            return self._assignments[event["assignment_id"]], "new"

    def get(self, assignment_id: str) -> LabAssignment:
        with self._lock:
            try:
                return self._assignments[assignment_id]
            except KeyError:
                raise LabError("unknown assignment") from None

    def submit(self, assignment_id: str, fields: dict[str, str]) -> LabAssignment:
        """File a page's answers under its assignment; on disk before this returns."""
        with self._lock:
            a = self._assignments.get(assignment_id)
            if a is None:
                raise LabError("unknown assignment (the page is not from this server)")
            if a.submitted:
                raise LabError("this HIT was already submitted")
            posted_ref = fields.get(HIT_REF)
            if posted_ref is not None and posted_ref != self.hits[a.hit][HIT_REF]:
                raise LabError("the answers are for another HIT than this assignment's")
            self._append({"event": "submit", "assignment_id": assignment_id, "submit_time": _now().isoformat(),
                          "answers": fields})
            self._write_results()
            return a

    def counts(self) -> dict[str, int]:
        with self._lock:
            submitted = sum(a.submitted for a in self._assignments.values())
        return {"hits": len(self.hits), "per_hit": self.assignments_per_hit, "submitted": submitted}
