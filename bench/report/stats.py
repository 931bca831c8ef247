"""Confidence intervals and paired significance for report cells.

Every table statistic is a ratio of sums over mixtures, Σ num_m / Σ den_m: a mean of
per-source values is Σ values / Σ counts, DWER is Σ edit errors / Σ reference words,
the measured bitrate is Σ bits / Σ seconds.  Keeping per-mixture (num, den) pairs makes
one bootstrap serve all of them and resample whole mixtures (the unit that is sampled
in the dataset), vectorised, so thousands of resamples cost milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import wilcoxon

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0


@dataclass(frozen=True)
class MixtureParts:
    """Per-mixture numerators and denominators of one (system, column) statistic."""

    mixture_ids: np.ndarray
    num: np.ndarray
    den: np.ndarray

    @property
    def value(self) -> float:
        total = float(self.den.sum())
        return float(self.num.sum()) / total if total > 0 else float("nan")

    def per_mixture(self) -> dict[str, float]:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = self.num / self.den
        return {str(m): float(r) for m, r in zip(self.mixture_ids, ratios) if np.isfinite(r)}


def bootstrap_ci(parts: MixtureParts, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of Σnum/Σden, resampling mixtures with replacement."""
    n = len(parts.num)
    if n < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    den = parts.den[idx].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = parts.num[idx].sum(axis=1) / den
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(low), float(high)


def paired_wilcoxon(a: MixtureParts, b: MixtureParts) -> tuple[float, int]:
    """Two-sided Wilcoxon signed-rank p-value on per-mixture values of mixtures both have.

    Returns (p, n_pairs); p is 1.0 when every pair is equal and NaN with < 2 pairs.
    """
    va, vb = a.per_mixture(), b.per_mixture()
    common = sorted(set(va) & set(vb))
    if len(common) < 2:
        return float("nan"), len(common)
    x = np.array([va[m] for m in common])
    y = np.array([vb[m] for m in common])
    if np.allclose(x, y, rtol=0, atol=0):
        return 1.0, len(common)
    return float(wilcoxon(x, y, zero_method="wilcox", alternative="two-sided").pvalue), len(common)


def significance_marker(p: float) -> str:
    """``**`` p < 0.01, ``*`` p < 0.05, empty otherwise (explained under each table)."""
    if not np.isfinite(p):
        return ""
    return "**" if p < 0.01 else ("*" if p < 0.05 else "")


def format_p(p: float | None) -> str:
    """An exact p-value for print: ``0.14``, ``0.066``, ``0.0048``, ``3.2e-07``; a dash when undefined.

    Two significant digits; "< 0.01" is left to the significance marker, since the
    number itself says more (the paper prints only "< 0.01").
    """
    if p is None or not np.isfinite(p):
        return "—"
    if p >= 1e-4 or p == 0.0:
        return f"{p:.2g}" if p < 1 else "1"
    return f"{p:.1e}"
