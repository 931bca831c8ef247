"""ViSQOL speech mode: the metric equals ViSQOL's own command-line tool on the same WAV files."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.metrics.base import MetricInput

EMBEDDED_S1 = Path(__file__).resolve().parents[1] / "bench/data/embedded/Libri2Mix/wav16k/min/test/s1"


def cli_moslqo(reference: Path, degraded: Path) -> float:
    """MOS-LQO printed by ``python -m visqol --speech_mode`` (the package's CLI, reading the files itself)."""
    out = subprocess.run([sys.executable, "-m", "visqol", "--reference", str(reference), "--degraded",
                          str(degraded), "--speech_mode"], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"MOS-LQO:\s+([0-9.]+)", out).group(1))


def test_visqol_equals_the_package_cli_in_the_right_order(tmp_path: Path) -> None:
    pytest.importorskip("visqol")
    from bench.metrics.visqol import ViSQOL

    metric = ViSQOL()
    assert metric.unavailable_reason() is None
    speech, rate = sf.read(sorted(EMBEDDED_S1.glob("*.*"))[0], dtype="float32")
    speech = speech[: 3 * rate]                       # the TokenSplit table's 3 s blocks
    noisy = speech + 0.01 * np.std(speech) * np.random.default_rng(0).standard_normal(len(speech))  # 40 dB SNR
    ref_path, deg_path = tmp_path / "ref.wav", tmp_path / "deg.wav"
    sf.write(ref_path, speech, rate, subtype="PCM_16")
    sf.write(deg_path, noisy, rate, subtype="PCM_16")
    reference, _ = sf.read(ref_path, dtype="float32")  # what the CLI reads: the 16-bit values
    degraded, _ = sf.read(deg_path, dtype="float32")

    ours = metric.compute(MetricInput(degraded, reference, reference, rate, "m", 0))[""]
    assert ours == pytest.approx(cli_moslqo(ref_path, deg_path), abs=2e-6)
    # ViSQOL is not symmetric, so the comparison above would catch swapped arguments
    assert abs(ours - cli_moslqo(deg_path, ref_path)) > 0.01
    # and it ranks: the clean signal above the 40 dB-SNR one above a 20 dB-SNR one (white noise at
    # 20 dB is already at the lattice mapper's floor, about 1.16)
    clean = metric.compute(MetricInput(reference, reference, reference, rate, "m", 0))[""]
    loud_noise = reference + 0.1 * np.std(reference) * np.random.default_rng(1).standard_normal(len(reference))
    worst = metric.compute(MetricInput(loud_noise.astype(np.float32), reference, reference, rate, "m", 0))[""]
    assert clean > ours > worst and 1.0 <= worst and clean <= 5.0
    # a silent estimate has no score (the package's NaN is raised, not stored as a number)
    with pytest.raises(ValueError, match="silent"):
        metric.compute(MetricInput(np.zeros_like(reference), reference, reference, rate, "m", 0))


def test_visqol_refuses_the_polynomial_fallback(monkeypatch) -> None:
    """Without the lattice runtime the package would silently switch mapper (another scale): unavailable instead."""
    import importlib.util

    from bench.metrics import visqol

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ai_edge_litert" else real(name, *a))
    reason = visqol.ViSQOL().unavailable_reason()
    assert "ai-edge-litert" in reason and "pip install -e '.[visqol]'" in reason
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert "visqol-python package is not installed" in visqol.ViSQOL().unavailable_reason()
