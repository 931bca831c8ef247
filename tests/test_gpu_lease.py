"""``benchmarks/gpu_lease``: the packed slice is a real Libri2Mix tree our loader reads, 12-bit exact."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.data.libri2mix import DatasetSpec, open_dataset
from benchmark_scripts import load_script
from libri2mix_tree import IDS, build_tree

REPO = Path(__file__).resolve().parents[1]


def _module(name: str):
    return load_script(f"gpu_lease/{name}.py")


def test_quantise_keeps_the_top_bits_and_rounds_to_the_nearest_step():
    quantise = _module("pack_sources").quantise
    audio = np.array([-32768, -9, -8, -7, 0, 7, 8, 9, 100, 32767], dtype=np.int16)
    out = quantise(audio, 12)
    assert np.all(out % 16 == 0)
    # nearest multiple of 16, ties to even (numpy rounding), clipped into int16 at the top
    assert out.tolist() == [-32768, -16, 0, 0, 0, 0, 0, 16, 96, 32752]
    assert np.max(np.abs(out.astype(int) - audio.astype(int))) <= 15


def test_a_packed_slice_rebuilt_reads_back_through_the_loader(tmp_path: Path):
    pack, rebuild = _module("pack_sources").pack, _module("rebuild_mixtures").rebuild
    source = build_tree(tmp_path / "src", mix_types=("mix_clean",), suffix=".flac")
    count, size = pack(source.parent, "test", tmp_path / "packed", every=3, offset=1, bits=12)
    kept = IDS[1::3]
    assert count == len(kept) and size > 0
    base = tmp_path / "packed" / "Libri2Mix" / "wav16k" / "min"
    with open(base / "metadata" / "mixture_test_mix_clean.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["mixture_ID"] for row in rows] == kept
    assert rows[0]["source_1_path"] == f"wav16k/min/test/s1/{kept[0]}.flac"     # relative, travels anywhere
    assert not (base / "test" / "mix_clean").exists()                             # only sources are carried

    assert rebuild(tmp_path / "packed", "test") == len(kept)
    dataset = open_dataset(DatasetSpec(root=tmp_path / "packed" / "Libri2Mix", split="test"))
    assert [m.mixture_id for m in dataset] == kept
    for mixture in dataset:
        loaded = dataset.load(mixture)
        original, _ = sf.read(source / "wav16k" / "min" / "test" / "s1" / f"{mixture.mixture_id}.flac", dtype="int16")
        packed, _ = sf.read(mixture.source_paths[0], dtype="int16")
        assert np.all(packed % 16 == 0) and np.max(np.abs(packed.astype(int) - original)) <= 8
        np.testing.assert_allclose(loaded.mixture, loaded.sources.sum(axis=0), atol=1.5 / 32768)


def test_the_lease_scripts_parse_and_name_files_that_exist():
    import re
    import subprocess

    for script in sorted((REPO / "benchmarks" / "gpu_lease").glob("*.sh")):
        subprocess.run(["bash", "-n", str(script)], check=True)
        for relative in re.findall(r"\$R/(benchmarks/[\w/.-]+)", script.read_text()):
            assert (REPO / relative).is_file(), f"{script.name} runs {relative}, which is not in the repo"
