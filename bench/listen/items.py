"""One assignment's items: which clips each slot held (from the key) and what the listener answered.

The clip URLs of ``Input.<field><slot>`` name blinded tokens; the key turns them back
into roles and systems.  The page's play counters (``Answer.ended_<field><slot>``) say
whether each clip was heard to its end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlparse

from bench.errors import BenchError
from bench.listen.amt_csv import Assignment
from bench.listen.design import ABX_ANSWERS, MOS_SCALE, TestDesign, answer_name, ended_name, field_name
from bench.listen.hits import GOLD_ANCHOR, GOLD_NATURAL


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

    @property
    def blank(self) -> bool:
        return self.answer == ""


def token_of(url: str) -> str:
    """Blinded token from a clip URL: the file name without its extension."""
    return PurePosixPath(urlparse(url.strip()).path).stem


def slot_count(design: TestDesign, inputs: dict[str, str]) -> int:
    """How many items a HIT has: slots numbered from 1 while the last clip field has a column."""
    n = 0
    while field_name(design.clip_fields[-1], n + 1) in inputs:
        n += 1
    return n


def parse_slots(assignment: Assignment, design: TestDesign, key: dict[str, dict[str, str]]) -> list[SlotAnswer]:
    slots = []
    for slot in range(1, slot_count(design, assignment.inputs) + 1):
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
    if not slots:
        raise BenchError(f"assignment {assignment.assignment_id}: no Input.{field_name(design.clip_fields[-1], 1)} "
                         f"column: results are not from a {design.label} batch")
    return slots


def valid_answer(design: TestDesign, answer: str) -> bool:
    """An answer the page can submit: A/B/NP, or a point of the MOS scale."""
    if design.kind == "abx":
        return answer in ABX_ANSWERS
    try:
        return float(answer) in MOS_SCALE
    except ValueError:
        return False


def missing_play_columns(assignments: list[Assignment], design: TestDesign) -> list[str]:
    """``Answer.ended_*`` columns the page writes that no assignment of the file has.

    Read from the parsed answers, so it holds for every answer shape (plain columns,
    flattened objects, ``taskAnswers`` JSON).
    """
    present = {name for a in assignments for name in a.answers}
    expected = []
    for a in assignments:
        for slot in range(1, slot_count(design, a.inputs) + 1):
            expected += [ended_name(fld, slot) for fld in design.clip_fields]
    return [f"Answer.{n}" for n in dict.fromkeys(expected) if n not in present]
