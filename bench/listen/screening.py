"""P.808-style screening of AMT assignments: what to reject, what to approve but not use.

Rejected (the worker did not do the task; the reason is shown to them):

* answers missing for some item, or clips not played to their end (the page's
  ``ended_*`` counters; the page refuses to submit otherwise, so this catches
  tampering and broken browsers);
* a gold item answered wrongly: natural speech rated below 4 or the anchor above 2
  (MOS), or the anchor preferred / no preference in the gold pair (ABX);
* the same answer for every test item (at least 8): one MOS rating throughout, or
  always "A" (or "B") although that picked both systems of a pair (positions are
  balanced, so this follows the position, not the sound);
* faster than the audio: ``WorkTimeInSeconds`` below the summed length of the HIT's
  clips (each has to be played once).

Approved but not used (the worker is not at fault, or the data are not wanted):

* a second assignment of the same worker on the same HIT content (re-published HIT):
  the first submitted is kept;
* assignments beyond a worker's first ``max_hits_per_worker`` (by submit time);
* a listener who reported English is not their native language (the paper used
  native listeners).

Assignments AMT already marks ``Rejected`` are dropped before all of this.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import PurePosixPath
from urllib.parse import urlparse

from bench.errors import BenchError
from bench.listen.amt_csv import REJECTED, Assignment
from bench.listen.design import ANSWER_A, ANSWER_B, ABX_ANSWERS, GOLD_ANCHOR_MAX, GOLD_NATURAL_MIN, MOS_SCALE, \
    TestDesign, answer_name, ended_name, field_name
from bench.listen.hits import GOLD_ANCHOR, GOLD_NATURAL

_FAR_FUTURE = datetime.max.replace(tzinfo=timezone.utc)


@dataclass
class Rules:
    """Screening thresholds."""

    max_hits_per_worker: int = 4
    #: work time must be at least this fraction of the HIT's summed clip length
    min_time_factor: float = 1.0
    #: all-same answers are only judged with at least this many test items
    min_items_for_same: int = 8
    exclude_non_native: bool = True


@dataclass
class SlotAnswer:
    """One item of one assignment: its clips (key rows by page field), the answer, play counts."""

    slot: int
    clips: dict[str, dict[str, str]]
    answer: str
    ended: dict[str, int]

    @property
    def roles(self) -> set[str]:
        return {c["role"] for c in self.clips.values()}

    @property
    def is_gold(self) -> bool:
        return bool(self.roles & {GOLD_NATURAL, GOLD_ANCHOR})


@dataclass
class Screened:
    assignment: Assignment
    slots: list[SlotAnswer]
    reject: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)

    @property
    def used(self) -> bool:
        return not self.reject and not self.exclude

    @property
    def hit_content(self) -> str:
        """Identity of the HIT's content: the export's ``hit_ref``, else AMT's HITId."""
        return self.assignment.inputs.get("hit_ref") or self.assignment.hit_id


def token_of(url: str) -> str:
    """Blinded token from a clip URL: the file name without its extension."""
    return PurePosixPath(urlparse(url.strip()).path).stem


def parse_slots(assignment: Assignment, design: TestDesign, key: dict[str, dict[str, str]]) -> list[SlotAnswer]:
    slots = []
    slot = 1
    while field_name(design.clip_fields[-1], slot) in assignment.inputs:
        clips, ended = {}, {}
        for fld in design.clip_fields:
            url = assignment.inputs.get(field_name(fld, slot), "")
            token = token_of(url)
            if token not in key:
                raise BenchError(f"assignment {assignment.assignment_id}: clip {url!r} is not in the key "
                                 "(results and key from different exports?)")
            clips[fld] = key[token]
            try:
                ended[fld] = int(float(assignment.answers.get(ended_name(fld, slot), "") or 0))
            except ValueError:
                ended[fld] = 0
        slots.append(SlotAnswer(slot, clips, assignment.answers.get(answer_name(slot), "").strip(), ended))
        slot += 1
    if not slots:
        raise BenchError(f"assignment {assignment.assignment_id}: no Input.{field_name(design.clip_fields[-1], 1)} "
                         f"column: results are not from a {design.label} batch")
    return slots


def _valid(design: TestDesign, answer: str) -> bool:
    if design.kind == "abx":
        return answer in ABX_ANSWERS
    try:
        return float(answer) in MOS_SCALE
    except ValueError:
        return False


