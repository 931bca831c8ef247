"""Bitrate of each system: declared (nominal) and measured from what was transmitted.

A system's payload belongs to the whole mixture (one coded stream may carry both
speakers), so this is a per-mixture metric (``source_index = -1``).  The measured
bitrate is pooled over the corpus as sum(bits) / sum(seconds of mixture audio): a
mean of per-mixture rates would over-weight short mixtures.  Systems that transmit
nothing measurable (oracles, separators without a codec) are unbounded: their
measured bitrate is empty and the report says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from bench.metrics.base import Metric, MetricInput

if TYPE_CHECKING:
    import pandas as pd

UNBOUNDED_NOTE = "unbounded (nothing transmitted)"
NO_NOMINAL_NOTE = "unbounded (the system declares no bitrate)"


class Bitrate(Metric):
    """``bitrate_nominal_kbps`` and ``bitrate_measured_kbps`` (lower is better)."""

    name: ClassVar[str] = "bitrate"
    fields = ("nominal_kbps", "measured_kbps", "bits", "seconds")
    hidden_fields = ("bits", "seconds")
    intrusive = False
    higher_is_better = False
    unit = "kbps"
    per = "mixture"
    #: measured = Σ bits / Σ seconds / 1000: a mean of per-mixture rates would over-weight short mixtures
    pooled = {"measured_kbps": ("bits", "seconds", 0.001)}

    def compute(self, item: MetricInput) -> dict[str, float | None]:  # type: ignore[override]
        bits = item.payload_bits
        seconds = item.mixture_seconds
        measured = None if bits is None or not seconds else bits / seconds / 1000.0
        return {"nominal_kbps": item.nominal_kbps, "measured_kbps": measured,
                "bits": None if bits is None else float(bits), "seconds": seconds}

    @classmethod
    def payload_parts(cls, payloads: "pd.DataFrame") -> "pd.DataFrame":
        """Per-mixture ``num``/``den`` of the measured bitrate from stored separations
        (``mixture_id, payload_bits, seconds``), by the same pooled rule as the stored metric.

        Tables show the bitrate of every system, also where this metric was not run, so
        they read the separations; the rule they apply is still this class's.
        """
        num_field, den_field, scale = cls.pooled["measured_kbps"]
        assert (num_field, den_field) == ("bits", "seconds")
        rows = payloads.dropna(subset=["payload_bits"])
        # divided by 1/scale (exactly 1000) rather than multiplied by 0.001: kbit counts exact to the last bit
        return rows.assign(num=rows["payload_bits"].astype(float) / (1.0 / scale),
                           den=rows["seconds"].astype(float))[["mixture_id", "num", "den"]]

    @classmethod
    def aggregate_notes(cls, sums) -> dict[str, str]:
        notes = {}
        if sums.get("bits", (0.0, 0))[1] == 0:
            notes[cls.column("measured_kbps")] = UNBOUNDED_NOTE
        if sums.get("nominal_kbps", (0.0, 0))[1] == 0:
            notes[cls.column("nominal_kbps")] = NO_NOMINAL_NOTE
        return notes
