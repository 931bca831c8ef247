"""Scale-invariant SNR, its improvement over the mixture, and SI-SNR PIT.

SI-SNR follows Le Roux et al. (2019): zero-mean signals, target = projection of the
estimate on the reference, SI-SNR = 10 log10(|target|^2 / |estimate - target|^2).
Computed in float64.  Numerically identical signals would give +inf; values are
capped at :data:`SI_SNR_CEILING_DB` so that means and confidence intervals stay
finite (the ``clean`` oracle sits at the ceiling; no real system comes close).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from bench.metrics.base import Metric, MetricInput, align_to_reference
from bench.run.assignment import best_assignment

SI_SNR_CEILING_DB = 100.0
CEILING_NOTE = (f"SI-SNR of every estimate at the {SI_SNR_CEILING_DB:g} dB ceiling (numerically identical to "
                "the reference); stored value is capped")
_TINY = np.finfo(np.float64).tiny


def si_snr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """SI-SNR in dB of ``estimate`` against ``reference`` (same length, 1-D)."""
    est = np.asarray(estimate, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    est = est - est.mean()
    ref = ref - ref.mean()
    ref_energy = float(np.dot(ref, ref))
    if ref_energy <= _TINY:
        return float("nan")  # a silent reference has no defined SI-SNR
    target = (np.dot(est, ref) / ref_energy) * ref
    noise = est - target
    target_energy = float(np.dot(target, target))
    noise_energy = float(np.dot(noise, noise))
    if noise_energy <= target_energy * 10 ** (-SI_SNR_CEILING_DB / 10):
        return SI_SNR_CEILING_DB
    if target_energy <= _TINY:
        return -SI_SNR_CEILING_DB
    return float(10.0 * np.log10(target_energy / noise_energy))


def si_snr_improvement(estimate: np.ndarray, reference: np.ndarray, mixture: np.ndarray) -> float:
    """SI-SNRi: SI-SNR of the estimate minus SI-SNR of the unprocessed mixture."""
    return si_snr(estimate, reference) - si_snr(mixture, reference)


def best_permutation(estimates: np.ndarray, references: np.ndarray) -> tuple[int, ...]:
    """PIT: the assignment ``perm`` (reference j <- estimate perm[j]) maximising mean SI-SNR.

    The textbook rule for waveform-faithful separators.  The harness pairs with
    :func:`bench.run.assignment.assign_estimates` instead, which also works for systems
    that resynthesise speech; this stays as the reference that rule is checked against.
    Ties keep the identity order (first maximum in lexicographic order).
    """
    num = references.shape[0]
    length = references.shape[-1]
    est = align_to_reference(np.asarray(estimates), length)
    scores = np.array([[si_snr(est[i], references[j]) for j in range(num)] for i in range(est.shape[0])])
    return best_assignment(np.nan_to_num(scores, nan=-np.inf))


class SISNRi(Metric):
    """SI-SNR improvement in dB (higher is better)."""

    name: ClassVar[str] = "sisnri"
    fields = ("db", "capped")
    hidden_fields = ("capped",)
    unit = "dB"

    def compute(self, item: MetricInput) -> dict[str, float]:
        """``capped`` is 1 when the estimate's SI-SNR sits at the ceiling (identical to the reference)."""
        estimate_db = si_snr(item.estimate, item.reference)
        return {
            "db": estimate_db - si_snr(item.mixture, item.reference),
            "capped": float(estimate_db >= SI_SNR_CEILING_DB),
        }

    @classmethod
    def saturated(cls, sums) -> dict[str, str]:
        """``sisnri_db`` when every estimate was at the ceiling (``capped`` all 1)."""
        total, n = sums.get("capped", (0.0, 0))
        return {cls.column("db"): CEILING_NOTE} if n > 0 and total == n else {}
