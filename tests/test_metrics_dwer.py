"""DWER/DCER/WER/CER: exact edit counts, corpus pooling, the transcript cache, the embedded set."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.metrics.base import MetricInput, TextCache
from bench.metrics.dwer import CER, DCER, DWER, WER, edit_distance, error_counts, normalize, pooled_rate

EMBEDDED = Path(__file__).resolve().parents[1] / "bench" / "data" / "embedded" / "Libri2Mix"


@pytest.mark.parametrize("ref,hyp,unit,expected", [
    ("the cat sat on the mat", "the cat sat on the mat", "word", (0, 6)),
    ("the cat sat on the mat", "the cat sit on mat", "word", (2, 6)),  # 1 substitution + 1 deletion
    ("the cat", "the black cat sat", "word", (2, 2)),  # 2 insertions: WER can exceed 100 %
    ("hello world", "", "word", (2, 2)),
    ("", "noise", "word", (1, 0)),
    ("abc", "abd", "char", (1, 3)),
    ("ab cd", "abcd", "char", (1, 5)),  # the space is a character (jiwer's CER)
    # Whisper normalisation: case, punctuation, contractions, numbers, British spelling
    ("Mr. Smith didn't colour it!", "mister smith did not color it", "word", (0, 6)),
    ("I have twenty five apples.", "i have 25 apples", "word", (0, 4)),
])
def test_error_counts_exact(ref, hyp, unit, expected):
    assert error_counts(ref, hyp, unit) == expected


def test_edit_distance_is_levenshtein():
    assert edit_distance(list("kitten"), list("sitting")) == 3
    assert edit_distance([], list("abc")) == 3 and edit_distance(list("abc"), []) == 3
    assert normalize("  Hello,   WORLD ") == "hello world"


def test_pooled_not_mean_of_rates():
    # a 1-word utterance with 1 error and a 9-word one with 0: pooled 10 %, mean of rates would be 50 %
    assert pooled_rate([1, 0], [1, 9]) == pytest.approx(10.0)
    frame = pd.DataFrame({"mixture_id": ["a"] * 3 + ["b"] * 3, "source_index": [0] * 6,
                          "field": ["", "errors", "ref_len"] * 2, "value": [100.0, 1, 1, 0.0, 0, 9]})
    assert DWER.aggregate(frame) == {"dwer": pytest.approx(10.0)}
    assert DWER.columns() == ["dwer"] and DCER.columns() == ["dcer"]


class FakeRecognizer:
    """Deterministic stand-in: 'recognises' the audio by its first sample; counts calls."""

    config = "fake:v1"

    def __init__(self) -> None:
        self.calls = 0

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        self.calls += 1
        return "red green blue" if audio[0] > 0 else "red green blues"


def _item(estimate, reference, cache, system="sys", transcript=None):
    return MetricInput(estimate, reference, reference, 16000, "m", 0, system_key=system, transcript=transcript,
                       cache=cache)


def test_reference_asr_runs_once_and_is_shared():
    asr = FakeRecognizer()
    metrics = [DWER(), DCER(), WER(), CER()]
    for m in metrics:
        m._recognizer = asr
    ref = np.ones(10, np.float32)
    est = -np.ones(10, np.float32)
    cache = TextCache({("reference", 0, "fake:v1"): "red green blue"})  # stored by an earlier run
    out = [m.compute(_item(est, ref, cache, transcript="Red, green, blue.")) for m in metrics]
    assert asr.calls == 1  # only the estimate: the reference came from the store, the rest from the cache
    assert out[0] == {"": pytest.approx(100 / 3), "errors": 1.0, "ref_len": 3.0}
    assert out[1]["errors"] == 1.0 and out[1]["ref_len"] == 14.0  # one inserted "s" in 14 characters
    assert out[2]["errors"] == 1.0  # WER against the dataset transcript
    assert cache.new == {("sys", 0, "fake:v1"): "red green blues"}
    # an estimate identical to its reference reuses the reference transcript (DWER exactly 0)
    assert metrics[0].compute(_item(ref, ref, cache))[""] == 0.0
    assert asr.calls == 1


def test_wer_without_dataset_transcript_fails_clearly():
    metric = WER()
    metric._recognizer = FakeRecognizer()
    with pytest.raises(ValueError, match="no transcript"):
        metric.compute(_item(np.ones(4), np.ones(4), TextCache()))


@pytest.mark.skipif(not (EMBEDDED / "wav16k").is_dir(), reason="embedded set not generated yet")
def test_embedded_set_clean_is_zero_and_mixture_is_high(tmp_path):
    from bench.data import DatasetSpec, open_dataset
    from bench.report.plain import build_plain_report
    from bench.run.runner import RunRequest, run
    from bench.store import Store

    metric = DWER()
    if metric.unavailable_reason() is not None:
        pytest.skip(metric.unavailable_reason())
    dataset = open_dataset(DatasetSpec(root=None, limit=3))
    store = Store(tmp_path / "results")
    run(RunRequest(systems=["mixture", "clean"], metrics=["dwer", "dcer", "wer"]), dataset, store)
    report = build_plain_report(store)
    assert report.means.loc["clean", "dwer"] == 0.0 and report.means.loc["clean", "dcer"] == 0.0
    assert report.means.loc["mixture", "dwer"] > 40.0
    assert report.means.loc["clean", "wer"] < report.means.loc["mixture", "wer"]
    # references were recognised once each, and every text is stored
    texts = store.frame("SELECT system_key, COUNT(*) AS n FROM transcripts GROUP BY system_key")
    counts = dict(zip(texts["system_key"], texts["n"]))
    # references once each; the mixture's estimates once each; clean reuses the references' texts
    assert counts["reference"] == 2 * len(dataset) and sum(counts.values()) == 4 * len(dataset)


# -- batched recognition ---------------------------------------------------------------------------
class BatchingRecognizer(FakeRecognizer):
    """The fake recogniser with ``transcribe_many``: records each batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def transcribe_many(self, audios, sample_rate):
        self.batches.append(len(audios))
        return [self.transcribe(a, sample_rate) for a in audios]


