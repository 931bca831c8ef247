"""UTMOS (UTMOS22 strong learner) as a non-intrusive naturalness MOS metric.

The weights are not on PyPI, so they come from ``bench assets fetch utmos`` (or
``utmos-official``) or from a path in ``$JSAC_BENCH_UTMOS`` (the converted ``.pt``
file, or a folder holding either form).  Without them the metric is unavailable:
no substitute number is ever produced.  The model loads lazily, once per worker,
and runs on CPU.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from bench.metrics.base import Metric, MetricInput

ENV = "JSAC_BENCH_UTMOS"
SAMPLE_RATE = 16000
CONVERTED = "utmos22_strong_step7459_v1.pt"
OFFICIAL = ("epoch=3-step=7459.ckpt", "wav2vec_small.pt")


def find_weights() -> tuple[str, tuple[Path, ...]] | None:
    """("converted", (pt,)) or ("official", (ckpt, wav2vec)) from the env var or the asset cache."""
    from bench.assets import ASSETS, asset_dir

    candidates: list[Path] = []
    if os.environ.get(ENV):
        path = Path(os.environ[ENV]).expanduser()
        if path.is_file():
            return "converted", (path,)
        candidates.append(path)
    candidates.append(asset_dir(ASSETS["utmos"]))
    for folder in candidates:
        if (folder / CONVERTED).is_file():
            return "converted", (folder / CONVERTED,)
        if all((folder / name).is_file() for name in OFFICIAL):
            return "official", tuple(folder / name for name in OFFICIAL)
    return None


def load_model(kind: str, paths: tuple[Path, ...]):
    from bench.metrics.utmos.checkpoint import load_converted, load_official

    return load_converted(paths[0]) if kind == "converted" else load_official(*paths)


class UTMOS(Metric):
    """Predicted naturalness MOS of the estimate (UTMOS22 strong), about 1 to 5; column ``utmos``."""

    name: ClassVar[str] = "utmos"
    intrusive = False
    sample_rate = SAMPLE_RATE

    def __init__(self) -> None:
        self._model = None

    def unavailable_reason(self) -> str | None:
        if find_weights() is None:
            return (f"weights not found (run `bench assets fetch utmos` or set {ENV} to "
                    f"{CONVERTED} or a folder with it or with {' + '.join(OFFICIAL)})")
        return None

    def compute(self, item: MetricInput) -> dict[str, float]:
        import torch

        if self._model is None:  # lazily, once per worker
            found = find_weights()
            if found is None:
                raise FileNotFoundError(self.unavailable_reason())
            self._model = load_model(*found)
        wave = torch.from_numpy(np.ascontiguousarray(item.estimate, dtype=np.float32))[None]
        if item.sample_rate != SAMPLE_RATE:
            import torchaudio

            wave = torchaudio.functional.resample(wave, item.sample_rate, SAMPLE_RATE)
        with torch.inference_mode():
            return {"": float(self._model(wave)[0])}
