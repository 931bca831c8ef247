"""The ``Metric`` interface and the one length rule shared by all intrusive metrics.

Each metric module has a pure function (arrays in, numbers out, tested against a
reference implementation) and a thin :class:`Metric` wrapper that declares what the
report needs to know: columns, direction, native sample rate, version.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Mapping, Sequence

import numpy as np

from bench.audio import fit_length

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class MetricInput:
    """What a per-source metric sees for one (estimate, reference) pair.

    ``estimate`` is the system output matched to ``reference`` by the mixture's
    stored speaker assignment (:mod:`bench.run.assignment`) and already aligned to the
    reference length with :func:`align_to_reference`.  All arrays are float32 at ``sample_rate``.
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
    #: the system's own transcript of this source (e.g. TokenSplit's W outputs), when it makes one
    system_transcript: str | None = None


def column_name(metric: str, field: str) -> str:
    """The report column of a stored (metric, field): ``f"{metric}_{field}"``, or ``metric`` for the empty field.

    The one naming rule: metric classes, the plain report, the paper tables and the plots
    all call it, so a column is spelt the same everywhere.
    """
    return f"{metric}_{field}" if field else metric


def field_sums(values: "pd.DataFrame") -> dict[str, tuple[float, int]]:
    """field -> (sum, count) of the non-missing values in a frame of stored rows."""
    grouped = values.dropna(subset=["value"]).groupby("field")["value"]
    return {str(f): (float(s.sum()), int(s.count())) for f, s in grouped}


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
    return fit_length(estimate, length)


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
    #: scores the system's own transcripts (``MetricInput.system_transcript``): items of systems
    #: that make none are stored as unavailable with that reason instead of being computed
    needs_system_transcript: ClassVar[bool] = False

    def unavailable_reason(self) -> str | None:
        """``None`` when the metric can run here, else why not (e.g. weights absent)."""
        return None

    def use_device(self, device: str) -> None:
        """Run the metric's models on ``device`` (``cpu``, ``cuda``, ``cuda:N``: the run's ``--device``).

        Called once per worker before the first value; metrics with a model that gains
        from a GPU override it (DNSMOS, the ASR metrics), the rest stay on the CPU.
        """

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

    #: fields reported as a corpus ratio Σ num_field / Σ den_field × scale instead of a mean of
    #: items: DWER pools edit counts over reference words, the measured bitrate bits over seconds
    pooled: ClassVar[dict[str, tuple[str, str, float]]] = {}

    @classmethod
    def aggregate_sums(cls, sums: "Mapping[str, tuple[float, int]]") -> dict[str, float]:
        """Corpus value of each report column from per-field (sum, count) of the ok values.

        Every aggregate is a ratio of sums (a mean is Σ value / count), so the report can
        compute it in SQL over millions of rows and bootstrap it per mixture
        (:meth:`mixture_parts`) with the very same definition.
        """
        out: dict[str, float] = {}
        for fld in cls.fields:
            if fld in cls.hidden_fields:
                continue
            if fld in cls.pooled:
                num_field, den_field, scale = cls.pooled[fld]
                num, den = sums.get(num_field, (0.0, 0)), sums.get(den_field, (0.0, 0))
                ok = num[1] > 0 and den[1] > 0 and den[0] > 0
                out[cls.column(fld)] = scale * num[0] / den[0] if ok else float("nan")
            else:
                total, count = sums.get(fld, (0.0, 0))
                out[cls.column(fld)] = total / count if count else float("nan")
        return out

    @classmethod
    def aggregate(cls, values: "pd.DataFrame") -> dict[str, float]:
        """:meth:`aggregate_sums` of a frame of stored rows (``mixture_id, source_index, field, value``)."""
        return cls.aggregate_sums(field_sums(values))

    @classmethod
    def aggregate_notes(cls, sums: "Mapping[str, tuple[float, int]]") -> dict[str, str]:
        """Footnotes for report columns whose aggregate is empty for a known reason."""
        return {}

    @classmethod
    def saturated(cls, sums: "Mapping[str, tuple[float, int]]") -> dict[str, str]:
        """Report columns whose every value sits at the metric's ceiling -> why.

        The stored number is a cap, not a measurement, so reports print ``+∞`` with this
        note (SI-SNRi of the ``clean`` oracle); the metric says so, not the report.
        """
        return {}

    @classmethod
    def mixture_parts(cls, values: "pd.DataFrame", column: str) -> "pd.DataFrame":
        """Per-mixture ``num``/``den`` of one column whose corpus value is Σ num / Σ den.

        Used for bootstrap intervals and paired tests over mixtures; consistent with
        :meth:`aggregate_sums` by construction.
        """
        fld = next(f for f in cls.fields if cls.column(f) == column)
        if fld in cls.pooled:
            num_field, den_field, scale = cls.pooled[fld]
            wide = values.pivot_table(index="mixture_id", columns="field", values="value", aggfunc="sum")
            if num_field not in wide or den_field not in wide:
                return values.iloc[0:0].assign(num=[], den=[])[["mixture_id", "num", "den"]]
            frame = wide[[num_field, den_field]].dropna()
            return frame.assign(num=scale * frame[num_field], den=frame[den_field]).reset_index()[
                ["mixture_id", "num", "den"]]
        rows = values[values["field"] == fld].dropna(subset=["value"])
        return rows.groupby("mixture_id")["value"].agg(num="sum", den="count").reset_index()

    @classmethod
    def column(cls, field: str) -> str:
        return column_name(cls.name, field)

    @classmethod
    def columns(cls) -> list[str]:
        """Report columns: every field except the hidden ones."""
        return [cls.column(f) for f in cls.fields if f not in cls.hidden_fields]
