"""AMT's CSV formats: the batch results file (read) and the bulk approve/reject file (write).

The results file AMT offers for download has one row per assignment with fixed
columns (``HITId``, ``AssignmentId``, ``WorkerId``, ``AssignmentStatus``,
``SubmitTime``, ``WorkTimeInSeconds``, ...), then ``Input.<column>`` for every
``hits.csv`` column and ``Answer.<name>`` for every submitted field, then empty
``Approve``/``Reject`` columns.  Answers can come in three shapes depending on how the
page submitted them, and all are accepted: ``Answer.q1 = 4`` (plain form fields),
``Answer.q1.4 = true`` (crowd-form ``flatten-objects`` of a choice), or one JSON
column ``Answer.taskAnswers`` (crowd-form's default format).

The bulk review upload is the same kind of file with ``Approve`` holding ``x`` or
``Reject`` holding the reason shown to the worker; only assignments still in state
``Submitted`` can be reviewed, so only those are written.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable

from bench.errors import BenchError

REQUIRED = ("HITId", "AssignmentId", "WorkerId", "AssignmentStatus")
SUBMITTED, APPROVED, REJECTED = "Submitted", "Approved", "Rejected"
APPROVE_REJECT_COLUMNS = ["HITId", "AssignmentId", "WorkerId", "Approve", "Reject", "Reason"]
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


def read_results(path: Path) -> list[Assignment]:
    """All assignments of an AMT batch results CSV."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BenchError(f"{path}: results file not found") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise BenchError(f"{path}: not an AMT batch results file (missing {', '.join(missing)})")
    out = []
    for number, row in enumerate(reader, start=2):
        work = (row.get("WorkTimeInSeconds") or "").strip()
        try:
            seconds = float(work) if work else None
        except ValueError:
            raise BenchError(f"{path}: row {number}: bad WorkTimeInSeconds {work!r}") from None
        inputs = {k[len("Input."):]: v or "" for k, v in row.items() if k and k.startswith("Input.")}
        raw = {k[len("Answer."):]: v or "" for k, v in row.items() if k and k.startswith("Answer.")}
        out.append(Assignment(number, row["HITId"].strip(), row["AssignmentId"].strip(), row["WorkerId"].strip(),
                              row["AssignmentStatus"].strip(), seconds, parse_amt_time(row.get("SubmitTime", "")),
                              inputs, _flatten_answers(raw)))
    return out


def batch_name(path: Path) -> str:
    """``Batch_4412345`` from ``Batch_4412345_batch_results.csv``; the file stem otherwise."""
    match = re.match(r"(Batch_\d+)", Path(path).name)
    return match.group(1) if match else Path(path).stem


def write_approve_reject(path: Path, rows: Iterable[dict[str, str]]) -> int:
    """Write the bulk review file; returns the number of rows."""
    rows = list(rows)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=APPROVE_REJECT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)
