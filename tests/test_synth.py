"""Tests of the synthetic data generator (bench.data.synth) and of the embedded test set."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import bench
from bench.data.synth import grammar, layout, mixing
from bench.data.synth import voices as voices_mod
from bench.errors import BenchError

EMBEDDED = Path(bench.__file__).parent / "data" / "embedded" / "Libri2Mix"
UTT_ID = re.compile(r"^\d+-\d+-\d{4,}$")
RATE = 16000


def _resolve(path: str, root: Path) -> Path:
    """A CSV path as written on the generating machine, or the same file under ``root``."""
    p = Path(path)
    if p.exists():
        return p
    parts = p.parts
    return root.joinpath(*parts[parts.index("wav16k"):])


# --- grammar -------------------------------------------------------------------------


def test_grammar_is_deterministic_for_a_seed() -> None:
    assert grammar.make_sentences(50, "test", 3) == grammar.make_sentences(50, "test", 3)
    assert grammar.make_sentences(50, "test", 3) != grammar.make_sentences(50, "test", 4)


def test_grammar_stream_only_extends() -> None:
    assert grammar.make_sentences(80, "train", 1)[:20] == grammar.make_sentences(20, "train", 1)


def test_sentences_unique_and_word_counts_in_range() -> None:
    sentences = grammar.make_sentences(2000, "train", 0)
    assert len(set(sentences)) == len(sentences)
    for s in sentences:
        assert grammar.MIN_WORDS <= len(s.split()) <= grammar.MAX_WORDS
        assert re.fullmatch(r"[a-z]+( [a-z]+)*", s), s


def test_train_and_test_sentences_are_disjoint_whatever_the_seeds() -> None:
    test = set(grammar.make_sentences(1000, "test", 0)) | set(grammar.make_sentences(1000, "test", 7))
    dev = set(grammar.make_sentences(500, "dev", 0))
    train = set(grammar.make_sentences(5000, "train", 0)) | set(grammar.make_sentences(2000, "train", 7))
    assert not test & train and not test & dev and not dev & train
    assert all(grammar.split_of(s) == "test" for s in test)


def test_articles_agree() -> None:
    text = " ".join(grammar.make_sentences(3000, "train", 2))
    assert not re.search(r"\ba [aeio]", text)
    assert not re.search(r"\ban [^aeiouh]", text)
    assert not re.search(r"\b(children|farmers|boys|girls) was\b", text)


# --- mixing --------------------------------------------------------------------------


def _speechlike(seconds: float, seed: int, rate: int = RATE) -> np.ndarray:
    """Noise with a 4 Hz syllable-like envelope: loudness gating behaves as on speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    env = 0.5 * (1 + np.sin(2 * np.pi * 4 * t + seed))
    return (0.05 * env * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("target", [-33.0, -29.0, -25.0])
def test_normalize_hits_target_loudness(target: float) -> None:
    out, clipped = mixing.normalize(_speechlike(4.0, 1), RATE, target)
    assert not clipped
    assert abs(mixing.loudness(out, RATE) - target) < 0.1


def test_normalize_falls_back_to_peak_0_9_when_source_would_clip() -> None:
    x = _speechlike(4.0, 2)
    x[1000] = 1.0  # a spike far above the rest: at -10 LUFS it would exceed 1
    out, clipped = mixing.normalize(x, RATE, -10.0)
    assert clipped
    assert np.isclose(np.max(np.abs(out)), mixing.MAX_AMP)


def test_mix_min_is_sum_of_truncated_sources_with_targets_in_range() -> None:
    s1, s2 = _speechlike(4.0, 3), _speechlike(3.5, 4)
    mix = mixing.mix_min([s1, s2], RATE, np.random.default_rng(0))
    assert len(mix.mixture) == len(s2) and all(len(s) == len(s2) for s in mix.sources)
    np.testing.assert_allclose(mix.mixture, mix.sources[0] + mix.sources[1], atol=1e-6)
    assert not mix.rescaled
    for target, final in zip(mix.target_lufs, mix.final_lufs):
        assert mixing.MIN_LOUDNESS <= target <= mixing.MAX_LOUDNESS
        assert abs(final - target) < 0.1


def test_mix_min_rescales_sources_and_mixture_together_when_mixture_clips() -> None:
    s1, s2 = _speechlike(4.0, 5), _speechlike(4.0, 6)
    for s in (s1, s2):  # coincident spikes: each below 1 after normalising, their sum above 0.9
        s[2000] = 0.5
    mix = mixing.mix_min([s1, s2], RATE, np.random.default_rng(1))
    assert mix.rescaled
    assert np.max(np.abs(mix.mixture)) <= mixing.MAX_AMP + 1e-6
    np.testing.assert_allclose(mix.mixture, mix.sources[0] + mix.sources[1], atol=1e-6)
    ratio = [10 ** ((f - t) / 20) for f, t in zip(mix.final_lufs, mix.target_lufs)]
    assert ratio[0] < 1 and ratio[1] < 1  # both sources turned down


# --- layout and generation without TTS -------------------------------------------------


def test_ids_and_paths_follow_libri2mix() -> None:
    u1, u2 = layout.utterance_id(9001, "test", 3), layout.utterance_id(9010, "test", 12)
    assert u1 == "9001-100-0003" and UTT_ID.match(u2)
    mid = layout.mixture_id(u1, u2)
    assert mid.split("_") == [u1, u2]
    root = Path("/x/Libri2Mix")
    assert layout.metadata_csv(root, "test") == root / "wav16k/min/metadata/mixture_test_mix_clean.csv"
    assert layout.audio_path(root, "train", "s2", mid, "flac") == root / f"wav16k/min/train/s2/{mid}.flac"


def _fake_engine(voice: str, text: str) -> tuple[np.ndarray, int]:
    """A stand-in TTS: 0.3 s per word of speech-like noise at 22.05 kHz (exercises resampling)."""
    seed = sum(map(ord, voice + text))
    audio = _speechlike(0.3 * len(text.split()) + 0.4, seed % 1000, rate=22050)
    return audio, 22050


@pytest.fixture
def fake_tts(monkeypatch: pytest.MonkeyPatch) -> None:
    for engine in list(voices_mod._ENGINES):
        monkeypatch.setitem(voices_mod._ENGINES, engine, _fake_engine)
        monkeypatch.setitem(voices_mod._CHECKS, engine, lambda voice: None)


def _check_split(root: Path, split: str, n: int, ext: str) -> list[dict[str, str]]:
    rows = layout.read_csv(layout.metadata_csv(root, split))
    with open(layout.metadata_csv(root, split), encoding="utf-8") as f:
        assert f.readline().strip() == "mixture_ID,mixture_path,source_1_path,source_2_path,length"
    assert len(rows) == n
    transcripts = {r["utterance_id"]: r for r in layout.read_csv(layout.transcripts_csv(root, split))}
    assert list(next(iter(transcripts.values()))) == list(layout.TRANSCRIPT_COLUMNS)
    for row in rows:
        u1, u2 = row["mixture_ID"].split("_")
        assert UTT_ID.match(u1) and UTT_ID.match(u2)
        assert transcripts[u1]["speaker_id"] != transcripts[u2]["speaker_id"]
        paths = [Path(row[k]) for k in ("mixture_path", "source_1_path", "source_2_path")]
        for p, sub in zip(paths, layout.SUBDIRS):
            assert p.is_absolute() and p.exists()
            assert p == layout.audio_path(root, split, sub, row["mixture_ID"], ext)
        mix, s1, s2 = (sf.read(str(p), dtype="float32")[0] for p in paths)
        info = sf.info(str(paths[0]))
        assert info.samplerate == RATE and info.channels == 1 and info.subtype == "PCM_16"
        assert len(mix) == len(s1) == len(s2) == int(row["length"])
        assert 3 * RATE <= len(mix) <= 6 * RATE
        assert np.max(np.abs(mix - s1 - s2)) < 1e-3
    return rows


def test_generation_without_tts_writes_libri2mix(fake_tts: None, tmp_path: Path) -> None:
    from bench.data.synth import synthesize

    root = synthesize(tmp_path / "out", "dev", mixtures=6, seed=5, audio_format="wav",
                      cache_dir=tmp_path / "cache")
    assert root == (tmp_path / "out" / "Libri2Mix").absolute()
    rows = _check_split(root, "dev", 6, "wav")
    # deterministic: a second run (from the cache) writes identical metadata and audio
    first = sf.read(rows[0]["mixture_path"])[0]
    again = synthesize(tmp_path / "out", "dev", mixtures=6, seed=5, audio_format="wav",
                       cache_dir=tmp_path / "cache")
    assert layout.read_csv(layout.metadata_csv(again, "dev")) == rows
    np.testing.assert_array_equal(sf.read(rows[0]["mixture_path"])[0], first)
    # a smaller re-run removes the audio it no longer lists
    synthesize(tmp_path / "out", "dev", mixtures=3, seed=5, audio_format="wav", cache_dir=tmp_path / "cache")
    assert len(list((root / "wav16k/min/dev/mix_clean").iterdir())) == 3
    voices_csv = layout.read_csv(root / "voices.csv")
    assert voices_csv and all(r["splits"] == "dev" for r in voices_csv)
    assert "bench data synth" in (root / "README.txt").read_text()


def test_generation_hours_and_argument_errors(fake_tts: None, tmp_path: Path) -> None:
    from bench.data.synth import synthesize

    root = synthesize(tmp_path, "train", hours=0.01, seed=1, cache_dir=tmp_path / "cache")
    lengths = [int(r["length"]) for r in layout.read_csv(layout.metadata_csv(root, "train"))]
    assert 36 * RATE <= sum(lengths) < 36 * RATE + 6 * RATE
    with pytest.raises(BenchError):
        synthesize(tmp_path, "train")
    with pytest.raises(BenchError):
        synthesize(tmp_path, "test", mixtures=2, hours=1.0)
    with pytest.raises(BenchError):
        synthesize(tmp_path, "test", mixtures=2, voices=["no-such-voice"])


def test_missing_engine_is_a_one_line_bench_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for engine in list(voices_mod._CHECKS):
        monkeypatch.setitem(voices_mod._CHECKS, engine, lambda voice: "engine not found")
    with pytest.raises(BenchError) as err:
        voices_mod.select_voices(["flite-slt"])
    assert "flite" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(BenchError, match="apt install"):
        voices_mod.select_voices(None)


def test_command_module_imports_no_tts() -> None:
    code = ("import sys, argparse, bench.data.synth.command as c; p = argparse.ArgumentParser(); "
            "c.add_arguments(p); a = p.parse_args(['--out', 'x', '--mixtures', '3', '--voices', 'a,b']); "
            "assert a.voices == ['a', 'b'] and a.split == 'test' and a.audio_format == 'flac'; "
            "assert not any(m.split('.')[0] in ('piper', 'onnxruntime', 'pyloudnorm') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_voice_registry_ids_are_stable_and_both_sexes() -> None:
    ids = [v.speaker_id for v in voices_mod.VOICES]
    assert len(set(ids)) == len(ids)
    assert {v.sex for v in voices_mod.VOICES} == {"F", "M"}
    assert all("_" not in v.id and "_" not in str(v.speaker_id) for v in voices_mod.VOICES)


def test_voice_inventory_is_large_and_balanced_enough() -> None:
    voices = voices_mod.VOICES
    assert len(voices) >= 20
    assert sum(v.sex == "F" for v in voices) >= 8
    test = voices_mod.voices_for_split("test")
    assert len(test) >= 6
    assert {v.sex for v in test} == {"F", "M"}
    assert len({v.engine for v in test}) >= 3


def test_train_dev_and_test_voices_are_speaker_disjoint() -> None:
    test = voices_mod.voices_for_split("test")
    for split in ("train", "dev"):
        other = voices_mod.voices_for_split(split)
        assert other and not set(test) & set(other)
        # disjoint by recorded human, not just by voice id (flite-slt and festival-slt-hts share one)
        assert not {v.group for v in test} & {v.group for v in other}
    assert set(test) | set(voices_mod.voices_for_split("train")) == set(voices_mod.VOICES)


@pytest.mark.parametrize("split", ["train", "dev"])
def test_generator_refuses_a_test_voice_in_training_splits(fake_tts: None, tmp_path: Path, split: str) -> None:
    from bench.data.synth import synthesize

    test_voice = voices_mod.voices_for_split("test")[0].id
    train_voice = voices_mod.voices_for_split("train")[0].id
    with pytest.raises(BenchError, match="test-only") as err:
        synthesize(tmp_path, split, mixtures=2, voices=[train_voice, test_voice], cache_dir=tmp_path / "c")
    assert test_voice in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(BenchError, match="training"):
        synthesize(tmp_path, "test", mixtures=2, voices=[train_voice, test_voice], cache_dir=tmp_path / "c")
    assert not (tmp_path / "Libri2Mix").exists()


def test_default_voices_follow_the_split(fake_tts: None, tmp_path: Path) -> None:
    from bench.data.synth import synthesize

    test_ids = {v.id for v in voices_mod.voices_for_split("test")}
    for split in ("dev", "test"):
        root = synthesize(tmp_path / split, split, mixtures=12, seed=2, cache_dir=tmp_path / "cache")
        used = {r["voice"] for r in layout.read_csv(layout.transcripts_csv(root, split))}
        assert used and (used <= test_ids if split == "test" else not used & test_ids)


# --- real TTS ------------------------------------------------------------------------


@pytest.mark.tts
@pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
def test_tiny_flite_synth_end_to_end(tmp_path: Path) -> None:
    from bench.data.synth import synthesize

    root = synthesize(tmp_path, "test", mixtures=3, seed=11, voices=["flite-slt", "flite-rms"],
                      cache_dir=tmp_path / "cache")
    rows = _check_split(root, "test", 3, "flac")
    for row in rows:
        s1 = sf.read(row["source_1_path"])[0]
        assert np.sqrt(np.mean(s1**2)) > 1e-3  # not silent
        assert -34 < mixing.loudness(s1, RATE) < -24


# --- the shipped embedded test set ---------------------------------------------------


@pytest.mark.skipif(not EMBEDDED.exists(), reason="embedded test set not generated")
def test_embedded_test_set() -> None:
    rows = layout.read_csv(layout.metadata_csv(EMBEDDED, "test"))
    assert len(rows) >= 64
    transcripts = {r["utterance_id"]: r for r in layout.read_csv(layout.transcripts_csv(EMBEDDED, "test"))}
    used_voices: dict[str, str] = {}
    for row in rows:
        u1, u2 = row["mixture_ID"].split("_")
        for u in (u1, u2):
            t = transcripts[u]
            used_voices[t["voice"]] = t["sex"]
            assert grammar.split_of(t["text"]) == "test"
        paths = [_resolve(row[k], EMBEDDED) for k in ("mixture_path", "source_1_path", "source_2_path")]
        audio = []
        for p in paths:
            info = sf.info(str(p))
            assert info.samplerate == RATE and info.channels == 1
            audio.append(sf.read(str(p), dtype="float32")[0])
        mix, s1, s2 = audio
        assert len(mix) == len(s1) == len(s2) == int(row["length"])
        assert 3 * RATE <= len(mix) <= 6 * RATE
        assert np.max(np.abs(mix - (s1 + s2))) < 1e-3
    assert len(used_voices) >= 6
    assert set(used_voices.values()) == {"F", "M"}
    # unseen voices only: no voice of the embedded test set may be used to train anything
    assert set(used_voices) <= {v.id for v in voices_mod.voices_for_split("test")}
    size = sum(p.stat().st_size for p in EMBEDDED.parent.rglob("*") if p.is_file())
    assert size <= 25 * 1024 * 1024
