"""P.808-style screening of AMT assignments: what to reject, what to approve but not use.

Rejected (the worker did not do the task; the reason is shown to them):

* no answer at all, or more than ``max_blank_share`` (default 20 %) of the items left
  blank; fewer blanks drop only the blank items (their count is reported), an answer
  the page cannot produce rejects the assignment (a tampered or foreign form);
* a clip of an answered item not played to its end (the page's ``ended_*``
  counters; the page refuses to submit otherwise, so this catches tampering and
  broken browsers).  A results file without those columns is refused as a whole
  unless ``--no-play-check`` says to skip this check;
* a gold item answered wrongly or left blank: natural speech rated below 4 or the
  anchor above 2 (MOS), or the anchor preferred / no preference in the gold pair (ABX);
* the same answer for all the worker's test items (:mod:`bench.listen.consistency`);
* faster than the audio: ``WorkTimeInSeconds`` below the summed length of the HIT's
  clips (each has to be played once).

Excluded (approved but not used; the worker is not at fault in this assignment, or the
data are not wanted):

* ``--exclude worker`` (the default, as listening-test practice and the CodeSep paper's
  significance claims assume): every other assignment of a worker who failed any of
  the checks above in some assignment, or has one AMT already shows as ``Rejected``
  (so analysing the file again after uploading the review gives the same numbers).
  ``--exclude assignment`` keeps the worker's other assignments;
* a second assignment of the same worker on the same HIT content (re-published HIT):
  the first submitted is kept;
* assignments beyond a worker's first ``max_hits_per_worker`` kept ones (by submit time);
* a listener who reported English is not their native language (the paper used
  native listeners).

Assignments AMT already marks ``Rejected`` are never used nor reviewed again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

from bench.errors import BenchError
from bench.listen.amt_csv import REJECTED, Assignment
from bench.listen.consistency import same_answer_findings
from bench.listen.design import ANSWER_A, ANSWER_B, GOLD_ANCHOR_MAX, GOLD_NATURAL_MIN, TestDesign
from bench.listen.hits import GOLD_ANCHOR, GOLD_NATURAL
from bench.listen.items import SlotAnswer, parse_slots, token_of, valid_answer

__all__ = ["EXCLUDE_POLICIES", "Rules", "Screened", "SlotAnswer", "screen", "token_of", "gold_failure"]

_FAR_FUTURE = datetime.max.replace(tzinfo=timezone.utc)
EXCLUDE_WORKER, EXCLUDE_ASSIGNMENT = "worker", "assignment"
EXCLUDE_POLICIES = (EXCLUDE_WORKER, EXCLUDE_ASSIGNMENT)


@dataclass
class Rules:
    """Screening policy and thresholds (see the module docstring)."""

    max_hits_per_worker: int = 4
    #: work time must be at least this fraction of the HIT's summed clip length
    min_time_factor: float = 1.0
    #: drop every assignment of a worker who failed a check ("worker"), or only the failing ones
    exclude: str = EXCLUDE_WORKER
    #: an assignment with more than this share of its items blank is rejected
    max_blank_share: float = 0.2
    #: all-same ABX positions are judged when an attentive listener would give them with p below this
    same_answer_alpha: float = 0.01
    #: all-same MOS ratings are judged over at least this many test items
    min_items_for_same_mos: int = 8
    check_plays: bool = True
    exclude_non_native: bool = True

    def __post_init__(self) -> None:
        if self.exclude not in EXCLUDE_POLICIES:
            raise BenchError(f"--exclude must be {' or '.join(EXCLUDE_POLICIES)}, got {self.exclude!r}")
        if not 0.0 <= self.max_blank_share < 1.0:
            raise BenchError(f"--max-blank-share must be in [0, 1), got {self.max_blank_share:g}")


@dataclass
class Screened:
    assignment: Assignment
    slots: list[SlotAnswer]
    reject: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)

    @property
    def amt_rejected(self) -> bool:
        return self.assignment.status == REJECTED

    @property
    def used(self) -> bool:
        return not self.amt_rejected and not self.reject and not self.exclude

    @property
    def answered(self) -> list[SlotAnswer]:
        """The items that count: blank ones are dropped."""
        return [s for s in self.slots if not s.blank]

    @property
    def blank(self) -> list[int]:
        return [s.slot for s in self.slots if s.blank]

    @property
    def hit_content(self) -> str:
        """Identity of the HIT's content: the export's ``hit_ref``, else AMT's HITId."""
        return self.assignment.inputs.get("hit_ref") or self.assignment.hit_id


