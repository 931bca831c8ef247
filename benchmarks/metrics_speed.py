"""Speed of our metric implementations against the reference ones, on the same clips, side by side.

Prints, in one run, for each thread count (``--threads 1,2``):
  * DNSMOS: ours (``DnsmosModels.score``) vs speechmos's per-clip loop (its ``DNSMOS``
    object, the one ``speechmos.dnsmos.run`` calls, with its two ONNX sessions given the
    same thread count), the ratio of their wall times and of their CPU times, and the
    largest difference of any of the four scores;
  * at the largest thread count, ours in that many single-thread worker processes
    instead of one multi-thread process (threads against processes);
  * ASR for DWER/DCER: the batched Whisper path (``WhisperRecognizer.transcribe_many``:
    batches, over one one-thread worker per thread) vs one ``transcribe`` call per
    utterance with all the threads (the path DWER used before), utterances/s, the ratio,
    and which transcripts differ; utterances are source clips and their two-speaker
    mixtures (hard "estimates").  Then where the time goes: the encoder alone (Whisper
    encodes a 30 s window whatever the length) and the ratio no batching can pass, since
    batching shares only the decoder; with ``--asr-alternatives``, what would go faster
    and how many transcripts it changes (int8 weights; the encoder on the speech frames
    only, without the 30 s padding);
  * SI-SNR clips/s: ours (float64 numpy) vs torchmetrics.

Timings are interleaved: the clips are cut into groups of ``--group`` and each group
goes through ours and the reference back to back, alternating which goes first, so
load from other processes on a shared machine hits both alike.  Not a test (timings
vary by machine).  Needs the reference packages:

    .venv/bin/pip install -e '.[reference]'      # speechmos + librosa + torchmetrics
    .venv/bin/python benchmarks/metrics_speed.py --clips 16 --threads 1,2

Clips are the embedded set's ``s1`` sources (every ``80 / --clips``-th, so short and long
clips both occur), else synthetic speech-like signals; ``--folder`` takes FLAC files
from elsewhere (e.g. a Libri2Mix ``test/s1`` folder).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

SR = 16000
EMBEDDED = Path(__file__).resolve().parents[1] / "bench" / "data" / "embedded" / "Libri2Mix" / "wav16k" / "min" / \
    "test" / "s1"


def load_clips(count: int, seconds: float = 6.0, folder: Path = EMBEDDED) -> list[np.ndarray]:
    """``count`` clips spread evenly over the sorted FLAC files of ``folder`` (synthetic if too few)."""
    import soundfile as sf

    files = sorted(folder.glob("*.flac")) if folder.is_dir() else []
    if files and count:
        picks = np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int)
        files = [files[i] for i in sorted(set(picks))]
    clips = [sf.read(str(f), dtype="float32")[0] for f in files]
    rng = np.random.default_rng(0)
    while len(clips) < count:
        t = np.arange(int(seconds * SR)) / SR
        pitch = 120 + 40 * np.sin(2 * np.pi * 0.5 * t)
        clips.append((0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / SR) * (rng.random(t.size) > 0.1)).astype(np.float32))
    return clips


def limit_blas(threads: int):
    """Cap BLAS threads (librosa's matrix products) where threadpoolctl is installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(threads)


def side_by_side(ours: Callable[[list], list], theirs: Callable[[list], list], clips: list, group: int
                 ) -> tuple[dict[str, float], list, list]:
    """Wall and CPU seconds of each side over all clips, interleaved by group; and both outputs."""
    times = {"ours_wall": 0.0, "ours_cpu": 0.0, "ref_wall": 0.0, "ref_cpu": 0.0}
    out_ours: list = []
    out_ref: list = []
    for g, first in enumerate(range(0, len(clips), group)):
        part = clips[first:first + group]
        order = [("ours", ours, out_ours), ("ref", theirs, out_ref)]
        for side, fn, sink in (order if g % 2 == 0 else order[::-1]):
            wall, cpu = time.perf_counter(), time.process_time()
            sink.extend(fn(part))
            times[f"{side}_wall"] += time.perf_counter() - wall
            times[f"{side}_cpu"] += time.process_time() - cpu
    return times, out_ours, out_ref


# -- DNSMOS ----------------------------------------------------------------------------------------
def reference_dnsmos(threads: int):
    """speechmos's ``DNSMOS`` object with its two sessions at ``threads`` intra-op threads.

    ``speechmos.dnsmos.run`` builds the same object with ONNX Runtime's default options
    (every core); building it here only pins the thread count, the code that runs per
    clip is speechmos's own ``DNSMOS.__call__``.
    """
    import onnxruntime as ort
    from speechmos import dnsmos  # imports librosa

    from bench.metrics.dnsmos import model_paths

    primary, p808 = model_paths()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    model = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)
    model.primary_model_path = str(primary)
    model.onnx_sess = ort.InferenceSession(str(primary), options, providers=["CPUExecutionProvider"])
    model.p808_onnx_sess = ort.InferenceSession(str(p808), options, providers=["CPUExecutionProvider"])
    return lambda clips: [model(c, SR, False) for c in clips]


