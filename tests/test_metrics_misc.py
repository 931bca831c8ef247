"""SI-SDR/SDRi, STOI/ESTOI, bitrate (per mixture, pooled), DistillMOS, speaker similarity, report hook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.metrics.base import MetricInput, field_sums
from bench.metrics.bitrate import UNBOUNDED_NOTE, Bitrate
from bench.metrics.sdr import SDRi, SISDR, sdr, si_sdr
from bench.metrics.stoi import ESTOI, STOI

RNG = np.random.default_rng(3)


def _pair(n: int = 4000, noise: float = 0.3):
    ref = RNG.standard_normal(n)
    est = np.convolve(ref, [0.9, 0.2, -0.1])[:n] + noise * RNG.standard_normal(n)
    return est, ref


def _bss_eval_sdr(est: np.ndarray, ref: np.ndarray, taps: int = 512) -> float:
    """BSS Eval's SDR from its definition: least-squares projection on 512 delayed copies of the reference."""
    n = len(ref)
    basis = np.zeros((n + taps - 1, taps))
    for k in range(taps):
        basis[k:k + n, k] = ref
    target = np.concatenate([est, np.zeros(taps - 1)])
    coef, *_ = np.linalg.lstsq(basis, target, rcond=None)
    s_target = basis @ coef
    return 10 * np.log10(np.sum(s_target ** 2) / np.sum((target - s_target) ** 2))


def test_sdr_matches_its_definition():
    est, ref = _pair()
    assert sdr(est, ref) == pytest.approx(_bss_eval_sdr(est, ref), abs=1e-3)


def test_si_sdr_matches_le_roux_formula_and_torchmetrics():
    est, ref = _pair(noise=0.5)
    alpha = np.dot(est, ref) / np.dot(ref, ref)
    expected = 10 * np.log10(np.sum((alpha * ref) ** 2) / np.sum((est - alpha * ref) ** 2))
    assert si_sdr(est, ref) == pytest.approx(expected, abs=1e-6)
    tm = pytest.importorskip("torchmetrics.functional.audio")
    import torch

    t_est, t_ref = torch.from_numpy(est), torch.from_numpy(ref)
    assert si_sdr(est, ref) == pytest.approx(float(tm.scale_invariant_signal_distortion_ratio(t_est, t_ref)), abs=1e-6)
    assert sdr(est, ref) == pytest.approx(float(tm.signal_distortion_ratio(t_est, t_ref)), abs=1e-3)


def test_sdr_metrics_columns_and_identity():
    est, ref = _pair()
    mix = ref + RNG.standard_normal(len(ref))
    item = MetricInput(est.astype(np.float32), ref.astype(np.float32), mix.astype(np.float32), 16000, "m", 0)
    assert SDRi().compute(item)["db"] == pytest.approx(sdr(item.estimate, item.reference) - sdr(mix, ref), abs=1e-6)
    assert SISDR.columns() == ["sisdr_db"] and SDRi.columns() == ["sdri_db"]
    assert np.isfinite(sdr(ref, ref)) and sdr(ref, ref) >= 99.0  # identical signals are capped, not inf/failed


def test_stoi_is_pystoi_and_perfect_for_clean():
    from pystoi import stoi as pystoi

    sr = 16000
    t = np.arange(3 * sr) / sr
    ref = (np.sin(2 * np.pi * 200 * t) * (1 + np.sin(2 * np.pi * 4 * t))).astype(np.float32)
    noisy = (ref + 0.5 * RNG.standard_normal(len(ref))).astype(np.float32)
    item = MetricInput(noisy, ref, noisy, sr, "m", 0)
    assert STOI().compute(item)[""] == pytest.approx(pystoi(ref, noisy, sr), abs=1e-9)
    assert ESTOI().compute(item)[""] == pytest.approx(pystoi(ref, noisy, sr, extended=True), abs=1e-9)
    assert STOI().compute(MetricInput(ref, ref, ref, sr, "m", 0))[""] == pytest.approx(1.0, abs=1e-6)
    assert STOI.columns() == ["stoi"] and ESTOI.columns() == ["estoi"] and STOI.sample_rate == 10000


def test_bitrate_per_mixture_and_pooled():
    item = MetricInput(np.zeros(4), np.zeros(4), np.zeros(4), 16000, "m", -1, payload_bits=6000,
                       mixture_seconds=2.0, nominal_kbps=2.5)
    assert Bitrate().compute(item) == {"nominal_kbps": 2.5, "measured_kbps": 3.0, "bits": 6000.0, "seconds": 2.0}
    assert Bitrate.per == "mixture" and Bitrate.columns() == ["bitrate_nominal_kbps", "bitrate_measured_kbps"]
    # 1000 bits over 1 s and 9000 bits over 9 s: pooled 1.0 kbps (a mean of rates would also be 1.0),
    # 1000 bits over 1 s and 1000 bits over 9 s: pooled 0.2 kbps (the mean of rates would be 0.556)
    rows = []
    for mid, bits, sec in (("a", 1000, 1.0), ("b", 1000, 9.0)):
        rows += [(mid, -1, "nominal_kbps", 1.0), (mid, -1, "measured_kbps", bits / sec / 1000),
                 (mid, -1, "bits", float(bits)), (mid, -1, "seconds", sec)]
    frame = pd.DataFrame(rows, columns=["mixture_id", "source_index", "field", "value"])
    agg = Bitrate.aggregate(frame)
    assert agg["bitrate_measured_kbps"] == pytest.approx(0.2) and agg["bitrate_nominal_kbps"] == 1.0
    assert Bitrate.aggregate_notes(field_sums(frame)) == {}


def test_unbounded_systems_show_a_dash_with_note(small_tree: Path, tmp_path: Path):
    from bench.data import DatasetSpec, open_dataset
    from bench.report.plain import build_plain_report, render
    from bench.run.runner import RunRequest, run
    from bench.store import Store

    dataset = open_dataset(DatasetSpec(root=small_tree, limit=2))
    store = Store(tmp_path / "results")
    run(RunRequest(systems=["mixture", "clean"], metrics=["bitrate", "sisdr"]), dataset, store)
    rows = store.frame("SELECT DISTINCT source_index FROM metric_values WHERE metric='bitrate'")
    assert rows["source_index"].tolist() == [-1]  # one row set per mixture, not per source
    report = build_plain_report(store)
    assert pd.isna(report.means.loc["clean", "bitrate_measured_kbps"])
    assert report.notes[("clean", "bitrate_measured_kbps")] == UNBOUNDED_NOTE
    assert UNBOUNDED_NOTE in render(report, "md")
    assert report.means.loc["clean", "sisdr_db"] > 90


def test_distillmos_is_the_package_model():
    pytest.importorskip("distillmos")
    import torch
    from distillmos import ConvTransformerSQAModel

    from bench.metrics.distillmos import DistillMOS

    audio = (0.1 * RNG.standard_normal(20000)).astype(np.float32)
    metric = DistillMOS()
    assert metric.unavailable_reason() is None
    ours = metric.compute(MetricInput(audio, audio, audio, 16000, "m", 0))[""]
    with torch.inference_mode():
        theirs = float(ConvTransformerSQAModel().eval()(torch.from_numpy(audio)[None])[0])
    assert ours == pytest.approx(theirs, abs=1e-6)


def test_speaker_similarity_unavailable_offline(tmp_path, monkeypatch):
    from bench.metrics.spk_sim import SpeakerSimilarity

    monkeypatch.setenv("JSAC_BENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("JSAC_BENCH_ECAPA", raising=False)
    assert SpeakerSimilarity().unavailable_reason().startswith("weights not found")
