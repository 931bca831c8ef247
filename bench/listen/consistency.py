"""The all-same-answer check, judged per worker over every assignment of theirs in the batch.

A HIT of the default export has 5 to 10 test items, too few to tell a listener who
clicks "A" throughout from one who happened to prefer the side that system sat on.
Pooling a worker's items fixes that:

ABX
  The export puts each system of a pair in position A for a random half of the
  utterances, so for a listener who follows the sound the position of every A/B
  answer is a fair coin, whatever their preferences.  All ``n`` answered test items
  on one position then has probability ``2 * 0.5**n`` (two-sided); the check fires
  when that is below ``alpha`` (0.01: eight or more items, e.g. two 5-item HITs) *and*
  the position picked both systems of some pair (a listener who always prefers one
  system cannot do that).  Always "no preference" is a legitimate verdict and never
  fires.  One 5-item HIT alone (p = 0.0625) is left to the gold item, which an
  always-"A" worker fails in every other HIT.
MOS
  No coin to compare with, so a fixed count: one rating for every test item, over at
  least ``min_items`` (8) items of two or more systems.

Every assignment of the worker whose answered test items all carry that answer is
rejected (each is part of the pattern).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Iterator

from bench.listen.design import ANSWER_A, ANSWER_B, TestDesign
from bench.listen.items import SlotAnswer, valid_answer

if TYPE_CHECKING:
    from bench.listen.screening import Screened


def chance_all_same(n: int) -> float:
    """Probability that ``n`` fair-coin positions all land on the same side (two-sided)."""
    return min(1.0, 2.0 * 0.5 ** n) if n else 1.0


def _tests(design: TestDesign, s: "Screened") -> list[SlotAnswer]:
    return [x for x in s.answered if not x.is_gold and valid_answer(design, x.answer)]


def _abx_reason(items: list[SlotAnswer], alpha: float) -> str | None:
    answers = {x.answer for x in items}
    if len(answers) != 1 or (answer := answers.pop()) not in (ANSWER_A, ANSWER_B):
        return None
    p = chance_all_same(len(items))
    if p >= alpha:
        return None
    side = "a" if answer == ANSWER_A else "b"
    chosen: dict[frozenset, set[str]] = defaultdict(set)
    for x in items:
        chosen[frozenset((x.clips["a"]["system"], x.clips["b"]["system"]))].add(x.clips[side]["system"])
    if not any(len(systems) > 1 for systems in chosen.values()):
        return None
    return (f"same answer ({answer}) for all {len(items)} test items of this worker, whichever system it held "
            f"(p = {p:.2g} for a listener who follows the sound)")


def _mos_reason(items: list[SlotAnswer], min_items: int) -> str | None:
    answers = {x.answer for x in items}
    systems = {x.clips["clip"]["system"] for x in items}
    if len(items) < min_items or len(answers) != 1 or len(systems) < 2:
        return None
    return f"same answer ({answers.pop()}) for all {len(items)} test items of this worker"


def same_answer_findings(design: TestDesign, screened: list["Screened"], alpha: float,
                         min_items: int) -> Iterator[tuple["Screened", str]]:
    """(assignment, reason) for each assignment in an all-same pattern of its worker."""
    by_worker: dict[str, list["Screened"]] = defaultdict(list)
    for s in screened:
        by_worker[s.assignment.worker_id].append(s)
    for assignments in by_worker.values():
        items = [x for s in assignments for x in _tests(design, s)]
        if not items:
            continue
        reason = _mos_reason(items, min_items) if design.kind == "mos" else _abx_reason(items, alpha)
        if reason is None:
            continue
        for s in assignments:
            if _tests(design, s):
                yield s, reason
