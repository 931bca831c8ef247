"""ViSQOL v3 speech mode (Chinen et al. 2020): the TokenSplit paper's full-reference quality column.

Computed by ``visqol-python``, a port of Google's C++ ViSQOL v3.3.3 whose speech mode is
conformance-tested against it, with the deep-lattice MOS mapper that the C++ tool uses by
default (``ai-edge-litert`` runs the bundled ``.tflite``).  The polynomial mapper the package
falls back to without that runtime over-predicts degraded speech by 1-2 MOS, so this metric
refuses to run without the lattice instead of storing numbers of another scale.

Speech mode works at 16 kHz: inputs at another rate are resampled here first.  Arguments
go in ViSQOL's order, reference then degraded (the score is not symmetric).  ViSQOL aligns
the estimate to the reference itself (global and patch-wise), which is why the TokenSplit
paper uses it for generated speech that SI-SNR cannot judge.

``visqol`` is an optional extra (``pip install -e '.[visqol]'``): libsvm-official builds
from source and the lattice needs ai-edge-litert.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from typing import ClassVar, Iterator

import numpy as np

from bench.metrics.base import Metric, MetricInput

SAMPLE_RATE = 16000
INSTALL_HINT = "pip install -e '.[visqol]'"


def unavailable_reason() -> str | None:
    """Why ViSQOL cannot run here (package or lattice runtime missing), or ``None``."""
    if importlib.util.find_spec("visqol") is None:
        return f"the visqol-python package is not installed ({INSTALL_HINT})"
    if importlib.util.find_spec("ai_edge_litert") is None:
        return ("ai-edge-litert is not installed, so ViSQOL's speech mode would fall back to its "
                f"polynomial mapper, which is not the C++ default scale ({INSTALL_HINT})")
    return None


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block.

    Why: loading the lattice, the LiteRT C++ runtime writes an INFO line straight to the
    process's stderr (not through Python), once per worker, which broke ``--quiet`` runs.
    Errors still surface as Python exceptions.
    """
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def make_speech_api():
    """A ViSQOL speech-mode instance with the lattice mapper (the C++ default)."""
    import logging

    from visqol import VisqolApi

    logging.getLogger("visqol").setLevel(logging.ERROR)
    api = VisqolApi()
    with native_stderr_silenced():
        api.create(mode="speech", use_lattice_model=True)
    return api


def visqol_speech(estimate: np.ndarray, reference: np.ndarray, api=None) -> float:
    """MOS-LQO (1 to 5) of ``estimate`` against ``reference``, both 16 kHz mono.

    The package answers NaN (with a warning) for an all-zero estimate; that would poison a
    mean without a word, so a silent estimate or a NaN is raised instead and the row is
    stored as failed with the reason.
    """
    if not np.any(estimate):
        raise ValueError("ViSQOL is undefined here: the estimate is silent")
    api = api or make_speech_api()
    result = api.measure_from_arrays(np.asarray(reference, dtype=np.float64),
                                     np.asarray(estimate, dtype=np.float64), SAMPLE_RATE)
    score = float(result.moslqo)
    if not np.isfinite(score):
        raise ValueError("ViSQOL is undefined here (the package answered NaN)")
    return score


class ViSQOL(Metric):
    """ViSQOL v3 speech-mode MOS-LQO, 1 to 5 (higher is better); column ``visqol``."""

    name: ClassVar[str] = "visqol"
    #: the C++ release the port follows, and the mapper (scores of the two mappers differ)
    version: ClassVar[str] = "3.3.3-speech-lattice"
    sample_rate = SAMPLE_RATE

    def __init__(self) -> None:
        self._api = None

    def unavailable_reason(self) -> str | None:
        return unavailable_reason()

    def compute(self, item: MetricInput) -> dict[str, float]:
        if self._api is None:
            self._api = make_speech_api()
        estimate, reference = item.estimate, item.reference
        if item.sample_rate != SAMPLE_RATE:
            from bench.audio import resample

            estimate = resample(estimate, item.sample_rate, SAMPLE_RATE)
            reference = resample(reference, item.sample_rate, SAMPLE_RATE)
        return {"": visqol_speech(estimate, reference, self._api)}
