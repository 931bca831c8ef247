"""Libri2Mix loader tests on small trees written in the real LibriMix format.

The CSVs carry absolute paths from a foreign machine and the ``original_mixture_ID``
column, as published metadata does; audio is 16-bit WAV written by soundfile.
"""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.data import CheckReport, DatasetSpec, check_dataset, embedded_root, open_dataset
from bench.errors import BenchError

from libri2mix_tree import FOREIGN, IDS, SR, build_tree


def one_line_error(excinfo, *names) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    for name in names:
        assert str(name) in msg, msg
    return msg


@pytest.fixture
def tree(tmp_path) -> Path:
    return build_tree(tmp_path / "data")


# --- loading ---------------------------------------------------------------------

def test_loads_real_format(tree):
    ds = open_dataset(DatasetSpec(root=tree.parent))
    assert len(ds) == len(IDS) and ds.root == tree
    assert ds.name == "Libri2Mix/wav16k/min/test/mix_clean"
    m = ds.mixtures[1]
    assert m.mixture_id == IDS[1]
    assert m.mixture_path == tree / "wav16k/min/test/mix_clean" / f"{IDS[1]}.wav"
    assert m.source_paths == (tree / "wav16k/min/test/s1" / f"{IDS[1]}.wav",
                              tree / "wav16k/min/test/s2" / f"{IDS[1]}.wav")
    assert (m.sample_rate, m.num_samples, m.start) == (SR, 4100, 0)
    assert m.transcripts == (None, None)
    loaded = ds.load(m)
    assert loaded.mixture.dtype == np.float32 and loaded.sources.dtype == np.float32
    assert loaded.mixture.shape == (4100,) and loaded.sources.shape == (2, 4100)
    assert np.max(np.abs(loaded.mixture - loaded.sources.sum(0))) < 1e-3
    assert [x.mixture_id for x in ds] == IDS


def test_root_may_be_the_libri2mix_dir_and_a_string(tree):
    assert len(open_dataset(DatasetSpec(root=str(tree)))) == len(IDS)


def test_mix_both_and_mix_single(tree):
    both = open_dataset(DatasetSpec(root=tree, mix_type="mix_both"))
    m = both.mixtures[0]
    assert both.noise_paths[m.mixture_id] == tree / "wav16k/min/test/noise" / f"{m.mixture_id}.wav"
    assert both.load(m).sources.shape == (2, m.num_samples)
    assert check_dataset(DatasetSpec(root=tree, mix_type="mix_both"), progress=False).warnings == []

    single_root = build_tree(tree.parent.parent / "single", mix_types=("mix_single",))
    single = open_dataset(DatasetSpec(root=single_root, mix_type="mix_single"))
    assert single.mixtures[0].num_sources == 1
    assert single.load(single.mixtures[0]).sources.shape[0] == 1
    report = check_dataset(DatasetSpec(root=single_root, mix_type="mix_single"), progress=False)
    assert report.ok and report.warnings == [] and report.num_checked == len(IDS)


def test_flac_files_and_relative_paths(tmp_path):
    flac = build_tree(tmp_path / "flac", suffix=".flac")  # CSV still says .wav
    ds = open_dataset(DatasetSpec(root=flac))
    assert ds.mixtures[0].mixture_path.suffix == ".flac"
    assert ds.load(ds.mixtures[0]).sources.shape[0] == 2
    rel = build_tree(tmp_path / "rel", path_style="relative")
    assert open_dataset(DatasetSpec(root=rel)).mixtures[0].source_paths[0].is_file()


def test_first3s_segment(tmp_path):
    root = build_tree(tmp_path, lengths={IDS[0]: 56000, IDS[1]: 20000})
    ds = open_dataset(DatasetSpec(root=root, segment="first3s"))
    assert ds.name.endswith("mix_clean[first3s]")
    long, short = ds.mixtures
    assert (long.start, long.num_samples) == (0, 3 * SR)
    assert short.num_samples == 20000  # shorter than 3 s: kept whole
    loaded = ds.load(long)
    full, _ = sf.read(long.source_paths[1], dtype="float32")
    assert loaded.sources.shape == (2, 3 * SR)
    np.testing.assert_array_equal(loaded.sources[1], full[: 3 * SR])