def score_diff(ours: Sequence, theirs: Sequence[dict]) -> float:
    keys = (("sig", "sig_mos"), ("bak", "bak_mos"), ("ovrl", "ovrl_mos"), ("p808", "p808_mos"))
    return max(abs(getattr(o, a) - float(r[b])) for o, r in zip(ours, theirs) for a, b in keys)


_WORKER_MODELS = None


def _worker_init() -> None:
    global _WORKER_MODELS
    from bench.metrics.dnsmos import DnsmosModels

    _WORKER_MODELS = DnsmosModels(threads=1)


def _worker_score(clips: list) -> list:
    return _WORKER_MODELS.score(clips)


def dnsmos_section(clips: list, threads_list: Sequence[int], group: int) -> None:
    from bench.metrics.dnsmos import DnsmosModels, tile, window_starts

    n_windows = sum(len(window_starts(tile(c))) for c in clips)
    print(f"DNSMOS: {len(clips)} clips, {n_windows} windows of 9.01 s")
    try:
        reference_dnsmos(1)
    except ImportError as exc:
        print(f"  speechmos/librosa unavailable ({exc}): pip install -e '.[reference]'")
        return
    for threads in threads_list:
        ours_models = DnsmosModels(threads=threads)
        theirs = reference_dnsmos(threads)
        with limit_blas(threads):
            ours_models.score(clips[:1]), theirs(clips[:1])  # warm-up: session initialisation
            t, ours, ref = side_by_side(ours_models.score, theirs, clips, group)
        print(f"  {threads} thread(s): ours {len(clips) / t['ours_wall']:.3f} clips/s, "
              f"speechmos {len(clips) / t['ref_wall']:.3f} clips/s; ratio {t['ref_wall'] / t['ours_wall']:.2f}x wall, "
              f"{t['ref_cpu'] / t['ours_cpu']:.2f}x CPU; max |score diff| {score_diff(ours, ref):.1e}")
    workers = max(threads_list)
    if workers > 1:
        theirs = reference_dnsmos(workers)
        with ProcessPoolExecutor(workers, initializer=_worker_init) as pool, limit_blas(workers):
            list(pool.map(_worker_score, [clips[:1]] * workers))  # warm-up in every worker

            def in_processes(part: list) -> list:
                return [s for chunk in pool.map(_worker_score, [[c] for c in part]) for s in chunk]

            t, ours, ref = side_by_side(in_processes, theirs, clips, max(group, workers))
        print(f"  {workers} processes x 1 thread: ours {len(clips) / t['ours_wall']:.3f} clips/s, "
              f"speechmos ({workers} threads) {len(clips) / t['ref_wall']:.3f} clips/s; "
              f"ratio {t['ref_wall'] / t['ours_wall']:.2f}x wall; max |score diff| {score_diff(ours, ref):.1e}")


