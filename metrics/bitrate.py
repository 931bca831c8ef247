"""Bitrate of each system: declared (nominal) and measured from what was transmitted.

A system's payload belongs to the whole mixture (one coded stream may carry both
speakers), so this is a per-mixture metric (``source_index = -1``).  The measured
bitrate is pooled over the corpus as sum(bits) / sum(seconds of mixture audio): a
mean of per-mixture rates would over-weight short mixtures.  Systems that transmit
nothing measurable (oracles, separators without a codec) are unbounded: their
measured bitrate is empty and the report says why.
"""

from __future__ import annotations

from typing import ClassVar


from bench.metrics.base import Metric, MetricInput

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
    def aggregate_notes(cls, sums) -> dict[str, str]:
        notes = {}
        if sums.get("bits", (0.0, 0))[1] == 0:
            notes[cls.column("measured_kbps")] = UNBOUNDED_NOTE
        if sums.get("nominal_kbps", (0.0, 0))[1] == 0:
            notes[cls.column("nominal_kbps")] = NO_NOMINAL_NOTE
        return notes