# --- subsetting --------------------------------------------------------------------

def test_limit_and_seed_are_deterministic(tree):
    ids = lambda **kw: [m.mixture_id for m in open_dataset(DatasetSpec(root=tree, **kw))]
    assert ids(limit=3) == IDS[:3]
    a, b = ids(limit=3, subset_seed=1), ids(limit=3, subset_seed=1)
    assert a == b and len(a) == 3
    assert ids(limit=3, subset_seed=2) != a
    assert sorted(ids(subset_seed=5)) == sorted(IDS) and ids(subset_seed=5) != IDS
    limited = open_dataset(DatasetSpec(root=tree, limit=3))
    assert limited.name.endswith("mix_clean") and limited.subset == f"n=3 of {len(IDS)}"
    # --limit cuts one seeded order: a smaller limit is the start of a larger one
    assert ids(limit=2, subset_seed=1) == a[:2] and ids(subset_seed=1)[:3] == a


def test_ids_file(tree, tmp_path):
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"# chosen\n{IDS[4]}\n\n{IDS[2]}  # comment\n")
    assert [m.mixture_id for m in open_dataset(DatasetSpec(root=tree, ids_file=ids_file))] == [IDS[4], IDS[2]]
    ids_file.write_text(f"{IDS[0]}\nnope_1\nnope_2\n")
    with pytest.raises(BenchError) as exc:
        open_dataset(DatasetSpec(root=tree, ids_file=ids_file))
    one_line_error(exc, ids_file, "nope_1", "nope_2")


# --- transcripts --------------------------------------------------------------------

def test_transcripts_from_librispeech_tree(tree, tmp_path):
    ls = tmp_path / "LibriSpeech"
    chapter = ls / "test-clean" / "1089" / "134686"
    chapter.mkdir(parents=True)
    (chapter / "1089-134686.trans.txt").write_text(
        "1089-134686-0000 HE HOPED THERE WOULD BE STEW\n1089-134686-0001 STUFF IT INTO YOU\n")
    other = ls / "dev-clean" / "121" / "121726"
    other.mkdir(parents=True)
    (other / "121-121726.trans.txt").write_text("121-121726-0001 YES\n")
    ds = open_dataset(DatasetSpec(root=tree, librispeech_root=ls, limit=3))
    assert ds.mixtures[0].transcripts == ("HE HOPED THERE WOULD BE STEW", "YES")
    assert ds.mixtures[1].transcripts == ("STUFF IT INTO YOU", None)  # missing -> None
    assert ds.mixtures[2].transcripts == (None, None)
    # the dir containing LibriSpeech/ works too
    assert open_dataset(DatasetSpec(root=tree, librispeech_root=tmp_path, limit=1)).mixtures[0].transcripts[1] == "YES"
    with pytest.raises(BenchError) as exc:
        open_dataset(DatasetSpec(root=tree, librispeech_root=tmp_path / "nowhere"))
    one_line_error(exc, tmp_path / "nowhere")


