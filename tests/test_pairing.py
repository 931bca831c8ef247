"""The stored speaker assignment: phase-blind, so resynthesised speech is paired by content."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import istft, stft

from bench.data.libri2mix import DatasetSpec, open_dataset
from bench.run.assignment import assign_estimates, similarity_matrix
from bench.metrics.sisnr import best_permutation, si_snr


def embedded_sources(index: int) -> np.ndarray:
    """The two clean sources of one embedded mixture (real speech), [2, T]."""
    dataset = open_dataset(DatasetSpec())
    return np.asarray(dataset.load(dataset.mixtures[index]).sources)


def resynthesised(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same magnitude spectrogram with random phase: what a vocoder-style decoder may emit."""
    _, _, spec = stft(wave, nperseg=512)
    phase = np.exp(2j * np.pi * rng.random(spec.shape))
    _, out = istft(np.abs(spec) * phase, nperseg=512)
    return out[: wave.size]


@pytest.mark.parametrize("index", range(8))
def test_resynthesised_outputs_are_paired_with_their_speaker(index: int) -> None:
    refs = embedded_sources(index)
    rng = np.random.default_rng(index)
    swapped = np.stack([resynthesised(refs[1], rng), resynthesised(refs[0], rng)])
    assert assign_estimates(swapped, refs, 16000) == (1, 0)
    assert assign_estimates(swapped[::-1], refs, 16000) == (0, 1)
    # SI-SNR cannot tell: both pairings are far below 0 dB, so PIT on it is a coin toss
    assert max(si_snr(swapped[i], refs[j]) for i in range(2) for j in range(2)) < -10


@pytest.mark.parametrize("index", range(4))
def test_agrees_with_si_snr_pit_on_waveform_faithful_estimates(index: int) -> None:
    refs = embedded_sources(index)
    rng = np.random.default_rng(100 + index)
    # a separator that leaks 30 % of the other speaker and adds noise, outputs in swapped order
    leaky = np.stack([refs[1] + 0.3 * refs[0], refs[0] + 0.3 * refs[1]])
    leaky += 0.01 * rng.standard_normal(leaky.shape)
    assert assign_estimates(leaky, refs, 16000) == best_permutation(leaky, refs) == (1, 0)


def test_silent_estimates_keep_the_identity_order_and_lengths_are_aligned() -> None:
    refs = embedded_sources(0)
    assert assign_estimates(np.zeros((2, refs.shape[1] + 320)), refs, 16000) == (0, 1)
    scores = similarity_matrix(refs[:, :-100], refs, 16000)      # a short estimate is zero-padded
    assert scores[0, 0] > 0.99 and scores[1, 1] > 0.99
    assert scores[0, 1] < scores[0, 0] - 0.1


def test_the_pairing_rule_is_part_of_every_system_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows paired by an older rule must be recomputed, not mixed with new ones."""
    import bench.system
    from bench.baselines.reference import MixtureSystem

    system = MixtureSystem("mixture")
    before = system.key()
    monkeypatch.setattr(bench.system, "PAIRING_RULE", "some-other-rule")
    assert system.key() != before