# -- ASR (DWER/DCER) -------------------------------------------------------------------------------
def asr_utterances(count: int, folder: Path = EMBEDDED) -> list[np.ndarray]:
    """References and hard "estimates": each source clip and its two-speaker mixture, interleaved."""
    import soundfile as sf

    sources = load_clips(count, folder=folder)
    mixtures = folder.parent / "mix_clean"
    files = sorted(folder.glob("*.flac")) if folder.is_dir() else []
    out = []
    for i, clip in enumerate(sources):
        out.append(clip)
        if files and mixtures.is_dir():
            picks = np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int)
            out.append(sf.read(str(mixtures / files[sorted(set(picks))[i]].name), dtype="float32")[0])
    return out


def asr_section(count: int, threads_list: Sequence[int], batch: int, beam: int, alternatives: bool) -> None:
    from bench.metrics.asr import WhisperRecognizer

    utterances = asr_utterances(count)
    print(f"ASR (Whisper, the DWER/DCER recogniser, beam {beam}): {len(utterances)} utterances "
          f"({sum(map(len, utterances)) / SR:.1f} s), batches of {batch}")
    reference_texts = None
    for threads in threads_list:
        try:
            recognizer = WhisperRecognizer(threads=threads, beam_size=beam)
            recognizer.transcribe(utterances[0], SR)  # warm-up: model loads
            recognizer.transcribe_many(utterances[:2], SR)
        except Exception as exc:  # noqa: BLE001 - no model here: say so and go on
            print(f"  Whisper unavailable ({exc})")
            return
        recognizer.BATCH = batch
        with limit_blas(threads):
            t, many, one = side_by_side(lambda part: recognizer.transcribe_many(part, SR),
                                        lambda part: [recognizer.transcribe(u, SR) for u in part], utterances, batch)
            encoder = encoder_seconds(recognizer._load(), utterances)
        reference_texts = reference_texts or one
        differ = sum(a != b for a, b in zip(many, one))
        one_s = t["ref_wall"] / len(utterances)
        print(f"  {threads} thread(s): batched over {recognizer.workers()} worker(s) "
              f"{len(utterances) / t['ours_wall']:.3f} utt/s, one by one {1 / one_s:.3f} utt/s; "
              f"ratio {t['ref_wall'] / t['ours_wall']:.2f}x wall, {t['ref_cpu'] / t['ours_cpu']:.2f}x CPU; "
              f"{differ} of {len(utterances)} transcripts differ")
        print(f"    one by one {one_s:.3f} s/utt, of which features + encoder (30 s window, {threads} thread(s)) "
              f"{encoder:.3f} s ({100 * encoder / one_s:.0f} %): batching, which shares only the decoder, "
              f"stays under {one_s / encoder:.2f}x on one worker")
        for a, b in zip(many, one):
            if a != b:
                print(f"    batched:    {a!r}\n    one by one: {b!r}")
    if alternatives and reference_texts is not None:
        asr_alternatives(utterances, reference_texts, beam)


def encoder_seconds(model, utterances: list) -> float:
    """Wall seconds per utterance of ``transcribe``'s first steps: features, padded to 30 s, encoded."""
    from faster_whisper.audio import pad_or_trim

    start = time.perf_counter()
    for audio in utterances:
        model.encode(pad_or_trim(model.feature_extractor(audio)[:, :-1])[None])
    return (time.perf_counter() - start) / len(utterances)


