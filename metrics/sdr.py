"""SI-SDR and SDR improvement, computed with ``fast_bss_eval``.

``fast_bss_eval`` reproduces BSS Eval (``mir_eval.separation.bss_eval_sources``,
512-tap distortion filter) to within numerical precision and is what torchmetrics
uses.  The SDR of one source depends only on the projection of the estimate on that
source's filtered reference, so scoring each (estimate, reference) pair after the
stored PIT permutation gives the same number as the multi-source BSS Eval call.
SI-SDR is Le Roux et al. (2019) without mean removal (fast_bss_eval's and
torchmetrics' default; our ``sisnri`` is the zero-mean variant).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from bench.metrics.base import Metric, MetricInput

FILTER_LENGTH = 512
#: ratios are clamped here (as SI-SNR is) so an estimate identical to its reference stays finite
CLAMP_DB = 100.0


def sdr(estimate: np.ndarray, reference: np.ndarray, filter_length: int = FILTER_LENGTH) -> float:
    """BSS Eval SDR in dB of ``estimate`` against one ``reference`` (same length, 1-D)."""
    import fast_bss_eval

    ref = np.asarray(reference, dtype=np.float64)[None]
    est = np.asarray(estimate, dtype=np.float64)[None]
    if not np.any(ref):
        return float("nan")  # a silent reference has no defined SDR
    return float(fast_bss_eval.sdr(ref, est, filter_length=filter_length, clamp_db=CLAMP_DB)[0])


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SDR in dB (no mean removal)."""
    import fast_bss_eval

    ref = np.asarray(reference, dtype=np.float64)[None]
    if not np.any(ref):
        return float("nan")
    return float(fast_bss_eval.si_sdr(ref, np.asarray(estimate, dtype=np.float64)[None], clamp_db=CLAMP_DB)[0])


class SISDR(Metric):
    """SI-SDR of the estimate in dB (higher is better)."""

    name: ClassVar[str] = "sisdr"
    fields = ("db",)
    unit = "dB"

    def compute(self, item: MetricInput) -> dict[str, float]:
        return {"db": si_sdr(item.estimate, item.reference)}


class SDRi(Metric):
    """SDR improvement in dB: SDR of the estimate minus SDR of the mixture, same reference."""

    name: ClassVar[str] = "sdri"
    fields = ("db",)
    unit = "dB"

    def compute(self, item: MetricInput) -> dict[str, float]:
        return {"db": sdr(item.estimate, item.reference) - sdr(item.mixture, item.reference)}