def test_transcripts_from_csv(tree, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("utterance_id,speaker_id,text\n1089-134686-0000,1089,HELLO THERE\n121-121726-0001,121,\"A, B\"\n")
    ds = open_dataset(DatasetSpec(root=tree, transcripts_csv=path, limit=2))
    assert ds.mixtures[0].transcripts == ("HELLO THERE", "A, B")
    assert ds.mixtures[1].transcripts == (None, None)
    # a transcripts_<split>.csv next to the data is picked up automatically (embedded set)
    shutil.copy(path, tree / "transcripts_test.csv")
    assert open_dataset(DatasetSpec(root=tree, limit=1)).mixtures[0].transcripts == ("HELLO THERE", "A, B")
    path.write_text("utt,words\nx,y\n")
    with pytest.raises(BenchError) as exc:
        open_dataset(DatasetSpec(root=tree, transcripts_csv=path))
    one_line_error(exc, path, "utterance_id")


# --- fingerprint ------------------------------------------------------------------

def test_fingerprint_ignores_location_but_not_selection(tree, tmp_path):
    copy = tmp_path / "elsewhere" / "Libri2Mix"
    shutil.copytree(tree, copy)
    fp = open_dataset(DatasetSpec(root=tree)).fingerprint
    assert len(fp) == 64
    assert open_dataset(DatasetSpec(root=copy.parent)).fingerprint == fp
    others = {
        open_dataset(DatasetSpec(root=tree, subset_seed=3)).fingerprint,
        open_dataset(DatasetSpec(root=tree, segment="first3s")).fingerprint,
        open_dataset(DatasetSpec(root=tree, mix_type="mix_both")).fingerprint,
    }
    assert fp not in others and len(others) == 3
    # --limit selects within the key (the whole order), so limited runs share their rows
    limited = open_dataset(DatasetSpec(root=tree, limit=4))
    assert limited.fingerprint == fp and limited.selection_fingerprint != fp


# --- bad input: one-line BenchErrors naming the file ---------------------------------

def test_missing_root(tmp_path):
    with pytest.raises(BenchError) as exc:
        open_dataset(DatasetSpec(root=tmp_path / "absent"))
    one_line_error(exc, tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError) as exc:
        open_dataset(DatasetSpec(root=tmp_path / "empty"))
    one_line_error(exc, tmp_path / "empty", "Libri2Mix")


def test_missing_csv_lists_available(tree):
    with pytest.raises(BenchError) as exc:
        open_dataset(DatasetSpec(root=tree, mode="max"))
    one_line_error(exc, "wav16k/max/metadata/mixture_test_mix_clean.csv",
                   "wav16k/min/metadata/mixture_test_mix_both.csv")


def test_csv_missing_columns(tree):
    csv_path = tree / "wav16k/min/metadata/mixture_test_mix_clean.csv"
    csv_path.write_text("mixture_ID,mixture_path,length\na,b,3\n")
    with pytest.raises(BenchError) as exc:
        open_dataset(DatasetSpec(root=tree))
    one_line_error(exc, csv_path, "source_1_path", "source_2_path")


def test_bad_spec_values():
    for kwargs in ({"sample_rate": 44100}, {"mode": "mid"}, {"mix_type": "mix"}, {"segment": "first5s"}, {"limit": 0}):
        with pytest.raises(BenchError):
            DatasetSpec(**kwargs)


def test_missing_audio_file(tree):
    missing = tree / "wav16k/min/test/s2" / f"{IDS[3]}.wav"
    missing.unlink()
    with pytest.raises(BenchError) as exc:
        open_dataset(DatasetSpec(root=tree))
    one_line_error(exc, missing, IDS[3])
    assert len(open_dataset(DatasetSpec(root=tree, limit=3))) == 3  # only selected files matter


def test_wrong_sample_rate(tree):
    ds = open_dataset(DatasetSpec(root=tree))
    bad = ds.mixtures[0].source_paths[0]
    sf.write(bad, np.zeros(ds.mixtures[0].num_samples, np.float32), 8000)
    with pytest.raises(BenchError) as exc:
        ds.load(ds.mixtures[0])
    one_line_error(exc, bad, "8000", "16000")


def test_stereo_file(tree):
    ds = open_dataset(DatasetSpec(root=tree))
    m = ds.mixtures[0]
    sf.write(m.mixture_path, np.zeros((m.num_samples, 2), np.float32), SR)
    with pytest.raises(BenchError) as exc:
        ds.load(m)
    one_line_error(exc, m.mixture_path, "2 channels")


def test_length_mismatch(tree):
    ds = open_dataset(DatasetSpec(root=tree))
    m = ds.mixtures[0]
    sf.write(m.source_paths[1], np.zeros(m.num_samples - 10, np.float32), SR)
    with pytest.raises(BenchError) as exc:
        ds.load(m)
    one_line_error(exc, m.source_paths[1], str(m.num_samples - 10), str(m.num_samples))
    # mixture file vs the CSV length column
    m2 = ds.mixtures[1]
    sf.write(m2.mixture_path, np.zeros(m2.num_samples + 5, np.float32), SR)
    with pytest.raises(BenchError) as exc:
        ds.load(m2)
    one_line_error(exc, m2.mixture_path, "mixture_test_mix_clean.csv", str(m2.num_samples))


def test_mixture_not_sum_of_sources_warns(tree, caplog):
    ds = open_dataset(DatasetSpec(root=tree))
    m = ds.mixtures[2]
    mix, _ = sf.read(m.mixture_path, dtype="float32")
    sf.write(m.mixture_path, mix * 0.5, SR)
    with caplog.at_level(logging.WARNING, logger="bench.data"):
        ds.load(ds.mixtures[0])
        assert not caplog.records  # 16-bit quantisation alone does not warn
        loaded = ds.load(m)  # still loads
    assert loaded.mixture.shape == (m.num_samples,)
    [record] = caplog.records
    assert record.name == "bench.data" and str(m.mixture_path) in record.getMessage()
    assert "\n" not in record.getMessage()


# --- check_dataset -----------------------------------------------------------------

def test_check_dataset_clean_tree(tree):
    report = check_dataset(DatasetSpec(root=tree), progress=False)
    assert isinstance(report, CheckReport)
    assert report.ok and report.errors == [] and report.warnings == []
    assert report.num_items == report.num_checked == len(IDS)
    assert "OK" in report.summary()


def test_check_dataset_reports_every_problem(tree, capsys):
    test = tree / "wav16k/min/test"
    (test / "s1" / f"{IDS[0]}.wav").unlink()
    sf.write(test / "s2" / f"{IDS[1]}.wav", np.zeros(4100, np.float32), 8000)
    sf.write(test / "mix_clean" / f"{IDS[2]}.wav", np.zeros((4200, 2), np.float32), SR)
    mix, _ = sf.read(test / "mix_clean" / f"{IDS[3]}.wav", dtype="float32")
    sf.write(test / "mix_clean" / f"{IDS[3]}.wav", mix + 0.01, SR)
    report = check_dataset(DatasetSpec(root=tree), progress=True)
    assert not report.ok
    assert report.num_items == len(IDS) and report.num_checked == len(IDS) - 3
    assert len(report.errors) == 3, report.errors
    assert IDS[0] in report.errors[0] and f"s1/{IDS[0]}.wav" in report.errors[0]
    assert any(f"s2/{IDS[1]}.wav" in e and "8000" in e for e in report.errors)
    assert any(f"mix_clean/{IDS[2]}.wav" in e and "2 channels" in e for e in report.errors)
    assert len(report.warnings) == 1 and f"mix_clean/{IDS[3]}.wav" in report.warnings[0]
    assert all("\n" not in line for line in report.errors + report.warnings)
    assert "checking" in capsys.readouterr().err


def test_check_dataset_structural_error(tmp_path):
    report = check_dataset(DatasetSpec(root=tmp_path / "absent"), progress=False)
    assert not report.ok and str(tmp_path / "absent") in report.errors[0]


def test_embedded_root_location():
    root = embedded_root()
    assert root.name == "embedded" and root.parent.name == "data"


def test_copy_given_as_root_wins_over_existing_absolute_paths(tmp_path):
    original = build_tree(tmp_path / "orig")
    csv_path = original / "wav16k/min/metadata/mixture_test_mix_clean.csv"
    csv_path.write_text(csv_path.read_text().replace(FOREIGN, str(original)))
    copy = tmp_path / "copy" / "Libri2Mix"
    shutil.copytree(original, copy)
    assert open_dataset(DatasetSpec(root=original)).mixtures[0].mixture_path.is_relative_to(original)
    assert open_dataset(DatasetSpec(root=copy)).mixtures[0].mixture_path.is_relative_to(copy)


def test_split_mixture_id():
    from bench.data.transcripts import split_mixture_id

    assert split_mixture_id("1-2-3_4-5-6", 2) == ["1-2-3", "4-5-6"]
    assert split_mixture_id("1-2-3_4-5-6", 1) == ["1-2-3"]  # mix_single
    known = {"spk_a_001", "spk_b_002"}
    assert split_mixture_id("spk_a_001_spk_b_002", 2, known.__contains__) == ["spk_a_001", "spk_b_002"]
    assert split_mixture_id("x_y_z", 2, known.__contains__) is None
