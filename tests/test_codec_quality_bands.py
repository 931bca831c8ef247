"""``benchmarks/codec_quality.py --bands``: each band's SNR and decoded level, on signals with a known answer."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("codec_quality", REPO / "benchmarks" / "codec_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