def test_a_task_recognises_its_missing_texts_in_one_batch():
    asr = BatchingRecognizer()
    dwer, dcer = DWER(), DCER()
    dwer._recognizer = dcer._recognizer = asr
    ref0, ref1 = np.ones(10, np.float32), np.full(10, 2.0, np.float32)
    cache = TextCache({("reference", 1, "fake:v1"): "red green blue"})  # one reference stored earlier
    items = [MetricInput(est, ref, ref, 16000, "m", j, system_key=system, cache=cache)
             for system in ("a", "b") for j, (ref, est) in enumerate([(ref0, -ref0), (ref1, -ref1)])]
    items.append(MetricInput(ref0, ref0, ref0, 16000, "m", 0, system_key="clean", cache=cache))
    out = dwer.compute_many(items)
    # one batch: reference 0 and the four distinct estimates (reference 1 was stored; clean reuses reference 0)
    assert asr.batches == [5] and asr.calls == 5
    assert [o[""] for o in out] == [pytest.approx(100 / 3)] * 4 + [0.0]
    assert dcer.compute_many(items)[0]["errors"] == 1.0 and asr.calls == 5  # DCER: every text cached
    assert set(cache.new) == {("reference", 0, "fake:v1")} | {(s, j, "fake:v1") for s in "ab" for j in (0, 1)}