def gold_failure(design: TestDesign, slot: SlotAnswer) -> str | None:
    """Why a gold item's answer is wrong (or missing), or None."""
    if slot.blank:
        return f"item {slot.slot}: left blank"
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


def _answers_checks(design: TestDesign, screened: Screened, rules: Rules) -> None:
    slots, blank = screened.slots, screened.blank
    invalid = [f"{s.slot} ({s.answer[:20]!r})" for s in screened.answered if not valid_answer(design, s.answer)]
    if invalid:
        screened.reject.append("answers the page cannot give: items " + ", ".join(invalid))
    if len(blank) == len(slots):
        screened.reject.append("no answers")
    elif len(blank) > rules.max_blank_share * len(slots):
        screened.reject.append(f"too many blank items: {len(blank)} of {len(slots)} "
                               f"(items {', '.join(map(str, blank))}; at most {rules.max_blank_share:.0%} may be blank)")


def _checks(design: TestDesign, screened: Screened, rules: Rules) -> None:
    a = screened.assignment
    _answers_checks(design, screened, rules)
    if screened.reject:
        return  # the answers themselves are unusable: nothing below can be judged
    answered = screened.answered
    if rules.check_plays:
        unplayed = [f"{s.slot}{f.upper()}" for s in answered for f, n in s.ended.items() if n < 1]
        if unplayed:
            screened.reject.append("clips not played to the end: " + ", ".join(unplayed))
    gold = [msg for s in screened.slots if s.is_gold and (msg := gold_failure(design, s))]
    if gold:
        screened.reject.append("failed gold: " + "; ".join(gold))
    audio = sum(float(c.get("seconds") or 0) for s in screened.slots for c in s.clips.values())
    if a.work_seconds is not None and a.work_seconds < rules.min_time_factor * audio:
        screened.reject.append(f"too fast: {a.work_seconds:g} s of work for {audio:.0f} s of audio")
    if rules.exclude_non_native and a.answers.get("native_english", "").strip().lower() == "no":
        screened.exclude.append("non-native listener (self-reported)")


def _exclude_failed_workers(screened: list[Screened]) -> None:
    """``--exclude worker``: a worker who failed anywhere contributes nothing."""
    failures: dict[str, list[Screened]] = defaultdict(list)
    for s in screened:
        if s.amt_rejected or s.reject:
            failures[s.assignment.worker_id].append(s)
    for s in screened:
        failed = [f for f in failures.get(s.assignment.worker_id, []) if f is not s]
        if failed and not s.amt_rejected and not s.reject:
            first = failed[0]
            why = "rejected on AMT" if first.amt_rejected else first.reject[0].split(":")[0]
            s.exclude.append(f"worker failed checks in another assignment ({first.assignment.assignment_id}: {why})")


def _duplicates_and_limit(screened: list[Screened], rules: Rules) -> None:
    chronological = sorted(screened, key=lambda s: (s.assignment.submit_time or _FAR_FUTURE, s.assignment.row))
    seen: set[tuple[str, str]] = set()
    counts: dict[str, int] = defaultdict(int)
    for s in chronological:
        if s.amt_rejected or s.reject:
            continue
        ident = (s.assignment.worker_id, s.hit_content)
        if ident in seen:
            s.exclude.append("duplicate: this worker already answered the same HIT")
            continue
        seen.add(ident)
        counts[s.assignment.worker_id] += 1
        if counts[s.assignment.worker_id] > rules.max_hits_per_worker:
            s.exclude.append(f"over the per-worker limit of {rules.max_hits_per_worker} HITs")


def screen(assignments: list[Assignment], design: TestDesign, key: dict[str, dict[str, str]],
           rules: Rules) -> list[Screened]:
    """Screen every assignment (see the module docstring); AMT-rejected ones come back unused."""
    screened = [Screened(a, parse_slots(a, design, key)) for a in assignments]
    for s in screened:
        if not s.amt_rejected:
            _checks(design, s, rules)
    for s, reason in same_answer_findings(design, screened, rules.same_answer_alpha, rules.min_items_for_same_mos):
        if not s.amt_rejected:
            s.reject.append(reason)
    if rules.exclude == EXCLUDE_WORKER:
        _exclude_failed_workers(screened)
    _duplicates_and_limit(screened, rules)
    return screened
