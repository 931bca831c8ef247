"""DNSMOS: our features equal librosa's, our scores equal speechmos's ``dnsmos.run``."""

from __future__ import annotations

import numpy as np
import pytest

from bench.metrics import mel
from bench.metrics.base import MetricInput
from bench.metrics.dnsmos import DNSMOS, INPUT_LENGTH, DnsmosModels, windows


def _clips() -> list[np.ndarray]:
    """Short, long, noisy, silent, tonal and sub-second clips at 16 kHz, all within [-1, 1]."""
    rng = np.random.default_rng(7)
    sr = 16000
    t = np.arange(int(4.3 * sr)) / sr
    voiced = 0.3 * np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    t_long = np.arange(int(10.2 * sr)) / sr
    long_noisy = 0.05 * rng.standard_normal(t_long.size) + 0.2 * np.sin(2 * np.pi * 300 * t_long)
    t_chirp = np.linspace(0, 9.6, int(9.6 * sr))
    chirp = 0.4 * np.sin(2 * np.pi * (100 + 2000 * t_chirp / 9.6) * t_chirp)
    return [x.astype(np.float32) for x in (
        voiced,
        long_noisy,
        np.zeros(2 * sr),
        chirp,
        0.2 * rng.standard_normal(777),
    )]


# -- the librosa-free feature code against librosa -------------------------------------------------
def test_mel_scale_known_values():
    # Slaney scale: linear (3 per 200 Hz) to 1 kHz = 15 mels, then log; values as librosa documents them
    np.testing.assert_allclose(mel.hz_to_mel(np.array([60.0, 1000.0])), [0.9, 15.0])
    np.testing.assert_allclose(mel.mel_to_hz(mel.hz_to_mel(np.array([123.0, 4567.0]))), [123.0, 4567.0])
    fb = mel.mel_filterbank(16000, 321, 120)
    assert fb.shape == (120, 161) and fb.dtype == np.float32 and (fb >= 0).all()
    np.testing.assert_allclose(mel.periodic_hann(4), [0.0, 0.5, 1.0, 0.5])


def test_power_to_db_rules():
    s = np.array([[1e-12, 1.0], [0.5, 4.0]])
    db = mel.power_to_db(s)
    assert db.max() == 0.0  # ref = max
    assert db.min() == pytest.approx(-80.0)  # floored at top_db below the peak
    np.testing.assert_allclose(mel.power_to_db(np.zeros((2, 2))), 0.0)


def test_features_equal_librosa():
    librosa = pytest.importorskip("librosa")
    np.testing.assert_allclose(mel.mel_filterbank(16000, 321, 120),
                               librosa.filters.mel(sr=16000, n_fft=321, n_mels=120), rtol=1e-5, atol=1e-8)
    y = _clips()[1][:144000]
    ours = mel.mel_spectrogram(y, 16000, 321, 160, 120)
    theirs = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=321, hop_length=160, n_mels=120)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6 * theirs.max())
    np.testing.assert_allclose(mel.power_to_db(ours), librosa.power_to_db(theirs, ref=np.max), atol=1e-3)


def test_windows_follow_the_reference_rule():
    sr = 16000
    # 1 s is tiled (doubled) to 16 s, which the reference then cuts into int(16 - 9.01) + 1 = 7 windows
    assert windows(np.ones(sr)).shape == (7, int(INPUT_LENGTH * sr))
    assert windows(np.ones(int(5.4 * sr))).shape[0] == 1  # tiled to 10.8 s
    assert windows(np.ones(int(12.4 * sr))).shape[0] == 3  # int(floor(12.4) - 9.01) + 1
    with pytest.raises(ValueError):
        windows(np.zeros(0))


# -- scores against speechmos ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def models() -> DnsmosModels:
    return DnsmosModels()


def test_scores_equal_speechmos(models):
    pytest.importorskip("librosa")
    from speechmos import dnsmos as reference  # imports librosa: only in this test

    clips = _clips()
    ours = models.score(clips)  # one batched call over every window of every clip
    for clip, got in zip(clips, ours):
        want = reference.run(clip, 16000)
        assert got.sig == pytest.approx(want["sig_mos"], abs=1e-3)
        assert got.bak == pytest.approx(want["bak_mos"], abs=1e-3)
        assert got.ovrl == pytest.approx(want["ovrl_mos"], abs=1e-3)
        assert got.p808 == pytest.approx(float(want["p808_mos"]), abs=1e-3)


def test_metric_batches_and_resamples(models):
    metric = DNSMOS(threads=1)
    metric._models = models
    clip = _clips()[0]
    items = [MetricInput(clip, clip, clip, 16000, "m", 0), MetricInput(clip[::2].copy(), clip, clip, 8000, "m", 1),
             MetricInput(np.zeros(0, np.float32), clip, clip, 16000, "m", 0)]
    out = metric.compute_many(items)
    assert set(out[0]) == {"p808", "ovrl", "sig", "bak"} and 1.0 < out[0]["p808"] < 5.0
    assert set(out[1]) == {"p808", "ovrl", "sig", "bak"}  # 8 kHz input is resampled to 16 kHz
    assert isinstance(out[2], ValueError)
    assert metric.columns() == ["dnsmos_p808", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak"]
