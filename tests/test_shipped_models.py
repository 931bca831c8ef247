"""The shipped checkpoints on the embedded set: what the README's main command shows must keep holding.

No other test loads the packaged weights, so without this a retrained (or broken) checkpoint
could silently change every number in the README. The floors sit just under what was
measured on these same mixtures when the checkpoints were shipped (see the README's model
table); the kbps are exact properties of the bitstreams.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bench

EMBEDDED = Path(bench.__file__).parent / "data" / "embedded" / "Libri2Mix"
LIMIT = 8   # the first 8 embedded mixtures (no --subset-seed): 16 clean sources

# measured on the first 8 embedded mixtures with the shipped defaults (small codec with its stage-conditioned
# decoder at step 44860, small Sepformer at step 31031 (GPU fine-tune), CodeSep trained on the small codec's
# tokens), minus a margin: Sepformer SI-SNRi 8.35 dB (step 22750: 7.10); STOI codesep 0.492, fstc@2 0.596,
# fstc@8 0.708 (FSTC rises by 0.112 from 2 to 8 kbps; step 22750: 0.588 / 0.690); codec STOI on the 16 clean
# sources 0.622 / 0.699 / 0.765 / 0.830 / 0.879 at 0.5 / 1 / 2 / 4 / 8 kbps
SEPFORMER_SISNRI_FLOOR_DB = 8.0
CODEC_STOI_FLOORS = {0.5: 0.60, 1.0: 0.68, 2.0: 0.745, 4.0: 0.81, 8.0: 0.86}  # default codec, clean sources
SYSTEM_STOI_FLOORS = {"codesep": 0.47, "fstc@2": 0.58, "fstc@8": 0.69}
FSTC_STOI_RISE_2_TO_8 = 0.08   # measured 0.112 (step-22750 Sepformer: 0.102)
MEASURED_KBPS = {"codesep": 1.00, "fstc@2": 2.01, "fstc@8": 8.03}


def _bench(*args: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _report(results: Path, cwd: Path) -> dict[str, dict[str, str]]:
    text = _bench("report", "--results", str(results), "--format", "csv", cwd=cwd)
    return {row["system"]: row for row in csv.DictReader(io.StringIO(text))}


@pytest.mark.slow
def test_main_command_systems_keep_their_bitrates_and_quality(tmp_path: Path) -> None:
    results = tmp_path / "results"
    _bench("run", "--systems", "codesep,fstc@2,fstc@8,sepformer", "--metrics", "bitrate,sisnri,stoi",
           "--limit", str(LIMIT), "--results", str(results), "--quiet", cwd=tmp_path)
    rows = _report(results, tmp_path)
    for system, kbps in MEASURED_KBPS.items():
        assert float(rows[system]["bitrate_measured_kbps"]) == pytest.approx(kbps, abs=0.01)
    for system, floor in SYSTEM_STOI_FLOORS.items():
        assert float(rows[system]["stoi"]) >= floor, (system, rows[system]["stoi"])
    assert float(rows["sepformer"]["sisnri_db"]) >= SEPFORMER_SISNRI_FLOOR_DB
    rise = float(rows["fstc@8"]["stoi"]) - float(rows["fstc@2"]["stoi"])
    assert rise >= FSTC_STOI_RISE_2_TO_8, ("FSTC must rise with bitrate", rise)


@pytest.mark.slow
def test_default_codec_quality_rises_with_bitrate() -> None:
    """The codec gate's first rule on 16 clean test sources: STOI rises strictly with kbps."""
    from bench.audio import read_audio
    from bench.baselines.codecs import get_codec
    from bench.metrics.stoi import stoi

    test = EMBEDDED / "wav16k" / "min" / "test"
    files = sorted((test / "s1").glob("*.flac"))[:LIMIT] + sorted((test / "s2").glob("*.flac"))[:LIMIT]
    clips = [read_audio(f)[0] for f in files]
    codec = get_codec("mdct_rvq")
    means = {}
    for kbps in CODEC_STOI_FLOORS:
        mode = codec.bitrate(kbps)
        decoded = [codec.decode(codec.encode(c, mode), mode, c.size) for c in clips]
        means[kbps] = float(np.mean([stoi(d, c, 16000) for d, c in zip(decoded, clips)]))
    values = [means[k] for k in sorted(means)]
    assert all(b > a for a, b in zip(values, values[1:])), means
    for kbps, floor in CODEC_STOI_FLOORS.items():
        assert means[kbps] >= floor, (kbps, means[kbps])
