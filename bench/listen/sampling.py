"""Seeded choice of the test utterances, the references and the gold-item utterances.

Every system must be heard on the same utterances, so samples are drawn from the
(mixture, source) pairs that *all* chosen systems have stored.  Mixtures are spread
first: one source per mixture until every mixture is used, then second sources, so
20 samples come from 20 different mixtures whenever the set allows it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import numpy as np

from bench.errors import BenchError
from bench.listen.clips import Item, speaker_of


def sample_items(candidates: Iterable[Item], n: int, rng: np.random.Generator) -> list[Item]:
    """``n`` distinct items, at most one per mixture while mixtures last; deterministic for a seed."""
    by_mixture: dict[str, list[int]] = defaultdict(list)
    for mixture_id, source in sorted(set(candidates)):
        by_mixture[mixture_id].append(source)
    total = sum(len(v) for v in by_mixture.values())
    if n < 1:
        raise BenchError(f"samples per system must be at least 1, got {n}")
    if total < n:
        raise BenchError(f"only {total} (mixture, source) pairs are stored for every chosen system; "
                         f"asked for {n} samples per system")
    mixtures = sorted(by_mixture)
    order = [mixtures[i] for i in rng.permutation(len(mixtures))]
    sources = {m: [by_mixture[m][i] for i in rng.permutation(len(by_mixture[m]))] for m in order}
    chosen: list[Item] = []
    depth = 0
    while len(chosen) < n:
        for m in order:
            if depth < len(sources[m]) and len(chosen) < n:
                chosen.append((m, sources[m][depth]))
        depth += 1
    return chosen


class ReferencePicker:
    """The natural reference for an utterance (SMOS, SABX): another utterance of the same speaker.

    A different utterance keeps the judgement on the voice, not on the words; when
    the set has no other utterance of that speaker (or IDs carry no speaker), the
    natural version of the same utterance is used.  One reference per utterance, so
    all systems are compared against the same one.
    """

    def __init__(self, natural: Iterable[Item], rng: np.random.Generator) -> None:
        self.rng = rng
        self.by_speaker: dict[str, list[Item]] = defaultdict(list)
        self.natural = set(natural)
        for item in sorted(self.natural):
            speaker = speaker_of(item)
            if speaker is not None:
                self.by_speaker[speaker].append(item)
        self._chosen: dict[Item, Item] = {}

    def __call__(self, item: Item) -> Item:
        if item not in self._chosen:
            speaker = speaker_of(item)
            # other utterances of the speaker: different (mixture, source) and a different utterance ID
            own = item[0].split("_")[item[1]] if speaker else None
            options = [o for o in self.by_speaker.get(speaker or "", [])
                       if o != item and o[0].split("_")[o[1]] != own]
            self._chosen[item] = options[int(self.rng.integers(len(options)))] if options else item
        return self._chosen[item]


def gold_bases(natural: Iterable[Item], avoid: Iterable[Item], count: int, rng: np.random.Generator) -> list[Item]:
    """One natural utterance per HIT for its gold items, preferring utterances not under test."""
    natural = sorted(set(natural))
    if not natural:
        raise BenchError("no natural speech available for gold items (neither a 'clean' system nor dataset sources)")
    avoid_mixtures = {m for m, _ in avoid}
    pool = [i for i in natural if i[0] not in avoid_mixtures] or natural
    picks: list[Item] = []
    while len(picks) < count:
        picks += [pool[i] for i in rng.permutation(len(pool))]
    return picks[:count]


def partner(item: Item, natural: Iterable[Item]) -> Item:
    """The other source of the same mixture (a different speaker in Libri2Mix), else the item itself."""
    others = sorted(i for i in set(natural) if i[0] == item[0] and i != item)
    return others[0] if others else item
