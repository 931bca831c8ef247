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
without importing speechmos's Python code (which imports librosa).

Speed without changing the numbers: the windows of a clip overlap by 8 s, so both
networks' expensive time-local layers run once per clip and each window reads its share
(:mod:`bench.metrics.dnsmos_share`, the graph cut in :mod:`bench.metrics.dnsmos_graph`);
the P.808 mel spectrogram is computed once per clip too (:mod:`bench.metrics.dnsmos_p808`).
Scores equal speechmos's to about 1e-6 at a third or less of its compute.
ONNX Runtime keeps its memory arena: the trunk runs on chunks of at most one window's
frames, so the arena's blocks are reused call after call instead of growing (turning
the arena off cost more system time than the models' compute).  ``device="cuda[:N]"``
runs the three ONNX parts on the CUDA execution provider when the ``onnxruntime-gpu``
wheel is installed (``pip install 'jsac-bench[gpu]'``); without it DNSMOS stays on the
CPU and says so once in the log.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Sequence

import numpy as np

from bench.metrics.base import Metric, MetricInput
from bench.metrics.dnsmos_graph import SplitModel, split_p808, split_p835
from bench.metrics.dnsmos_p808 import shared_inputs
from bench.metrics.dnsmos_share import ClipWindows, Stages, frames, window_scores
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


