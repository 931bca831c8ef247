"""Which estimate belongs to which reference speaker: the stored permutation every metric uses.

A separator's output order is arbitrary, so each mixture needs an assignment before
any intrusive metric (SI-SNRi, STOI, DWER, speaker similarity) can score it.  The usual
rule, PIT on SI-SNR, only works for systems that reproduce the waveform: a neural codec
or a token model resynthesises speech with its own phase (our codec's SI-SNR is about
-37 dB on clean input), so SI-SNR of either pairing is noise and PIT picks at random.
Scoring speaker 2's words against speaker 1's transcript then inflates DWER and
deflates STOI by amounts that have nothing to do with the system.

The rule here is phase-blind: the assignment maximising the summed cosine similarity of
compressed STFT magnitudes (|X|^0.3, 32 ms Hann windows, 16 ms hop) between each
estimate and its reference.  For a waveform-faithful separator it agrees with SI-SNR PIT
whenever the separation succeeds (tests check both on such outputs); for resynthesising
systems it pairs each output with the speaker whose speech it carries.
"""

from __future__ import annotations

from itertools import permutations

import numpy as np
from scipy.signal import stft

from bench.metrics.base import align_to_reference

#: stored with every system key, so results paired by an older rule are recomputed, not mixed
PAIRING_RULE = "stft-magnitude-cosine-v1"
_COMPRESSION = 0.3


def _magnitude(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    nperseg = max(16, int(round(0.032 * sample_rate)))
    _, _, spec = stft(np.asarray(wave, dtype=np.float64), fs=sample_rate, window="hann", nperseg=nperseg,
                      noverlap=nperseg // 2, boundary=None, padded=False)
    return np.abs(spec) ** _COMPRESSION


def similarity_matrix(estimates: np.ndarray, references: np.ndarray, sample_rate: int) -> np.ndarray:
    """[estimate i, reference j] cosine similarity of compressed magnitude spectrograms, in [0, 1]."""
    est = align_to_reference(np.asarray(estimates), references.shape[-1])
    est_mags = _unit_rows([_magnitude(e, sample_rate).ravel() for e in est])
    ref_mags = _unit_rows([_magnitude(r, sample_rate).ravel() for r in references])
    return est_mags @ ref_mags.T


def _unit_rows(vectors: list[np.ndarray]) -> np.ndarray:
    """Rows scaled to unit length; an all-zero row (silence) stays zero, so it scores 0."""
    rows = np.stack(vectors)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


def best_assignment(scores: np.ndarray, margin: float = 0.0) -> tuple[int, ...]:
    """The permutation ``perm`` maximising ``sum_j scores[perm[j], j]`` (scores: [estimate, reference]).

    Permutations are tried in lexicographic order and a later one replaces the best only
    if it scores more than ``margin`` higher, so ties keep the identity order.  Shared by
    this module's rule and SI-SNR PIT (:func:`bench.metrics.sisnr.best_permutation`).
    """
    num = scores.shape[1]
    best: tuple[int, ...] = tuple(range(num))
    best_score = -np.inf
    for perm in permutations(range(scores.shape[0]), num):
        score = sum(scores[perm[j], j] for j in range(num))
        if score > best_score + margin:
            best, best_score = perm, score
    return tuple(int(i) for i in best)


def assign_estimates(estimates: np.ndarray, references: np.ndarray, sample_rate: int) -> tuple[int, ...]:
    """The permutation ``perm`` (reference j <- estimate perm[j]) maximising summed similarity.

    Ties (e.g. silent estimates) keep the identity order.
    """
    return best_assignment(similarity_matrix(estimates, references, sample_rate), margin=1e-12)
