"""Choose which two utterances make each mixture.

Why pair by duration: in Libri2Mix's "min" mode the longer source is cut to the
shorter one, and with it the end of its sentence. Since the harness scores ASR on
the separated sources against the *full* sentence, we only pair utterances whose
lengths differ by at most :data:`MAX_DIFF_S`, so truncation removes at most a
fraction of the last word (often only trailing silence).

Two utterances are never paired when their voices share a ``group`` (the same
voice, or two engines built from the same recorded person), mirroring LibriMix's
rule of two different speakers per mixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data.synth.voices import BY_ID

MAX_DIFF_S = 0.3
"""Largest length difference, in seconds, between the two sources of a mixture."""


@dataclass(frozen=True)
class Utterance:
    """One rendered sentence of the split, with its pseudo-LibriSpeech id."""

    index: int  # position in the split's sentence stream
    utt_id: str  # <speaker>-<chapter>-<utt>
    voice_id: str
    text: str
    path: Path
    frames: int

    @property
    def group(self) -> str:
        return BY_ID[self.voice_id].group


def pair_by_duration(
    utterances: list[Utterance], max_diff_frames: int, rng: np.random.Generator
) -> list[tuple[Utterance, Utterance]]:
    """Greedy pairing of duration neighbours from different speaker groups.

    Utterances are visited shortest first; each one pairs with the oldest still
    unpaired utterance of another group within ``max_diff_frames``, or waits.
    Every utterance is used at most once (LibriMix's rule for its training sets).
    The order within each pair (which becomes ``s1``) is drawn from ``rng``.
    """
    pending: list[Utterance] = []
    pairs: list[tuple[Utterance, Utterance]] = []
    for utt in sorted(utterances, key=lambda u: (u.frames, u.index)):
        pending = [p for p in pending if utt.frames - p.frames <= max_diff_frames]
        partner = next((p for p in pending if p.group != utt.group), None)
        if partner is None:
            pending.append(utt)
            continue
        pending.remove(partner)
        pairs.append((partner, utt) if rng.random() < 0.5 else (utt, partner))
    return pairs
