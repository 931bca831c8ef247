"""A deliberately slow system and metric, registered at import, for kill/resume tests.

Run as ``python slow_plugin.py <bench run args>``: registers them, then calls the CLI.
"""

from __future__ import annotations

import sys
import time
from typing import Sequence

import numpy as np

from bench.catalog import METRICS, SYSTEMS
from bench.metrics.base import Metric, MetricInput
from bench.records import LoadedMixture, Separation
from bench.system import System


class SlowHalfSystem(System):
    """Halves the mixture, transmits 100 bytes per output; sleeps to be killable mid-run."""

    family = "slowhalf"

    def separate(self, batch: Sequence[LoadedMixture]) -> list[Separation]:
        time.sleep(0.15)
        return [Separation(np.stack([0.5 * b.mixture, 0.5 * b.mixture]), payload=[b"\x00" * 100, b"\x01" * 100])
                for b in batch]


class SlowEnergy(Metric):
    """Mean square of the estimate (deterministic), slowly."""

    name = "slowenergy"

    def compute(self, item: MetricInput) -> dict[str, float]:
        time.sleep(0.1)
        return {"": float(np.mean(item.estimate.astype(np.float64) ** 2))}


def register() -> None:
    SYSTEMS.register("slowhalf", SlowHalfSystem)
    METRICS.register("slowenergy", "slow_plugin:SlowEnergy")


register()

if __name__ == "__main__":
    from bench.cli import main

    sys.exit(main(sys.argv[1:]))
