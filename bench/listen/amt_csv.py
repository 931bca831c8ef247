"""AMT's CSV formats: the batch results file (read, and written by the lab server) and the review upload.

The results file AMT offers for download has one row per assignment with fixed
columns (:data:`RESULT_COLUMNS`: ``HITId``, ``AssignmentId``, ``WorkerId``,
``AssignmentStatus``, ``SubmitTime``, ``WorkTimeInSeconds``, ...), then
``Input.<column>`` for every ``hits.csv`` column and ``Answer.<name>`` for every
submitted field, then empty ``Approve``/``Reject`` columns.  Answers can come in three
shapes depending on how the page submitted them, and all are accepted: ``Answer.q1 = 4``
(plain form fields), ``Answer.q1.4 = true`` (crowd-form ``flatten-objects`` of a choice),
or one JSON column ``Answer.taskAnswers`` (crowd-form's default format).

AMT's bulk review upload is that same downloaded file with ``Approve`` set to ``x`` or
``Reject`` set to the reason shown to the worker (Manage -> Results -> Upload CSV); only
assignments still ``Submitted`` can be reviewed, so only their two cells are filled and
every other cell and row is written back as read (:func:`write_review_upload`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable

from bench.errors import BenchError

REQUIRED = ("HITId", "AssignmentId", "WorkerId", "AssignmentStatus")
SUBMITTED, APPROVED, REJECTED = "Submitted", "Approved", "Rejected"
#: the fixed columns of AMT's batch results download, in its order
RESULT_COLUMNS = [
    "HITId", "HITTypeId", "Title", "Description", "Keywords", "Reward", "CreationTime", "MaxAssignments",
    "RequesterAnnotation", "AssignmentDurationInSeconds", "AutoApprovalDelayInSeconds", "Expiration",
    "NumberOfSimilarHITs", "LifetimeInSeconds", "AssignmentId", "WorkerId", "AssignmentStatus", "AcceptTime",
    "SubmitTime", "AutoApprovalTime", "ApprovalTime", "RejectionTime", "RequesterFeedback", "WorkTimeInSeconds",
    "LifetimeApprovalRate", "Last30DaysApprovalRate", "Last7DaysApprovalRate",
]
APPROVE, REJECT = "Approve", "Reject"
#: AMT refuses a requester feedback (the rejection reason) longer than this
MAX_FEEDBACK = 1024
_TZ_HOURS = {"PST": -8, "PDT": -7, "UTC": 0, "GMT": 0, "EST": -5, "EDT": -4}


@dataclass
class Assignment:
    """One row of the results file, with ``Input.``/``Answer.`` prefixes removed."""

    row: int
    hit_id: str
    assignment_id: str
    worker_id: str
    status: str
    work_seconds: float | None
    submit_time: datetime | None
    inputs: dict[str, str] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)


@dataclass
class ResultsFile:
    """A results file as read: its header and raw rows (for writing it back) and the parsed assignments."""

    path: Path
    header: list[str]
    rows: list[dict[str, str]]
    assignments: list[Assignment]


def format_amt_time(moment: datetime) -> str:
    """An aware datetime in AMT's own format, in UTC: ``Tue Mar 04 09:00:00 UTC 2025``."""
    return moment.astimezone(timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y")


def parse_amt_time(text: str) -> datetime | None:
    """``Fri Nov 01 08:50:20 PDT 2019`` (AMT's format) or ISO 8601 -> aware datetime; None if unparsable."""
    text = (text or "").strip()
    if not text:
        return None
    parts = text.split()
    if len(parts) == 6 and parts[4] in _TZ_HOURS:
        try:
            naive = datetime.strptime(" ".join(parts[:4] + parts[5:]), "%a %b %d %H:%M:%S %Y")
        except ValueError:
            return None
        return naive.replace(tzinfo=timezone(timedelta(hours=_TZ_HOURS[parts[4]])))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _flatten_answers(raw: dict[str, str]) -> dict[str, str]:
    answers: dict[str, str] = {}
    task = raw.pop("taskAnswers", "")
    if task.strip():
        try:
            decoded = json.loads(task)
        except json.JSONDecodeError:
            raise BenchError(f"unparsable Answer.taskAnswers: {task[:60]!r}") from None
        for obj in decoded if isinstance(decoded, list) else [decoded]:
            for name, value in (obj or {}).items():
                if isinstance(value, dict):  # {"4": true} for a choice
                    chosen = [k for k, v in value.items() if v is True or v == "true"]
                    answers[name] = chosen[0] if chosen else ""
                else:
                    answers[name] = "" if value is None else str(value)
    for name, value in raw.items():
        base, dot, option = name.partition(".")
        if dot and value.strip().lower() == "true":  # flatten-objects: q1.4 = true
            answers[base] = option
        elif dot:
            answers.setdefault(base, "")
        elif value or name not in answers:  # an empty column does not hide a taskAnswers value
            answers[name] = value
    return answers


def read_results_file(path: Path) -> ResultsFile:
    """All assignments of an AMT batch results CSV, with the raw rows kept for the review upload."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BenchError(f"{path}: results file not found") from None
    except UnicodeDecodeError as exc:
        raise BenchError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or [])
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise BenchError(f"{path}: not an AMT batch results file (missing {', '.join(missing)})")
    out, rows = [], []
    for number, row in enumerate(reader, start=2):
        row.pop(None, None)  # cells beyond the header: nothing names them, nothing reads them
        row = {k: v or "" for k, v in row.items()}
        rows.append(row)
        work = row.get("WorkTimeInSeconds", "").strip()
        try:
            seconds = float(work) if work else None
        except ValueError:
            raise BenchError(f"{path}: row {number}: bad WorkTimeInSeconds {work!r}") from None
        inputs = {k[len("Input."):]: v for k, v in row.items() if k.startswith("Input.")}
        raw = {k[len("Answer."):]: v for k, v in row.items() if k.startswith("Answer.")}
        out.append(Assignment(number, row["HITId"].strip(), row["AssignmentId"].strip(), row["WorkerId"].strip(),
                              row["AssignmentStatus"].strip(), seconds, parse_amt_time(row.get("SubmitTime", "")),
                              inputs, _flatten_answers(raw)))
    return ResultsFile(path, header, rows, out)


def read_results(path: Path) -> list[Assignment]:
    """All assignments of an AMT batch results CSV."""
    return read_results_file(path).assignments


def batch_name(path: Path) -> str:
    """``Batch_4412345`` from ``Batch_4412345_batch_results.csv`` (``Lab_<id>`` from the lab server's file);
    the file stem otherwise."""
    match = re.match(r"((?:Batch|Lab)_[0-9A-Za-z]+?)_batch_results", Path(path).name) \
        or re.match(r"(Batch_\d+)", Path(path).name)
    return match.group(1) if match else Path(path).stem


def write_csv_atomically(path: Path, header: list[str], rows: Iterable[dict[str, str]]) -> None:
    """Write a CSV quoted as AMT writes its downloads, through a temporary file and a rename:
    a reader (or a crash) never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header, quoting=csv.QUOTE_ALL, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_review_upload(path: Path, results: ResultsFile, decisions: dict[str, str | None]) -> int:
    """AMT's bulk review file: the results file as read, with ``Approve``/``Reject`` filled for Submitted rows.

    ``decisions`` maps an assignment ID to None (approve) or the reason to reject it;
    rows of other assignments, and every other cell, are written back unchanged.
    Returns the number of assignments reviewed.
    """
    header = results.header + [c for c in (APPROVE, REJECT) if c not in results.header]
    rows, reviewed = [], 0
    for row, assignment in zip(results.rows, results.assignments):
        row = dict(row)
        if assignment.status == SUBMITTED and assignment.assignment_id in decisions:
            reason = decisions[assignment.assignment_id]
            row[APPROVE] = "" if reason else "x"
            row[REJECT] = _feedback(reason) if reason else ""
            reviewed += 1
        rows.append(row)
    write_csv_atomically(path, header, rows)
    return reviewed


def _feedback(reason: str) -> str:
    return reason if len(reason) <= MAX_FEEDBACK else reason[:MAX_FEEDBACK - 3] + "..."
