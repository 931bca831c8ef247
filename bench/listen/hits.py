"""Composition of HITs: which clips go in which slot of which HIT.

P.808-style rules, all seeded:

* test items are shuffled over HITs and every HIT's slot order is shuffled again, so
  neither position nor neighbours tell a system apart;
* ABX: for each system pair, the first system is in position A for half of the
  utterances (a shuffled half) and in B for the other half;
* every HIT carries gold items built from natural speech not under test when the set
  allows it: for MOS a natural clip (expected >= 4) and an MNRU anchor (expected
  <= 2); for ABX one natural-vs-anchor pair whose natural side alternates between A
  and B over HITs;
* a short last HIT is topped up with test items from other HITs, so every HIT has the
  same number of slots (the page has a fixed layout).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from bench.errors import BenchError
from bench.listen.clips import Item
from bench.listen.design import TestDesign

STIMULUS, REFERENCE, GOLD_NATURAL, GOLD_ANCHOR = "stimulus", "reference", "gold_natural", "gold_anchor"
#: slot kinds
TEST, GOLD = "test", "gold"


@dataclass(frozen=True, order=True)
class ClipId:
    """What a blinded file holds: its role, the system (stimuli only) and the utterance."""

    role: str
    system: str
    item: Item


@dataclass
class Slot:
    """One question of a HIT: page field (``clip``, ``ref``, ``a``, ``b``, ``x``) -> clip."""

    clips: dict[str, ClipId]
    kind: str = TEST


@dataclass
class Hit:
    ref: str
    slots: list[Slot] = field(default_factory=list)


def _gold_slots(design: TestDesign, base: Item, reference: Callable[[Item], Item],
                partner: Callable[[Item], Item], natural_in_a: bool) -> list[Slot]:
    natural = ClipId(GOLD_NATURAL, "", base)
    anchor = ClipId(GOLD_ANCHOR, "", partner(base))
    ref = ClipId(REFERENCE, "", reference(base))
    if design.kind == "mos":
        slots = [Slot({"clip": natural}, GOLD), Slot({"clip": anchor}, GOLD)]
        if design.with_reference:
            for slot in slots:
                slot.clips = {"ref": ref, **slot.clips}
        return slots
    a, b = (natural, anchor) if natural_in_a else (anchor, natural)
    clips = {"x": ref} if design.with_reference else {}
    return [Slot({**clips, "a": a, "b": b}, GOLD)]


def _test_slots(design: TestDesign, conditions: Sequence[str] | Sequence[tuple[str, str]], samples: Sequence[Item],
                reference: Callable[[Item], Item], rng: np.random.Generator) -> list[Slot]:
    slots: list[Slot] = []
    if design.kind == "mos":
        for system in conditions:
            for item in samples:
                clips = {"ref": ClipId(REFERENCE, "", reference(item))} if design.with_reference else {}
                slots.append(Slot({**clips, "clip": ClipId(STIMULUS, str(system), item)}))
        return slots
    for first, second in conditions:  # type: ignore[misc]
        n = len(samples)
        flags = np.array([True] * ((n + 1) // 2) + [False] * (n // 2))[rng.permutation(n)]
        for item, first_in_a in zip(samples, flags):
            one, two = ClipId(STIMULUS, first, item), ClipId(STIMULUS, second, item)
            a, b = (one, two) if first_in_a else (two, one)
            clips = {"x": ClipId(REFERENCE, "", reference(item))} if design.with_reference else {}
            slots.append(Slot({**clips, "a": a, "b": b}))
    return slots


def compose(design: TestDesign, conditions: Sequence[str] | Sequence[tuple[str, str]], samples: Sequence[Item],
            items_per_hit: int, gold_base: Callable[[int], Item], reference: Callable[[Item], Item],
            partner: Callable[[Item], Item], rng: np.random.Generator) -> list[Hit]:
    """HITs for systems (MOS) or system pairs (ABX); ``gold_base(h)`` is HIT ``h``'s gold utterance."""
    if items_per_hit < 1:
        raise BenchError(f"items per HIT must be at least 1, got {items_per_hit}")
    tests = _test_slots(design, conditions, samples, reference, rng)
    tests = [tests[i] for i in rng.permutation(len(tests))]
    per_hit = min(items_per_hit, len(tests))
    chunks = [tests[i:i + per_hit] for i in range(0, len(tests), per_hit)]
    last = chunks[-1]
    if len(last) < per_hit:
        others = [s for chunk in chunks[:-1] for s in chunk]
        extra = [others[i] for i in rng.permutation(len(others))[: per_hit - len(last)]]
        chunks[-1] = last + extra
    hits = []
    for h, chunk in enumerate(chunks):
        slots = chunk + _gold_slots(design, gold_base(h), reference, partner, natural_in_a=(h % 2 == 0))
        slots = [slots[i] for i in rng.permutation(len(slots))]
        hits.append(Hit(f"h{h + 1:03d}", slots))
    return hits
