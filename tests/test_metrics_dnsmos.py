"""DNSMOS: our features equal librosa's, our scores equal speechmos's ``dnsmos.run``.

The fast path shares the time-local layers between overlapping windows; besides the
end-to-end comparison with speechmos, each window's intermediate rows are compared with
the same layers run on that window alone (the check that would catch a wrong edge
geometry even where the global max-pool happens to hide it).
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.metrics import mel
from bench.metrics.base import MetricInput
from bench.metrics import dnsmos_share
from bench.metrics.dnsmos import (DNSMOS, INPUT_LENGTH, DnsmosModels, model_paths, p808_features, providers, tile,
                                  window_starts, windows)
from bench.metrics.dnsmos_graph import split_p808, split_p835
from bench.metrics.dnsmos_p808 import clip_mel, shared_inputs, window_features
from bench.metrics.dnsmos_share import ClipWindows


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
        assert got.sig == pytest.approx(want["sig_mos"], abs=1e-4)
        assert got.bak == pytest.approx(want["bak_mos"], abs=1e-4)
        assert got.ovrl == pytest.approx(want["ovrl_mos"], abs=1e-4)
        assert got.p808 == pytest.approx(float(want["p808_mos"]), abs=1e-4)


def test_personalized_dnsmos_is_registered_and_scores_as_speechmos_personalized_mode():
    """``pdnsmos``: registered, run only when named; each score is the personalised model's raw output through
    its cubic fit, averaged over the windows (the definition), and equals speechmos's
    ``model_type="dnsmos_personalized"``."""
    import onnxruntime as ort

    from bench.catalog import METRICS, build_metric, default_metrics
    from bench.metrics.dnsmos import POLY_PERSONALIZED

    assert "pdnsmos" in METRICS.names() and "pdnsmos" not in default_metrics() and "dnsmos" in default_metrics()
    metric = build_metric("pdnsmos")
    assert metric.unavailable_reason() is None
    assert metric.columns() == ["pdnsmos_ovrl", "pdnsmos_sig", "pdnsmos_bak"]
    clip = _clips()[0]                                          # 4.3 s: tiled, two windows
    got = metric.compute(MetricInput(clip, clip, clip, 16000, "m", 0))
    assert set(got) == {"ovrl", "sig", "bak"}
    primary = ort.InferenceSession(str(model_paths(personalized=True)[0]), providers=["CPUExecutionProvider"])
    raw = primary.run(None, {"input_1": windows(clip)})[0].astype(np.float64)
    for column, field in enumerate(("sig", "bak", "ovrl")):
        want = np.mean(np.poly1d(POLY_PERSONALIZED[field])(raw[:, column]))
        assert got[field] == pytest.approx(want, abs=1e-5)
    default = DNSMOS(threads=1).compute(MetricInput(clip, clip, clip, 16000, "m", 0))
    assert abs(default["ovrl"] - got["ovrl"]) > 0.1             # another model, not the default one again
    pytest.importorskip("librosa")
    from speechmos import dnsmos as reference                   # imports librosa: only here

    want = reference.run(clip, 16000, model_type="dnsmos_personalized")
    for field in ("sig", "bak", "ovrl"):
        assert got[field] == pytest.approx(want[f"{field}_mos"], abs=1e-4)


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


# -- the shared-window fast path against each window computed alone ------------------------------
def _multi_window_clips() -> list[ClipWindows]:
    """A 12.4 s clip whose loudest bin is in its last window only (two P.808 scalings), and a 1 s clip (7 windows)."""
    rng = np.random.default_rng(3)
    sr = 16000
    long = (0.05 * rng.standard_normal(int(12.4 * sr))).astype(np.float32)
    long[int(10.5 * sr):int(10.55 * sr)] = 0.9  # a loud burst that only the last window (2 .. 11.01 s) sees
    short = (0.2 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr)).astype(np.float32)
    return [ClipWindows(tile(c), window_starts(tile(c))) for c in (long, short)]


def _session(model: bytes | str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]


def _stage_rows(split, windowed: dnsmos_share.Windowed, alone: list[np.ndarray]) -> None:
    """Stage-A and stage-B rows of every window from the shared path equal the window run alone."""
    a, b = _session(split.stage_a), _session(split.stage_b)
    stages = dnsmos_share.Stages(a, b, _session(split.head), split.edges)
    shared_a = dnsmos_share.apply(windowed, lambda x: a(x[:, 0]), split.edges[0])
    shared_b = dnsmos_share.apply(shared_a, b, split.edges[1])
    for k, x in enumerate(alone):
        own_a = a(x[None])
        own_b = b(own_a)
        np.testing.assert_allclose(shared_a.rows(k, 0, shared_a.length), own_a[0], atol=2e-5, rtol=1e-5)
        np.testing.assert_allclose(shared_b.rows(k, 0, shared_b.length), own_b[0], atol=2e-5, rtol=1e-5)
    whole = dnsmos_share.window_scores(windowed, stages, head_batch=3)
    assert whole.shape[0] == len(alone)


def test_p835_shared_rows_equal_each_window_alone():
    clips = _multi_window_clips()
    alone = [np.lib.stride_tricks.sliding_window_view(c.audio[s:s + 144160], 320)[::160][:900]
             for c in clips for s in c.starts]
    _stage_rows(split_p835(model_paths()[0]), dnsmos_share.frames(clips), alone)


def test_p808_shared_rows_equal_each_window_alone():
    clips = _multi_window_clips()
    stream, order = shared_inputs(clips)
    scalings = {float(clip_mel(clips[0].audio, clips[0].starts).ref_db[k]) for k in range(len(clips[0].starts))}
    assert len(scalings) == 2  # the grouping by scaling is exercised
    alone = [window_features(clips[c].audio, (clips[c].starts[k],))[0] for c, k in order]
    _stage_rows(split_p808(model_paths()[1]), stream, alone)


def test_scores_equal_the_unsplit_models_per_window(models):
    import onnxruntime as ort

    clips = _multi_window_clips()
    primary, p808 = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in model_paths())
    got = models.score([c.audio for c in clips])
    for clip, score in zip(clips, got):
        wins = windows(clip.audio)
        raw = primary.run(None, {"input_1": wins})[0].astype(np.float64)
        mos = p808.run(None, {"input_1": np.stack([p808_features(w) for w in wins])})[0]
        assert score.sig == pytest.approx(np.mean(models.polys["sig"](raw[:, 0])), abs=1e-5)
        assert score.ovrl == pytest.approx(np.mean(models.polys["ovrl"](raw[:, 2])), abs=1e-5)
        assert score.p808 == pytest.approx(float(np.mean(mos)), abs=1e-5)


def test_window_features_equal_the_per_window_recipe():
    for clip in _multi_window_clips() + [ClipWindows(tile(c), window_starts(tile(c))) for c in _clips()]:
        ours = window_features(clip.audio, clip.starts)
        per_window = np.stack([p808_features(clip.audio[s:s + 144160]) for s in clip.starts])
        np.testing.assert_allclose(ours, per_window, atol=1e-6)


def test_split_refuses_a_foreign_graph(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ValueError, match="other.onnx"):
        split_p835(path)
    with pytest.raises(ValueError, match="other.onnx"):
        split_p808(path)


def test_cuda_device_uses_the_cuda_provider_when_installed(monkeypatch, caplog):
    import onnxruntime as ort

    assert providers("cpu") == ["CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with caplog.at_level("WARNING"):
        assert providers("cuda:1") == ["CPUExecutionProvider"]  # no onnxruntime-gpu: CPU, said once
    assert "onnxruntime has no CUDA provider" in caplog.text
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert providers("cuda:1") == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    assert providers("cuda")[0] == ("CUDAExecutionProvider", {"device_id": 0})


def test_dnsmos_follows_the_device(monkeypatch):
    import onnxruntime as ort

    made = []

    class Session:
        def __init__(self, model, options, providers):
            made.append(providers)

        def get_inputs(self):
            return [type("Input", (), {"name": "x"})()]

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", Session)
    metric = DNSMOS(threads=1)
    metric.use_device("cuda:0")
    metric.models  # builds the six sessions (two models, three parts each)
    assert len(made) == 6 and all(p[0] == ("CUDAExecutionProvider", {"device_id": 0}) for p in made)
