"""Codecs are registered like systems and declare their own operating points.

A codec from another package (entry point ``jsac_bench.codecs``) is usable in
``codec-<name>@b``, ``fstc-<name>@b`` and ``fcts-<name>@b`` without an edit here, and
its rate grid is what the systems check rates against, before any weights are read.
"""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np
import pytest

from bench.baselines.codecs import CODECS, DEFAULT_CODEC, codec_class, static_modes
from bench.baselines.codecs.base import Codec
from bench.catalog import expand_family
from bench.errors import BenchError


class HalfRateCodec(Codec):
    """A codec 'from another package': two rates, a payload of raw int16 bytes."""

    name = "halfrate"

    def __init__(self, device: str = "cpu") -> None:
        pass

    @classmethod
    def static_modes(cls, **options: Any) -> dict[float, Hashable]:
        return {3.0: "low", 6.0: "high"}

    def modes(self) -> dict[float, Hashable]:
        return self.static_modes()

    def frame_rate(self, mode: Any) -> float:
        return 50.0

    def bits_per_frame(self, mode: Any) -> int:
        return 60 if mode == "low" else 120

    def encode(self, wave: np.ndarray, mode: Any) -> bytes:
        return (np.asarray(wave) * 32767).astype(np.int16).tobytes()

    def decode(self, payload: bytes, mode: Any, num_samples: int) -> np.ndarray:
        return np.frombuffer(payload, dtype=np.int16).astype(np.float32)[:num_samples] / 32767


@pytest.fixture
def plugin_codec():
    CODECS.register("halfrate", HalfRateCodec)
    yield HalfRateCodec
    CODECS.unregister("halfrate")


def test_every_built_in_codec_declares_its_rates_or_says_it_cannot():
    assert static_modes(DEFAULT_CODEC) == {0.5 * n: n for n in range(1, 17)}
    assert static_modes("mdct_rvq", {"checkpoint": "other.pt"}) is None  # its config decides
    assert static_modes("codec2") == codec_class("codec2").static_modes() and 1.6 in static_modes("codec2")
    assert sorted(static_modes("opus")) == [6.0, 8.0, 10.0, 12.0, 14.0, 16.0]


def test_a_plugin_codec_names_systems_and_its_rates_are_checked(plugin_codec):
    from bench.baselines.codec_only import CodecOnlySystem

    assert expand_family("fstc-halfrate") == ("fstc", {"codec": "halfrate"})
    system = CodecOnlySystem("codec-halfrate@6", kbps=6.0, codec="halfrate")
    assert system.mode == "low" and system.config()["codec_mode"]["kbps"] == 3.0
    with pytest.raises(BenchError, match=r"valid totals \(kbps\): 6, 12"):
        CodecOnlySystem("codec-halfrate@4", kbps=4.0, codec="halfrate")
    assert CodecOnlySystem.weights_status(codec="halfrate") == "n/a"  # nothing to look for, builds fine
