"""Statistics of listening tests: MOS with confidence intervals, ABX preferences with p-values.

MOS
  ``mos_t``: mean of all ratings with a Student-t 95 % interval (ratings treated as
  independent, the usual MOS table entry).
  ``mos_crowdmos``: the random-effects model of CrowdMOS (Ribeiro et al., ICASSP 2011),
  rating = mu + worker effect + sentence effect + error, which widens the interval when
  a few listeners or a few sentences dominate.  The variance of the mean of ``T``
  ratings is ``(s_w^2 * sum n_i^2 + s_s^2 * sum m_j^2 + s_e^2 * T) / T^2`` (``n_i``
  ratings by worker i, ``m_j`` ratings of sentence j); the components come from
  moment estimates: pooled within-worker variance ~ s_s^2 + s_e^2, within-sentence
  ~ s_w^2 + s_e^2, total ~ s_w^2 + s_s^2 + s_e^2 (negatives clipped to 0).

ABX
  Votes are +1 (first system), -1 (second), 0 (no preference).  As in the CodeSep
  paper, a one-sample t-test of the votes against 0; and an exact binomial sign test
  on the non-tied votes, which does not lean on normality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class MosResult:
    n: int
    mean: float
    ci_low: float
    ci_high: float
    n_workers: int | None = None


@dataclass(frozen=True)
class AbxResult:
    n: int
    first: int
    second: int
    no_preference: int
    p_ttest: float
    p_sign: float

    @property
    def pref_first(self) -> float:
        return 100.0 * self.first / self.n if self.n else math.nan

    @property
    def pref_second(self) -> float:
        return 100.0 * self.second / self.n if self.n else math.nan

    @property
    def pref_np(self) -> float:
        return 100.0 * self.no_preference / self.n if self.n else math.nan


def mos_t(ratings: Sequence[float], confidence: float = 0.95) -> MosResult:
    x = np.asarray(ratings, dtype=float)
    n = len(x)
    if n == 0:
        return MosResult(0, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return MosResult(n, mean, math.nan, math.nan)
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return MosResult(n, mean, mean - half, mean + half)


def _within(values: np.ndarray, groups: Sequence[str]) -> float:
    """Pooled variance around group means (ddof: one per group)."""
    labels, index = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    dof = len(values) - len(labels)
    if dof <= 0:
        return 0.0
    means = np.bincount(index, weights=values) / np.bincount(index)
    return float(np.sum((values - means[index]) ** 2) / dof)


def variance_components(ratings: Sequence[float], workers: Sequence[str], sentences: Sequence[str]) -> tuple[float, float, float]:
    """Moment estimates of (worker, sentence, residual) variances."""
    x = np.asarray(ratings, dtype=float)
    total = float(x.var(ddof=1)) if len(x) > 1 else 0.0
    within_worker = _within(x, workers)
    within_sentence = _within(x, sentences)
    worker = max(total - within_worker, 0.0)
    sentence = max(total - within_sentence, 0.0)
    residual = max(within_worker + within_sentence - total, 0.0)
    return worker, sentence, residual


def mos_crowdmos(ratings: Sequence[float], workers: Sequence[str], sentences: Sequence[str],
                 confidence: float = 0.95) -> MosResult:
    x = np.asarray(ratings, dtype=float)
    n = len(x)
    n_workers = len(set(workers))
    if n == 0:
        return MosResult(0, math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return MosResult(n, mean, math.nan, math.nan, n_workers)
    var_w, var_s, var_e = variance_components(x, workers, sentences)
    per_worker = np.unique(np.asarray(workers, dtype=str), return_counts=True)[1].astype(float)
    per_sentence = np.unique(np.asarray(sentences, dtype=str), return_counts=True)[1].astype(float)
    variance = (var_w * np.sum(per_worker ** 2) + var_s * np.sum(per_sentence ** 2) + var_e * n) / n ** 2
    half = float(sps.norm.ppf(0.5 + confidence / 2) * math.sqrt(variance))
    return MosResult(n, mean, mean - half, mean + half, n_workers)


def abx(votes: Sequence[int]) -> AbxResult:
    """Preferences from votes coded +1 (first), -1 (second), 0 (no preference)."""
    v = np.asarray(votes, dtype=float)
    first, second = int(np.sum(v > 0)), int(np.sum(v < 0))
    tied = int(np.sum(v == 0))
    n = len(v)
    if n < 2:
        p_t = math.nan
    elif float(v.std()) == 0.0:
        # every vote the same: t is infinite (one side unanimously) or undefined (all no preference)
        p_t = 1.0 if v[0] == 0 else 0.0
    else:
        p_t = float(sps.ttest_1samp(v, 0.0).pvalue)
    p_sign = float(sps.binomtest(first, first + second, 0.5).pvalue) if first + second else 1.0
    return AbxResult(n, first, second, tied, p_t, p_sign)
