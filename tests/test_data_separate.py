"""``bench data separate``: the packaged Sepformer's estimates of a split, paired with their sources, resumable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.data.libri2mix import DatasetSpec, open_dataset
from bench.data.separate import output_paths, separate_split
from bench.errors import BenchError


def test_estimates_are_the_separators_output_paired_with_their_sources(tmp_path: Path) -> None:
    from bench.baselines.separators.sepformer import load_separator
    from bench.baselines.separators.system import default_model_dir
    from bench.metrics.sisnr import si_snr

    spec = DatasetSpec(split="test", limit=2)
    out = tmp_path / "est"
    summary = separate_split(spec, out, None, "cpu")
    assert summary["written"] == 2 and summary["already_there"] == 0

    dataset = open_dataset(spec)
    separator = load_separator(default_model_dir())
    for mixture in dataset:
        loaded = dataset.load(mixture)
        raw = separator.separate_many([loaded.mixture], 16000)[0]
        s1, s2 = output_paths(out, Path("wav16k/min/test"), mixture.mixture_id)
        files = [sf.read(path, dtype="float32") for path in (s1, s2)]
        assert all(rate == 16000 for _, rate in files)
        estimates = np.stack([audio for audio, _ in files])
        assert estimates.shape == loaded.sources.shape
        for slot, estimate in enumerate(estimates):
            # each file is the raw estimate that matches its own source best (16-bit rounding aside)
            expected = max(raw, key=lambda e: si_snr(e, loaded.sources[slot]))
            np.testing.assert_allclose(estimate, expected, atol=2 / 32768)
            assert si_snr(estimate, loaded.sources[slot]) > si_snr(estimate, loaded.sources[1 - slot])

    again = separate_split(spec, out, None, "cpu")                   # a rerun finds everything done
    assert again["written"] == 0 and again["already_there"] == 2
    assert not list(out.rglob(".*"))                                # no temporary file left behind


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", "", "/etc/passwd", "a\\b"])
def test_a_mixture_id_cannot_choose_a_path_outside_out(tmp_path: Path, bad: str) -> None:
    with pytest.raises(BenchError, match="cannot be a file name"):
        output_paths(tmp_path, Path("wav16k/min/train"), bad)


def test_only_mix_clean_can_be_separated(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="mix_clean"):
        separate_split(DatasetSpec(split="test", mix_type="mix_both", limit=1), tmp_path, None, "cpu")
