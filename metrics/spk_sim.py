"""Speaker similarity: cosine of ECAPA-TDNN speaker embeddings of estimate and reference.

The embedding model is speechbrain's ``spkrec-ecapa-voxceleb`` read from a local
folder (``bench assets fetch ecapa``, or ``$JSAC_BENCH_ECAPA``); nothing is downloaded
at run time, and without the files the metric is unavailable.  16 kHz input; the
model loads lazily once per worker and runs on CPU.  Its ``hyperparams.yaml`` is checked
against an allow-list of the ECAPA model's own classes before speechbrain reads it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.metrics.base import Metric, MetricInput

ENV = "JSAC_BENCH_ECAPA"
SAMPLE_RATE = 16000
REQUIRED = ("hyperparams.yaml", "embedding_model.ckpt", "mean_var_norm_emb.ckpt")


def find_model_dir() -> Path | None:
    from bench.assets import ASSETS, asset_dir

    for folder in ([Path(os.environ[ENV]).expanduser()] if os.environ.get(ENV) else []) + [asset_dir(ASSETS["ecapa"])]:
        if all((folder / name).is_file() for name in REQUIRED):
            return folder
    return None


#: what the ECAPA model's hyperparams.yaml may build; speechbrain reads the file with hyperpyyaml, whose
#: ``!apply:``/``!name:`` tags run any code, so the file is checked against this list first
ECAPA_ALLOWED = frozenset({
    "speechbrain.lobes.features.Fbank", "speechbrain.processing.features.InputNormalization",
    "speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN", "speechbrain.lobes.models.ECAPA_TDNN.Classifier",
    "speechbrain.dataio.encoder.CategoricalEncoder", "speechbrain.utils.parameter_transfer.Pretrainer",
})


def check_hparams(path: Path) -> None:
    """Refuse a ``hyperparams.yaml`` with tags outside :data:`ECAPA_ALLOWED` (one line naming the tag)."""
    from bench.baselines.separators.hparams import check_text

    check_text(path.read_text(encoding="utf-8"), str(path), allowed=ECAPA_ALLOWED, ignored=frozenset())


class SpeakerSimilarity(Metric):
    """Cosine similarity, -1 to 1 (higher is better); column ``spk_sim``."""

    name: ClassVar[str] = "spk_sim"
    sample_rate = SAMPLE_RATE

    def __init__(self) -> None:
        self._encoder = None

    def unavailable_reason(self) -> str | None:
        if find_model_dir() is None:
            return (f"weights not found (run `bench assets fetch ecapa` or set {ENV} to a folder with "
                    f"{', '.join(REQUIRED)})")
        return None

    def _embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        import torch

        if self._encoder is None:
            from speechbrain.inference.speaker import EncoderClassifier

            folder = find_model_dir()
            if folder is None:
                raise FileNotFoundError(self.unavailable_reason())
            check_hparams(folder / "hyperparams.yaml")
            self._encoder = EncoderClassifier.from_hparams(
                source=str(folder), savedir=str(folder), overrides={"pretrained_path": str(folder)},
                run_opts={"device": "cpu"})
        if sample_rate != SAMPLE_RATE:
            from bench.audio import resample

            audio = resample(audio, sample_rate, SAMPLE_RATE)
        with torch.inference_mode():
            emb = self._encoder.encode_batch(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None])
        return emb.reshape(-1).double().numpy()

    def compute(self, item: MetricInput) -> dict[str, float]:
        a = self._embed(item.estimate, item.sample_rate)
        b = self._embed(item.reference, item.sample_rate)
        return {"": float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))}