def test_references_are_recognised_once_per_dataset_for_every_system(tmp_path, monkeypatch):
    """Two systems in one run, then a third in a later run: each reference is recognised once."""
    from bench.data import DatasetSpec, open_dataset
    from bench.metrics import dwer as dwer_module
    from bench.run.runner import RunRequest, run
    from bench.store import Store

    asr = BatchingRecognizer()
    seen: list[str] = []

    def transcribe(audio, sample_rate):
        seen.append(hashlib.sha1(np.ascontiguousarray(audio).tobytes()).hexdigest())
        return FakeRecognizer.transcribe(asr, audio, sample_rate)

    monkeypatch.setattr(asr, "transcribe", transcribe)
    monkeypatch.setattr(dwer_module, "get_recognizer", lambda **_: asr)
    dataset = open_dataset(DatasetSpec(root=None, limit=2))
    store = Store(tmp_path / "results")
    run(RunRequest(systems=["mixture", "clean"], metrics=["dwer", "dcer"]), dataset, store)
    run(RunRequest(systems=["codec@2"], metrics=["dwer"]), dataset, store)
    references = {hashlib.sha1(np.ascontiguousarray(s).tobytes()).hexdigest()
                  for m in dataset.mixtures for s in dataset.load(m).sources}
    assert sorted(h for h in seen if h in references) == sorted(references)  # each reference exactly once
    assert len(seen) == len(references) + 2 * 2 * len(dataset)  # + each mixture's and codec's estimates


WHISPER_CLIPS = sorted((EMBEDDED / "wav16k" / "min" / "test" / "s1").glob("*.flac"))[:2]


@pytest.mark.skipif(not WHISPER_CLIPS, reason="embedded set not generated yet")
def test_batched_whisper_transcripts_equal_one_by_one():
    import soundfile as sf

    from bench.metrics.asr import WhisperRecognizer

    try:
        asr = WhisperRecognizer(threads=1)
        asr._load()
    except (FileNotFoundError, ValueError, ImportError) as exc:
        pytest.skip(f"no Whisper model here: {exc}")
    speech = [sf.read(str(f), dtype="float32")[0] for f in WHISPER_CLIPS]
    mixture = sf.read(str(EMBEDDED / "wav16k" / "min" / "test" / "mix_clean" / WHISPER_CLIPS[0].name),
                      dtype="float32")[0]
    rng = np.random.default_rng(0)
    noise = (0.01 * rng.standard_normal(16000)).astype(np.float32)  # no speech: the no-speech rule applies
    long = np.concatenate(speech * 8)[:31 * 16000]  # over one 30 s window: one by one inside transcribe_many
    clips = speech + [mixture, noise, np.zeros(8000, np.float32), long]
    assert long.size > 30 * 16000
    for beam, chosen in ((5, clips), (1, clips[:3])):  # the default beam, and greedy decoding
        asr.beam_size = beam
        assert asr.transcribe_many(chosen, 16000) == [asr.transcribe(c, 16000) for c in chosen]
    assert asr.transcribe_many(speech[:1], 8000)[0] == asr.transcribe(speech[0], 8000)  # resampled alike
    # two threads: utterances spread over two one-thread workers, against one call with both threads
    two = WhisperRecognizer(threads=2, beam_size=1)
    assert two.workers() == 2
    chosen = [speech[0], mixture, speech[1], mixture.copy()]  # the repeated mixture is recognised once
    one_by_one = [two.transcribe(c, 16000) for c in chosen]
    calls = []
    import bench.metrics.asr_batch as asr_batch

    original = asr_batch.transcribe_batch
    try:
        asr_batch.transcribe_batch = lambda model, part, beam: calls.append(len(part)) or original(model, part, beam)
        assert two.transcribe_many(chosen, 16000) == one_by_one
    finally:
        asr_batch.transcribe_batch = original
    assert sorted(calls) == [1, 2] and two._workers_model is not two._model  # 3 distinct over 2 workers


def test_whisper_follows_the_device(monkeypatch):
    import faster_whisper

    from bench.metrics.asr import BUNDLED, WhisperRecognizer, bundled_whisper_dir

    if bundled_whisper_dir() is None:
        pytest.skip("no bundled Whisper model")
    built = {}
    monkeypatch.setattr(faster_whisper, "WhisperModel", lambda path, **kw: built.update(kw) or object())
    asr = WhisperRecognizer(BUNDLED, 5, device="cuda:1")
    asr._load()
    assert built["device"] == "cuda" and built["device_index"] == 1
    assert asr.config.endswith(":cuda")  # GPU texts are cached apart from CPU ones
    assert not WhisperRecognizer(BUNDLED, 5).config.endswith(":cuda")
    metric = DWER()
    metric.use_device("cuda:1")
    assert metric.device == "cuda:1" and metric._recognizer is None
