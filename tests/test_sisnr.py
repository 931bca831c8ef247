"""SI-SNR, SI-SNRi and PIT checked against an independent formulation."""

from __future__ import annotations

import numpy as np
import pytest

from bench.metrics.base import MetricInput, align_to_reference
from bench.metrics.sisnr import SI_SNR_CEILING_DB, SISNRi, best_permutation, si_snr, si_snr_improvement


def si_snr_lstsq(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Independent formula: optimal scale by least squares, then the energy ratio in dB."""
    est = estimate - estimate.mean()
    ref = reference - reference.mean()
    scale, *_ = np.linalg.lstsq(ref[:, None], est, rcond=None)
    target = scale[0] * ref
    residual = est - target
    return 10 * np.log10(np.sum(target ** 2) / np.sum(residual ** 2))


@pytest.mark.parametrize("seed", range(6))
def test_si_snr_matches_least_squares_formula(seed):
    rng = np.random.default_rng(seed)
    ref = rng.standard_normal(4000)
    est = rng.uniform(0.2, 3) * ref + rng.uniform(0.05, 2) * rng.standard_normal(4000) + rng.uniform(-1, 1)
    assert si_snr(est, ref) == pytest.approx(si_snr_lstsq(est, ref), abs=1e-9)


def test_known_value_and_scale_invariance():
    rng = np.random.default_rng(7)
    ref = rng.standard_normal(8000)
    noise = rng.standard_normal(8000)
    noise -= ref * np.dot(noise, ref) / np.dot(ref, ref)  # orthogonal to the reference
    noise *= np.linalg.norm(ref) / np.linalg.norm(noise) / np.sqrt(10)  # 10 dB below
    ref -= ref.mean()
    noise -= noise.mean()
    assert si_snr(ref + noise, ref) == pytest.approx(10.0, abs=0.05)
    assert si_snr(5.0 * (ref + noise), ref) == pytest.approx(si_snr(ref + noise, ref), abs=1e-9)


def test_identical_signals_hit_the_ceiling_and_silence_is_nan():
    ref = np.sin(np.linspace(0, 100, 1000))
    assert si_snr(ref, ref) == SI_SNR_CEILING_DB
    assert np.isnan(si_snr(ref, np.zeros(1000)))


def test_improvement_of_the_mixture_is_zero():
    rng = np.random.default_rng(1)
    s1, s2 = rng.standard_normal((2, 3000))
    mix = s1 + s2
    assert si_snr_improvement(mix, s1, mix) == 0.0
    better = s1 + 0.1 * s2
    assert si_snr_improvement(better, s1, mix) == pytest.approx(si_snr_lstsq(better, s1) - si_snr_lstsq(mix, s1))


def test_pit_finds_the_swap():
    rng = np.random.default_rng(2)
    refs = rng.standard_normal((2, 2000))
    ests = refs[::-1] + 0.1 * rng.standard_normal((2, 2000))
    assert best_permutation(ests, refs) == (1, 0)
    assert best_permutation(refs + 0.1 * rng.standard_normal((2, 2000)), refs) == (0, 1)


def test_pit_crops_longer_estimates():
    rng = np.random.default_rng(3)
    refs = rng.standard_normal((2, 1000))
    ests = np.concatenate([refs[::-1], rng.standard_normal((2, 37))], axis=1)
    assert best_permutation(ests, refs) == (1, 0)


def test_align_rule_crops_and_pads_the_tail():
    x = np.arange(5, dtype=np.float32)
    assert align_to_reference(x, 3).tolist() == [0, 1, 2]
    assert align_to_reference(x, 7).tolist() == [0, 1, 2, 3, 4, 0, 0]
    assert align_to_reference(np.ones((2, 4)), 2).shape == (2, 2)


def test_metric_wrapper_fields():
    rng = np.random.default_rng(4)
    s1, s2 = rng.standard_normal((2, 1600)).astype(np.float32)
    item = MetricInput(estimate=s1, reference=s1, mixture=s1 + s2, sample_rate=16000, mixture_id="m",
                       source_index=0)
    values = SISNRi().compute(item)
    assert values["capped"] == 1.0
    assert values["db"] == pytest.approx(SI_SNR_CEILING_DB - si_snr_lstsq(s1 + s2, s1), abs=1e-6)
    assert SISNRi.columns() == ["sisnri_db"]