def tile(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The clip appended to itself until it is one window long, as dnsmos_local.py does."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0:
        raise ValueError("DNSMOS of an empty signal is undefined")
    len_samples = int(INPUT_LENGTH * sample_rate)
    while len(audio) < len_samples:
        audio = np.append(audio, audio)
    return audio


def window_starts(tiled: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[int, ...]:
    """Sample offsets of the analysis windows of a tiled clip, by the reference's rule.

    The reference cuts ``audio[int(idx * sr): int((idx + 9.01) * sr)]`` and skips a
    segment shorter than a window; the same float expressions are kept here so the
    boundaries round identically.
    """
    len_samples = int(INPUT_LENGTH * sample_rate)
    num_hops = int(np.floor(len(tiled) / sample_rate) - INPUT_LENGTH) + 1
    return tuple(int(idx * sample_rate) for idx in range(num_hops)
                 if len(tiled[int(idx * sample_rate): int((idx + INPUT_LENGTH) * sample_rate)]) >= len_samples)


def windows(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The 9.01 s analysis windows of one clip [num_windows, 144160], as dnsmos_local.py cuts them."""
    tiled = tile(audio, sample_rate)
    length = int(INPUT_LENGTH * sample_rate)
    return np.stack([tiled[s:s + length] for s in window_starts(tiled, sample_rate)])


def p808_features(window: np.ndarray) -> np.ndarray:
    """The P.808 model input for one window: [900, 120] float32 (the reference's per-window recipe)."""
    mel = mel_spectrogram(window[:-P808_TRIM], SAMPLE_RATE, N_FFT, HOP, N_MELS)
    return ((power_to_db(mel, ref="max") + 40.0) / 40.0).T.astype(np.float32)


@dataclass(frozen=True)
class DnsmosScores:
    sig: float
    bak: float
    ovrl: float
    p808: float


def providers(device: str = "cpu") -> list:
    """ONNX Runtime execution providers for ``device`` (``cpu``, ``cuda`` or ``cuda:N``).

    CUDA needs the ``onnxruntime-gpu`` wheel; without its provider the models run on the
    CPU (logged once), since DNSMOS on the CPU gives the same numbers, only slower.
    """
    if not device.startswith("cuda"):
        return ["CPUExecutionProvider"]
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        log.warning("DNSMOS: --device %s asked for, but onnxruntime has no CUDA provider "
                    "(pip install 'jsac-bench[gpu]'); running on the CPU", device)
        return ["CPUExecutionProvider"]
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]


class DnsmosModels:
    """The ONNX sessions of both models, each cut in three parts, loaded once; scores many clips.

    ``threads``: intra-op threads of each session (``None``: ONNX Runtime's default,
    every core).  ``head_batch``: windows per head call.
    """

    def __init__(self, personalized: bool = False, threads: int | None = None, device: str = "cpu",
                 head_batch: int = 8) -> None:
        import onnxruntime as ort

        primary, p808 = model_paths(personalized)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.providers = providers(device)

        def stages(split: SplitModel) -> Stages:
            run = [self._runner(ort.InferenceSession(m, options, providers=self.providers))
                   for m in (split.stage_a, split.stage_b, split.head)]
            return Stages(run[0], run[1], run[2], split.edges)

        self.p835 = stages(split_p835(primary))
        self.p808 = stages(split_p808(p808))
        self.polys = {k: np.poly1d(v) for k, v in (POLY_PERSONALIZED if personalized else POLY_DEFAULT).items()}
        self.head_batch = max(1, head_batch)

    def score(self, clips: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> list[DnsmosScores]:
        """Scores of each clip (1-D float arrays at ``sample_rate``)."""
        if sample_rate != SAMPLE_RATE:
            from bench.audio import resample

            log.info("DNSMOS: resampling %d clips from %d Hz to %d Hz", len(clips), sample_rate, SAMPLE_RATE)
            clips = [resample(np.asarray(c, dtype=np.float32), sample_rate, SAMPLE_RATE) for c in clips]
        cut = []
        for clip in clips:
            tiled = tile(clip)
            cut.append(ClipWindows(tiled, window_starts(tiled)))
        p835 = window_scores(frames(cut), self.p835, self.head_batch)
        p808_stream, order = shared_inputs(cut)
        p808_raw = window_scores(p808_stream, self.p808, self.head_batch)[:, 0]
        first = np.cumsum([0] + [len(c.starts) for c in cut])
        p808 = np.empty(len(order))
        p808[[first[c] + k for c, k in order]] = p808_raw
        out = []
        for c in range(len(cut)):
            part, mos = p835[first[c]:first[c + 1]], p808[first[c]:first[c + 1]]
            sig = float(np.mean(self.polys["sig"](part[:, 0])))
            bak = float(np.mean(self.polys["bak"](part[:, 1])))
            ovrl = float(np.mean(self.polys["ovrl"](part[:, 2])))
            out.append(DnsmosScores(sig, bak, ovrl, float(np.mean(mos))))
        return out

    @staticmethod
    def _runner(session) -> Callable[[np.ndarray], np.ndarray]:
        """An ONNX session as a function of its one input."""
        input_name = session.get_inputs()[0].name
        return lambda x: session.run(None, {input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]


class DNSMOS(Metric):
    """Non-intrusive DNSMOS of each estimate (higher is better; 1 to 5).

    Columns ``dnsmos_p808`` (what papers call "DNSMOS"), ``dnsmos_ovrl``,
    ``dnsmos_sig``, ``dnsmos_bak``.  Math threads follow ``--threads``
    (``OMP_NUM_THREADS`` in the worker); ``--device cuda`` moves the ONNX models to the
    GPU where onnxruntime-gpu is installed (:func:`providers`).
    """

    name: ClassVar[str] = "dnsmos"
    fields = ("p808", "ovrl", "sig", "bak")
    intrusive = False
    sample_rate = SAMPLE_RATE
    personalized: ClassVar[bool] = False

    def __init__(self, threads: int | None = None, device: str = "cpu") -> None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        self.threads = threads or (int(env) if env.isdigit() else None)
        self.device = device
        self._models: DnsmosModels | None = None

    def use_device(self, device: str) -> None:
        self.device = device
        self._models = None

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
            self._models = DnsmosModels(self.personalized, self.threads, self.device)
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
                out[i] = {field: getattr(s, field) for field in self.fields}
        return out


class PersonalizedDNSMOS(DNSMOS):
    """DNSMOS with the personalised P.835 model (``pdnsmos_models``, cubic fits): speechmos's
    ``model_type="dnsmos_personalized"``.

    The personalised model also penalises an interfering talker (the DNS Challenge's
    personalised track), which is what a separator leaves behind.  Columns ``pdnsmos_ovrl``,
    ``pdnsmos_sig``, ``pdnsmos_bak``: P.808 has no personalised model, so its score would
    repeat ``dnsmos_p808``.  Registered to run only when named (``--metrics pdnsmos``), so a
    run without ``--metrics`` costs what it did.
    """

    name: ClassVar[str] = "pdnsmos"
    fields = ("ovrl", "sig", "bak")
    personalized = True
