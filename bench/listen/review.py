"""What ``bench listen analyze`` writes for the requester: AMT's review upload and a compact summary.

``approve_reject.csv`` is the downloaded results file itself with ``Approve``/``Reject``
filled for every Submitted assignment (the file AMT's Manage -> Results -> Upload CSV
accepts); ``approve_reject_summary.csv`` beside it has one short row per assignment
(decision, whether its answers are used, blank items, every reason) for reading.
"""

from __future__ import annotations

from pathlib import Path

from bench.listen.amt_csv import SUBMITTED, ResultsFile, write_csv_atomically, write_review_upload
from bench.listen.names import REVIEW_SUMMARY_SUFFIX
from bench.listen.screening import Screened

SUMMARY_COLUMNS = ["HITId", "AssignmentId", "WorkerId", "AssignmentStatus", "Decision", "Used", "BlankItems",
                   "Reasons"]
REJECT_PREFIX = "Quality control failed: "


def summary_path(upload: Path) -> Path:
    return Path(upload).with_name(Path(upload).stem + REVIEW_SUMMARY_SUFFIX)


def decisions(screened: list[Screened]) -> dict[str, str | None]:
    """Assignment ID -> None (approve) or the reason shown to the worker, for Submitted assignments."""
    return {s.assignment.assignment_id: (REJECT_PREFIX + "; ".join(s.reject)) if s.reject else None
            for s in screened if s.assignment.status == SUBMITTED}


def _decision(s: Screened) -> str:
    if s.assignment.status != SUBMITTED:
        return f"none ({s.assignment.status.lower()} already)"
    return "reject" if s.reject else "approve"


def summary_rows(screened: list[Screened]) -> list[dict[str, str]]:
    return [{"HITId": s.assignment.hit_id, "AssignmentId": s.assignment.assignment_id,
             "WorkerId": s.assignment.worker_id, "AssignmentStatus": s.assignment.status,
             "Decision": _decision(s), "Used": "yes" if s.used else "no",
             "BlankItems": " ".join(map(str, s.blank)),
             "Reasons": "; ".join(s.reject + s.exclude) or ("rejected on AMT" if s.amt_rejected else "ok")}
            for s in screened]


def write_review(upload: Path, results: ResultsFile, screened: list[Screened]) -> tuple[Path, Path]:
    """Write the upload file and its summary; returns both paths."""
    write_review_upload(upload, results, decisions(screened))
    summary = summary_path(upload)
    write_csv_atomically(summary, SUMMARY_COLUMNS, summary_rows(screened))
    return Path(upload), summary