def asr_alternatives(utterances: list, reference_texts: list, beam: int) -> None:
    """At one thread: faster ways that change transcripts, against the float32 one-by-one texts."""
    import ctranslate2
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    from bench.metrics.asr import WhisperRecognizer

    def report(label: str, seconds: float, texts: list) -> None:
        differ = sum(a != b for a, b in zip(texts, reference_texts))
        print(f"  {label}: {len(utterances) / seconds:.3f} utt/s one by one; {differ} of {len(utterances)} "
              "transcripts differ from float32")

    for compute_type in ("int8", "int8_float32"):
        recognizer = WhisperRecognizer(threads=1, beam_size=beam, compute_type=compute_type)
        recognizer.transcribe(utterances[0], SR)
        start = time.perf_counter()
        texts = [recognizer.transcribe(u, SR) for u in utterances]
        report(f"1 thread, {compute_type} weights", time.perf_counter() - start, texts)
    recognizer = WhisperRecognizer(threads=1, beam_size=beam)
    model = recognizer._load()
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
    prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
    start, texts = time.perf_counter(), []
    # CTranslate2 takes fewer than 3000 frames (Whisper was trained on 30 s windows); no no-speech rule here
    for audio in utterances:
        features = model.feature_extractor(audio)[:, :-1]
        features = np.ascontiguousarray(features[None, :, : features.shape[-1] // 2 * 2])
        encoded = model.model.encode(ctranslate2.StorageView.from_array(features))
        result = model.model.generate(encoded, [list(prompt)], beam_size=beam, patience=1.0,
                                      max_length=model.max_length, suppress_blank=True,
                                      suppress_tokens=get_suppressed_tokens(tokenizer, [-1]))
        texts.append(tokenizer.decode(result[0].sequences_ids[0]).strip())
    report("1 thread, encoder on the speech frames only (no 30 s padding)", time.perf_counter() - start, texts)


# -- SI-SNR ----------------------------------------------------------------------------------------
def sisnr_section(clips: list) -> None:
    from bench.metrics.sisnr import si_snr

    refs = [c[::-1].copy() for c in clips]
    reps = 20

    def rate(fn) -> float:
        start = time.perf_counter()
        fn()
        return reps * len(clips) / (time.perf_counter() - start)

    ours = rate(lambda: [si_snr(e, r) for _ in range(reps) for e, r in zip(clips, refs)])
    try:
        import torch
        from torchmetrics.functional.audio import scale_invariant_signal_noise_ratio
    except ImportError as exc:
        print(f"SI-SNR: ours {ours:.0f} clips/s; torchmetrics unavailable ({exc})")
        return
    theirs = rate(lambda: [float(scale_invariant_signal_noise_ratio(torch.from_numpy(e), torch.from_numpy(r)))
                           for _ in range(reps) for e, r in zip(clips, refs)])
    print(f"SI-SNR: ours {ours:.0f} clips/s, torchmetrics {theirs:.0f} clips/s, ratio {ours / theirs:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of synthetic clips")
    parser.add_argument("--folder", type=Path, default=EMBEDDED, help="FLAC clips (default: the embedded s1)")
    parser.add_argument("--threads", default="1,2", help="thread counts to compare at, e.g. 1,2")
    parser.add_argument("--group", type=int, default=4, help="clips per interleaved timing group")
    parser.add_argument("--asr-clips", type=int, default=8, help="source clips for ASR (each with its mixture)")
    parser.add_argument("--asr-batch", type=int, default=8,
                        help="utterances per batch (a scoring task holds 2 references + 2 per system)")
    parser.add_argument("--asr-beam", type=int, default=5, help="Whisper beam (5: the harness default; 1: greedy)")
    parser.add_argument("--asr-alternatives", action="store_true",
                        help="also time int8 weights and an unpadded encoder, and count the transcripts they change")
    parser.add_argument("--sections", default="dnsmos,asr,sisnr")
    args = parser.parse_args()
    clips = load_clips(args.clips, args.seconds, args.folder)
    print(f"{len(clips)} clips, {sum(map(len, clips)) / SR:.1f} s of audio")
    threads = [int(t) for t in args.threads.split(",")]
    sections = set(args.sections.split(","))
    if "dnsmos" in sections:
        dnsmos_section(clips, threads, args.group)
    if "asr" in sections:
        asr_section(args.asr_clips, threads, args.asr_batch, args.asr_beam, args.asr_alternatives)
    if "sisnr" in sections:
        sisnr_section(clips)


if __name__ == "__main__":
    main()