def gold_failure(design: TestDesign, slot: SlotAnswer) -> str | None:
    """Why a gold item's answer is wrong, or None."""
    if design.kind == "mos":
        role = slot.clips["clip"]["role"]
        value = float(slot.answer)
        if role == GOLD_NATURAL and value < GOLD_NATURAL_MIN:
            return f"item {slot.slot}: natural speech rated {value:g} (expected {GOLD_NATURAL_MIN:g} or more)"
        if role == GOLD_ANCHOR and value > GOLD_ANCHOR_MAX:
            return f"item {slot.slot}: strongly degraded speech rated {value:g} (expected {GOLD_ANCHOR_MAX:g} or less)"
        return None
    natural_side = ANSWER_A if slot.clips["a"]["role"] == GOLD_NATURAL else ANSWER_B
    if slot.answer != natural_side:
        return f"item {slot.slot}: chose {slot.answer} where {natural_side} is clearly better"
    return None


def _same_answer(design: TestDesign, tests: list[SlotAnswer], rules: Rules) -> str | None:
    """One MOS rating throughout, or one ABX position throughout that did not follow the systems.

    Always "A" is only suspicious when it picked different systems of the same pair:
    a listener who always prefers one system can land on one position by chance.
    """
    answers = {s.answer for s in tests}
    if len(tests) < rules.min_items_for_same or len(answers) != 1:
        return None
    answer = answers.pop()
    if design.kind == "mos":
        return f"same answer ({answer}) for every item"
    if answer not in (ANSWER_A, ANSWER_B):
        return None  # always "no preference" is a legitimate verdict
    side = "a" if answer == ANSWER_A else "b"
    chosen: dict[frozenset, set[str]] = defaultdict(set)
    for s in tests:
        chosen[frozenset((s.clips["a"]["system"], s.clips["b"]["system"]))].add(s.clips[side]["system"])
    if any(len(systems) > 1 for systems in chosen.values()):
        return f"same answer ({answer}) for every item, whichever system it held"
    return None


def _checks(design: TestDesign, screened: Screened, rules: Rules) -> None:
    a, slots = screened.assignment, screened.slots
    missing = [s.slot for s in slots if not _valid(design, s.answer)]
    if missing:
        screened.reject.append("missing answers: items " + ", ".join(map(str, missing)))
    unplayed = [f"{s.slot}{f.upper()}" for s in slots for f, n in s.ended.items() if n < 1]
    if unplayed:
        screened.reject.append("clips not played to the end: " + ", ".join(unplayed))
    answered = [s for s in slots if _valid(design, s.answer)]
    gold = [msg for s in answered if s.is_gold and (msg := gold_failure(design, s))]
    if gold:
        screened.reject.append("failed gold: " + "; ".join(gold))
    same = _same_answer(design, [s for s in answered if not s.is_gold], rules)
    if same:
        screened.reject.append(same)
    audio = sum(float(c.get("seconds") or 0) for s in slots for c in s.clips.values())
    if a.work_seconds is not None and a.work_seconds < rules.min_time_factor * audio:
        screened.reject.append(f"too fast: {a.work_seconds:g} s of work for {audio:.0f} s of audio")
    if rules.exclude_non_native and a.answers.get("native_english", "").strip().lower() == "no":
        screened.exclude.append("non-native listener (self-reported)")


def screen(assignments: list[Assignment], design: TestDesign, key: dict[str, dict[str, str]],
           rules: Rules) -> list[Screened]:
    """Screen every assignment not already rejected by AMT (see module docstring)."""
    kept = [a for a in assignments if a.status != REJECTED]
    screened = [Screened(a, parse_slots(a, design, key)) for a in kept]
    for s in screened:
        _checks(design, s, rules)
    chronological = sorted(screened, key=lambda s: (s.assignment.submit_time or _FAR_FUTURE, s.assignment.row))
    seen: set[tuple[str, str]] = set()
    counts: dict[str, int] = defaultdict(int)
    for s in chronological:
        ident = (s.assignment.worker_id, s.hit_content)
        if ident in seen:
            s.exclude.append("duplicate: this worker already answered the same HIT")
            continue
        seen.add(ident)
        counts[s.assignment.worker_id] += 1
        if counts[s.assignment.worker_id] > rules.max_hits_per_worker:
            s.exclude.append(f"over the per-worker limit of {rules.max_hits_per_worker} HITs")
    return screened


def review_rows(screened: list[Screened]) -> list[dict[str, str]]:
    """Rows of approve_reject.csv for assignments AMT still shows as Submitted."""
    rows = []
    for s in screened:
        a = s.assignment
        if a.status != "Submitted":
            continue
        rejected = bool(s.reject)
        rows.append({
            "HITId": a.hit_id, "AssignmentId": a.assignment_id, "WorkerId": a.worker_id,
            "Approve": "" if rejected else "x",
            "Reject": ("Quality control failed: " + "; ".join(s.reject)) if rejected else "",
            "Reason": "; ".join(s.reject + s.exclude) or "ok",
        })
    return rows
