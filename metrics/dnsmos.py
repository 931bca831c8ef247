"""DNSMOS P.835 (SIG, BAK, OVRL) and P.808 with Microsoft's ONNX models.

The algorithm is Microsoft's ``dnsmos_local.py`` (DNS Challenge repository), step by
step, because papers quote numbers from that script (usually through the
``speechmos`` package, which wraps it):

1. 16 kHz input (other rates are resampled here, with a log line);
2. a clip shorter than 9.01 s is tiled (appended to itself until long enough);
3. 9.01 s windows with a 1 s hop; each window gives raw SIG/BAK/OVRL from
   ``sig_bak_ovr.onnx`` (fed the raw samples) and P.808 from ``model_v8.onnx`` (fed
   the window minus its last 160 samples as a 120-band mel spectrogram, n_fft 321,
   hop 160, ``(power_to_db(ref=max) + 40) / 40``);
4. the raw P.835 scores go through the published polynomial fits (quadratic for the
   default model, cubic for the personalised one) and every score is averaged over
   the windows.

The ONNX files are the ones shipped in the ``speechmos`` wheel, found with importlib
without importing speechmos's Python code (which imports librosa).  Windows of all
clips of a scoring task go through each ONNX model in one call.  Runs on CPU (the
models are small); ``--device cuda`` does not move it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from bench.metrics.base import Metric, MetricInput
from bench.metrics.mel import mel_spectrogram, power_to_db

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
INPUT_LENGTH = 9.01  # seconds per window, as in dnsmos_local.py
P808_TRIM = 160  # the P.808 model sees the window minus its last hop
N_MELS, N_FFT, HOP = 120, 321, 160

#: polynomial fits from raw model outputs to MOS, highest power first (np.poly1d order)
POLY_DEFAULT = {
    "sig": (-0.08397278, 1.22083953, 0.0052439),
    "bak": (-0.13166888, 1.60915514, -0.39604546),
    "ovrl": (-0.06766283, 1.11546468, 0.04602535),
}
POLY_PERSONALIZED = {
    "sig": (-0.01019296, 0.02751166, 1.19576786, -0.24348726),
    "bak": (-0.04976499, 0.44276479, -0.1644611, 0.96883132),
    "ovrl": (-0.00533021, 0.005101, 1.18058466, -0.11236046),
}


def model_dir() -> Path:
    """The installed ``speechmos`` package folder (holds ``dnsmos_models/``), without importing it."""
    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the speechmos package (which ships the DNSMOS ONNX models) is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def model_paths(personalized: bool = False) -> tuple[Path, Path]:
    """(P.835 model, P.808 model) paths."""
    root = model_dir()
    primary = root / ("pdnsmos_models" if personalized else "dnsmos_models") / "sig_bak_ovr.onnx"
    return primary, root / "dnsmos_models" / "model_v8.onnx"


def windows(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The 9.01 s analysis windows of one clip [num_windows, 144160], as dnsmos_local.py cuts them."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0:
        raise ValueError("DNSMOS of an empty signal is undefined")
    len_samples = int(INPUT_LENGTH * sample_rate)
    while len(audio) < len_samples:
        audio = np.append(audio, audio)
    num_hops = int(np.floor(len(audio) / sample_rate) - INPUT_LENGTH) + 1
    out = []
    for idx in range(num_hops):
        # same float expressions as the reference, so the boundaries round identically
        segment = audio[int(idx * sample_rate): int((idx + INPUT_LENGTH) * sample_rate)]
        if len(segment) >= len_samples:
            out.append(segment)
    return np.stack(out)


def p808_features(window: np.ndarray) -> np.ndarray:
    """The P.808 model input for one window: [900, 120] float32."""
    mel = mel_spectrogram(window[:-P808_TRIM], SAMPLE_RATE, N_FFT, HOP, N_MELS)
    return ((power_to_db(mel, ref="max") + 40.0) / 40.0).T.astype(np.float32)


@dataclass(frozen=True)
class DnsmosScores:
    sig: float
    bak: float
    ovrl: float
    p808: float


class DnsmosModels:
    """The two ONNX sessions, loaded once; scores many clips with batched windows."""

    def __init__(self, personalized: bool = False, threads: int | None = None, batch_windows: int = 4) -> None:
        import onnxruntime as ort

        primary, p808 = model_paths(personalized)
        options = ort.SessionOptions()
        # the P.835 model's activations take ~150 MB per window: no arena (memory is returned after
        # each call) and modest batches keep a worker's memory flat; larger batches gain nothing on CPU
        options.enable_cpu_mem_arena = False
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        self.primary = ort.InferenceSession(str(primary), options, providers=providers)
        self.p808 = ort.InferenceSession(str(p808), options, providers=providers)
        self.polys = {k: np.poly1d(v) for k, v in (POLY_PERSONALIZED if personalized else POLY_DEFAULT).items()}
        self.batch_windows = max(1, batch_windows)

    def score(self, clips: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> list[DnsmosScores]:
        """Scores of each clip (1-D float arrays at ``sample_rate``)."""
        if sample_rate != SAMPLE_RATE:
            from bench.audio import resample

            log.info("DNSMOS: resampling %d clips from %d Hz to %d Hz", len(clips), sample_rate, SAMPLE_RATE)
            clips = [resample(np.asarray(c, dtype=np.float32), sample_rate, SAMPLE_RATE) for c in clips]
        per_clip = [windows(c) for c in clips]
        stacked = np.concatenate(per_clip)
        raw = np.concatenate([self._run(stacked[i:i + self.batch_windows])
                              for i in range(0, len(stacked), self.batch_windows)])
        out, start = [], 0
        for w in per_clip:
            part = raw[start:start + len(w)]
            start += len(w)
            sig = float(np.mean(self.polys["sig"](part[:, 0])))
            bak = float(np.mean(self.polys["bak"](part[:, 1])))
            ovrl = float(np.mean(self.polys["ovrl"](part[:, 2])))
            out.append(DnsmosScores(sig, bak, ovrl, float(np.mean(part[:, 3]))))
        return out

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """[n, 4]: raw SIG, BAK, OVRL and P.808 MOS of each window."""
        p835 = self.primary.run(None, {"input_1": batch.astype(np.float32)})[0]
        feats = np.stack([p808_features(w) for w in batch])
        p808 = self.p808.run(None, {"input_1": feats})[0]
        return np.concatenate([p835.astype(np.float64), p808.astype(np.float64)[:, :1]], axis=1)


class DNSMOS(Metric):
    """Non-intrusive DNSMOS of each estimate (higher is better; 1 to 5).

    Columns ``dnsmos_p808`` (what papers call "DNSMOS"), ``dnsmos_ovrl``,
    ``dnsmos_sig``, ``dnsmos_bak``.  Math threads follow ``--threads``
    (``OMP_NUM_THREADS`` in the worker).
    """

    name: ClassVar[str] = "dnsmos"
    fields = ("p808", "ovrl", "sig", "bak")
    intrusive = False
    sample_rate = SAMPLE_RATE
    personalized: ClassVar[bool] = False

    def __init__(self, threads: int | None = None) -> None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        self.threads = threads or (int(env) if env.isdigit() else None)
        self._models: DnsmosModels | None = None

    def unavailable_reason(self) -> str | None:
        try:
            paths = model_paths(self.personalized)
        except FileNotFoundError as exc:
            return f"{exc} (pip install speechmos)"
        missing = [str(p) for p in paths if not p.is_file()]
        return f"model files missing: {', '.join(missing)}" if missing else None

    @property
    def models(self) -> DnsmosModels:
        if self._models is None:  # lazily, once per worker
            self._models = DnsmosModels(self.personalized, self.threads)
        return self._models

    def compute(self, item: MetricInput) -> dict[str, float]:
        result = self.compute_many([item])[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def compute_many(self, items: Sequence[MetricInput]) -> list[dict[str, float] | BaseException]:
        by_rate: dict[int, list[int]] = {}
        for i, item in enumerate(items):
            by_rate.setdefault(item.sample_rate, []).append(i)
        out: list[dict[str, float] | BaseException] = [ValueError("not scored")] * len(items)
        for rate, idx in by_rate.items():
            good = [i for i in idx if items[i].estimate.size > 0]
            for i in set(idx) - set(good):
                out[i] = ValueError("DNSMOS of an empty signal is undefined")
            if not good:
                continue
            scores = self.models.score([items[i].estimate for i in good], rate)
            for i, s in zip(good, scores):
                out[i] = {"p808": s.p808, "ovrl": s.ovrl, "sig": s.sig, "bak": s.bak}
        return out


class PersonalizedDNSMOS(DNSMOS):
    """DNSMOS with the personalised P.835 model (``pdnsmos_models``, cubic fits)."""

    name: ClassVar[str] = "pdnsmos"
    personalized = True
