"""The ``Metric`` interface and the one length rule shared by all intrusive metrics.

Each metric module has a pure function (arrays in, numbers out, tested against a
reference implementation) and a thin :class:`Metric` wrapper that declares what the
report needs to know: columns, direction, native sample rate, version.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass
class MetricInput:
    """What a per-source metric sees for one (estimate, reference) pair.

    ``estimate`` is the system output matched to ``reference`` by the mixture's
    stored PIT permutation and already aligned to the reference length with
    :func:`align_to_reference`.  All arrays are float32 at ``sample_rate``.
    """

    estimate: np.ndarray
    reference: np.ndarray
    mixture: np.ndarray
    sample_rate: int
    mixture_id: str
    source_index: int


def align_to_reference(estimate: np.ndarray, length: int) -> np.ndarray:
    """Crop or zero-pad ``estimate`` at its end to ``length`` samples.

    The single rule for length mismatches (codec frame padding, resampling
    rounding): systems are expected to be sample-aligned at the start, so only the
    tail is adjusted.  Every intrusive metric and the PIT step use this function.
    """
    if estimate.shape[-1] >= length:
        return estimate[..., :length]
    pad = [(0, 0)] * (estimate.ndim - 1) + [(0, length - estimate.shape[-1])]
    return np.pad(estimate, pad)


class Metric(ABC):
    """A registered metric.

    ``fields`` name the values ``compute`` returns; the report column of field
    ``f`` is ``f"{name}_{f}"``, or just ``name`` for the empty field.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    fields: ClassVar[tuple[str, ...]] = ("",)
    #: stored fields that are flags for the report rather than columns of their own
    hidden_fields: ClassVar[tuple[str, ...]] = ()
    intrusive: ClassVar[bool] = True
    #: native sample rate; inputs at another rate are resampled by the metric itself
    sample_rate: ClassVar[int | None] = None
    higher_is_better: ClassVar[bool] = True
    unit: ClassVar[str] = ""

    def unavailable_reason(self) -> str | None:
        """``None`` when the metric can run here, else why not (e.g. weights absent)."""
        return None

    @abstractmethod
    def compute(self, item: MetricInput) -> dict[str, float]:
        """Values for one estimate, keyed by field."""

    @classmethod
    def column(cls, field: str) -> str:
        return f"{cls.name}_{field}" if field else cls.name

    @classmethod
    def columns(cls) -> list[str]:
        """Report columns: every field except the hidden ones."""
        return [cls.column(f) for f in cls.fields if f not in cls.hidden_fields]
