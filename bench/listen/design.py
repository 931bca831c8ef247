"""The four listening tests of the CodeSep paper and what each HIT item looks like.

NMOS/SMOS rate one clip on a 5-point scale in 0.5 steps (SMOS against a natural
reference of the same speaker); NABX/SABX compare two clips A and B (SABX against a
natural reference X) with a "no preference" option.  The slot fields named here are
the ``${...}`` columns of ``hits.csv`` and the ``Answer.*`` names the page submits,
so export, page and analysis agree on them through this one module.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import BenchError

#: MOS scale: 1.0, 1.5, ..., 5.0 (the paper's 0.5-point increments)
MOS_SCALE: tuple[float, ...] = tuple(1.0 + 0.5 * i for i in range(9))
MOS_LABELS = {1.0: "Bad", 2.0: "Poor", 3.0: "Fair", 4.0: "Good", 5.0: "Excellent"}
#: ABX answers as submitted by the page
ANSWER_A, ANSWER_B, ANSWER_NP = "A", "B", "NP"
ABX_ANSWERS = (ANSWER_A, ANSWER_B, ANSWER_NP)
#: gold thresholds (P.808-style tolerance: natural speech at least "Good", the anchor at most "Poor")
GOLD_NATURAL_MIN = 4.0
GOLD_ANCHOR_MAX = 2.0


@dataclass(frozen=True)
class TestDesign:
    """One listening test: its kind (``mos``/``abx``), whether it has a natural reference, its wording."""

    name: str
    kind: str
    with_reference: bool
    title: str
    question: str
    instructions: str

    @property
    def clip_fields(self) -> tuple[str, ...]:
        """Per-item clip fields, in page order (the reference first, as listeners hear it first)."""
        if self.kind == "mos":
            return ("ref", "clip") if self.with_reference else ("clip",)
        return ("x", "a", "b") if self.with_reference else ("a", "b")

    @property
    def label(self) -> str:
        return self.name.upper()


TESTS: dict[str, TestDesign] = {
    "nmos": TestDesign(
        "nmos", "mos", False, "Listening test: how natural is the speech?",
        "How natural does this speech sound?",
        "Play each recording to the end, then rate how natural the speech sounds, from 1 (bad: clearly "
        "machine-like or distorted) to 5 (excellent: completely natural human speech). Half points are allowed."),
    "smos": TestDesign(
        "smos", "mos", True, "Listening test: how similar are the voices?",
        "How similar is the voice in the test recording to the voice in the reference?",
        "Each item has a reference recording and a test recording. Play both to the end, then rate how "
        "similar the speaker's voice in the test recording is to the reference voice, from 1 (bad: a "
        "different person) to 5 (excellent: the same person). Ignore what is said and the recording quality."),
    "nabx": TestDesign(
        "nabx", "abx", False, "Listening test: which recording sounds more natural?",
        "Which recording sounds more natural?",
        "Each item has two recordings, A and B. Play both to the end and choose the one whose speech sounds "
        "more natural, or 'No preference' if you cannot tell them apart."),
    "sabx": TestDesign(
        "sabx", "abx", True, "Listening test: which voice is closer to the reference?",
        "Which recording, A or B, sounds more like the voice in the reference X?",
        "Each item has a reference X and two recordings, A and B. Play all three to the end and choose the "
        "recording whose voice is more similar to the voice in X, or 'No preference' if you cannot tell."),
}


def get_test(name: str) -> TestDesign:
    try:
        return TESTS[name.lower()]
    except KeyError:
        raise BenchError(f"unknown listening test {name!r} (choose from {', '.join(TESTS)})") from None


def field_name(field: str, slot: int) -> str:
    """``hits.csv`` column of a clip field in a slot (1-based), e.g. ``a3``."""
    return f"{field}{slot}"


def answer_name(slot: int) -> str:
    """The page's answer field for a slot: AMT reports it as ``Answer.q<slot>``."""
    return f"q{slot}"


def ended_name(field: str, slot: int) -> str:
    """How many times the clip in a field was played to its end (``Answer.ended_a3``)."""
    return f"ended_{field}{slot}"
