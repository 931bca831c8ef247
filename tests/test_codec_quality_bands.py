"""``benchmarks/codec_quality.py``: the band balance, the post-filter ablation, separated inputs and the gate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_script


def load_benchmark():
    return load_script("codec_quality.py")


def test_a_halved_high_band_reads_minus_6_db_level_and_plus_6_db_snr():
    cq = load_benchmark()
    t = np.arange(16000) / 16000                    # whole periods: each tone falls in one FFT bin
    low, high = np.sin(2 * np.pi * 500 * t), np.sin(2 * np.pi * 3000 * t)
    bands = cq.band_balance([low + 0.5 * high], [low + high])
    assert bands["level_2-4k"] == pytest.approx(20 * np.log10(0.5), abs=1e-6)       # -6.02 dB
    assert bands["snr_2-4k"] == pytest.approx(-20 * np.log10(0.5), abs=1e-6)        # error = half the tone
    assert bands["level_0-1k"] == pytest.approx(0.0, abs=1e-6) and bands["snr_0-1k"] > 100
    table = cq.band_table([{"codec": "x", "kbps": 8.0, **bands}])
    assert "| x | 8 |" in table and "6.0 / -6.0" in table


def test_post_gain_power_scales_the_filter_and_zero_removes_it():
    import torch

    cq = load_benchmark()

    class Model:
        post_gain = torch.tensor([[2.0, 4.0], [0.5, 1.0]])

    model = Model()
    cq.scale_post_gain(model, 0.5)
    assert torch.allclose(model.post_gain, torch.tensor([[2.0 ** 0.5, 2.0], [0.5 ** 0.5, 1.0]]))
    cq.scale_post_gain(model, 0)
    assert model.post_gain is None
    cq.scale_post_gain(model, 2.0)                  # no filter: stays without one
    assert model.post_gain is None


def test_separated_inputs_pair_each_estimate_with_its_own_source(tmp_path: Path):
    """``--inputs separated``: row i is the estimate of source i, whichever output channel the separator used."""
    import shutil

    import soundfile as sf

    from bench.baselines.separators.sepformer import load_separator
    from bench.baselines.separators.system import default_model_dir
    from bench.metrics.sisnr import si_snr

    cq = load_benchmark()
    names = sorted((cq.EMBEDDED / "mix_clean").glob("*.flac"))[:2]
    for folder in ("mix_clean", "s1", "s2"):
        (tmp_path / folder).mkdir()
    for index, path in enumerate(names):
        shutil.copy(path, tmp_path / "mix_clean" / path.name)
        s1, s2 = ("s1", "s2") if index == 0 else ("s2", "s1")     # the second pair swapped: order must follow s1/s2
        shutil.copy(cq.EMBEDDED / s1 / path.name, tmp_path / "s1" / path.name)
        shutil.copy(cq.EMBEDDED / s2 / path.name, tmp_path / "s2" / path.name)
    clips = cq.separated_sources(tmp_path, None, None, "cpu")
    assert len(clips) == 4
    limited = cq.separated_sources(tmp_path, 2, None, "cpu")    # separates only the first mixture
    assert len(limited) == 2
    for got, full in zip(limited, (clips[0], clips[2])):          # the same clips as --inputs clean --limit 2
        np.testing.assert_array_equal(got, full)

    separator = load_separator(default_model_dir())
    for index, path in enumerate(names):
        mixture, rate = sf.read(tmp_path / "mix_clean" / path.name, dtype="float32")
        estimates = separator.separate_many([mixture], rate)[0]
        for slot, spk in enumerate(("s1", "s2")):
            source, _ = sf.read(tmp_path / spk / path.name, dtype="float32")
            expected = max(estimates, key=lambda e: si_snr(e, source))
            np.testing.assert_allclose(clips[slot * len(names) + index], expected, atol=1e-6)


def test_gate_without_targets_checks_only_the_rises():
    cq = load_benchmark()
    rows = [{"codec": "separated", "kbps": float("nan")}] + [
        {"codec": "mdct_rvq", "kbps": k, "stoi": 0.5 + k / 100, "sisnr": 1.0, "p808": 2.6 - k / 100} for k in (1, 2, 8)]
    checks = dict(cq.gate(rows, targets=False))
    assert len(checks) == 2
    assert [passed for text, passed in checks.items()] == [True, False]
    assert len(cq.gate(rows)) == 5                      # with the targets: + 8 kbps STOI, SI-SNR, 1 kbps STOI
