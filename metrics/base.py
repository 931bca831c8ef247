"""The ``Metric`` interface and the one length rule shared by all intrusive metrics.

Each metric module has a pure function (arrays in, numbers out, tested against a
reference implementation) and a thin :class:`Metric` wrapper that declares what the
report needs to know: columns, direction, native sample rate, version.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


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
    #: the key of the system that produced ``estimate`` (keys cached per-system results)
    system_key: str = ""
    #: the dataset's transcript of this reference source, when the data has one
    transcript: str | None = None
    #: bits the system transmitted for the whole mixture (``None``: nothing measurable)
    payload_bits: int | None = None
    #: duration of the mixture audio in seconds (the denominator of the measured bitrate)
    mixture_seconds: float | None = None
    #: the bitrate the system declares (``None``: unbounded)
    nominal_kbps: float | None = None
    #: results shared between metrics and runs (ASR transcripts); ``None`` outside scoring
    cache: "TextCache | None" = None


class TextCache:
    """Texts (ASR transcripts) shared by the metrics of one scoring task and kept across runs.

    Keys are ``(owner, source_index, config)`` where ``owner`` is a system key or
    ``"reference"``.  Scoring preloads what the store already holds for the mixture and
    writes back :attr:`new` afterwards, so the ASR of a reference runs once per ASR
    configuration however many systems (or runs, or ASR-based metrics) use it.
    """

    REFERENCE = "reference"

    def __init__(self, known: dict[tuple[str, int, str], str] | None = None) -> None:
        self.known: dict[tuple[str, int, str], str] = dict(known or {})
        self.new: dict[tuple[str, int, str], str] = {}

    def get(self, owner: str, source_index: int, config: str) -> str | None:
        return self.known.get((owner, source_index, config))

    def put(self, owner: str, source_index: int, config: str, text: str) -> None:
        self.known[(owner, source_index, config)] = text
        self.new[(owner, source_index, config)] = text


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
    #: ``"source"``: one value per reference source; ``"mixture"``: one per (system, mixture),
    #: stored with ``source_index = -1`` (e.g. bitrate, which belongs to the whole payload)
    per: ClassVar[str] = "source"

    def unavailable_reason(self) -> str | None:
        """``None`` when the metric can run here, else why not (e.g. weights absent)."""
        return None

    @abstractmethod
    def compute(self, item: MetricInput) -> dict[str, float]:
        """Values for one estimate, keyed by field."""

    def compute_many(self, items: Sequence[MetricInput]) -> list[dict[str, float] | BaseException]:
        """Values for several estimates (one scoring task); an exception in place of a failed item.

        Metrics whose model gains from batching (DNSMOS runs many windows in one ONNX
        call) override this; the default is a loop over :meth:`compute`.
        """
        out: list[dict[str, float] | BaseException] = []
        for item in items:
            try:
                out.append(self.compute(item))
            except Exception as exc:  # noqa: BLE001 - reported per item by scoring
                out.append(exc)
        return out

    @classmethod
    def aggregate(cls, values: "pd.DataFrame") -> dict[str, float]:
        """Corpus-level value of each report column from one system's stored rows.

        ``values`` has columns ``mixture_id, source_index, field, value`` (status ok).
        The default is the mean of each field; metrics that must pool (DWER: summed
        edit operations over summed reference words; measured bitrate: summed bits
        over summed seconds) override it, so the report never averages rates.
        """
        out: dict[str, float] = {}
        for fld, series in values.groupby("field", sort=False)["value"]:
            out[cls.column(str(fld))] = float(series.mean()) if series.notna().any() else float("nan")
        return out

    @classmethod
    def aggregate_notes(cls, values: "pd.DataFrame") -> dict[str, str]:
        """Footnotes for report columns whose aggregate is empty for a known reason."""
        return {}

    @classmethod
    def column(cls, field: str) -> str:
        return f"{cls.name}_{field}" if field else cls.name

    @classmethod
    def columns(cls) -> list[str]:
        """Report columns: every field except the hidden ones."""
        return [cls.column(f) for f in cls.fields if f not in cls.hidden_fields]
