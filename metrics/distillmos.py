"""DistillMOS: a small non-intrusive MOS predictor distilled from XLS-R SQA (Stahl & Gamper 2025).

Uses the ``distillmos`` package's own model class and the weights inside its wheel
(``distillmos/weights/distill_mos_v7.pt``), so the numbers are the package's: 16 kHz
input, peak normalisation and 7.68 s crops with the package's own overlap rule, all
inside its ``forward``.  The model is built lazily once per worker.  It runs on CPU.

``distillmos`` is an optional extra (``pip install 'jsac-bench[distillmos]'``)
because its dependency ``xls-r-sqa`` pulls transformers and librosa; without it the
metric is reported unavailable.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from typing import ClassVar

import numpy as np

from bench.metrics.base import Metric, MetricInput

SAMPLE_RATE = 16000


class DistillMOS(Metric):
    """Predicted MOS of the estimate, 1 to 5 (higher is better); column ``distillmos``."""

    name: ClassVar[str] = "distillmos"
    intrusive = False
    sample_rate = SAMPLE_RATE

    def __init__(self) -> None:
        self._model = None

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("distillmos") is None:
            return "the distillmos package is not installed (pip install 'jsac-bench[distillmos]')"
        return None

    def _load(self):
        if self._model is None:
            import torch
            from distillmos import ConvTransformerSQAModel

            with contextlib.redirect_stdout(io.StringIO()):  # the package prints a line on load
                model = ConvTransformerSQAModel()
            self._model = model.eval()
            self._torch = torch
        return self._model

    def compute(self, item: MetricInput) -> dict[str, float]:
        model = self._load()
        audio = np.asarray(item.estimate, dtype=np.float32)
        if item.sample_rate != SAMPLE_RATE:
            from bench.audio import resample

            audio = resample(audio, item.sample_rate, SAMPLE_RATE)
        with self._torch.inference_mode():
            score = model(self._torch.from_numpy(np.ascontiguousarray(audio))[None])
        return {"": float(score.reshape(-1)[0])}
