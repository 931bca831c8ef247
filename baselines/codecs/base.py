"""The codec interface shared by the neural MDCT-RVQ codec and the classic codecs.

A codec turns a 16 kHz wave into a *payload* that is exactly what would be sent
on the channel (a :class:`~bench.records.TokenStream` of 10-bit tokens, or a byte
string), and back.  The operating point (``mode``: RVQ stage count, codec2 mode,
Opus bitrate) is chosen from a kbps value by :meth:`Codec.bitrate`, which refuses
rates the codec cannot realise and lists the ones it can.  Everything that decides
the rate is fixed by the mode, so the decoder needs nothing but the payload, the
mode (negotiated out of band, as in a real call) and the output length.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Hashable, Sequence

import numpy as np

from bench.audio import fit_length
from bench.errors import BenchError
from bench.records import TokenStream

Payload = "bytes | TokenStream"


def format_rates(rates: Sequence[float]) -> str:
    return ", ".join(f"{r:g}" for r in rates)


class Codec(ABC):
    """Encode/decode mono speech at ``sample_rate`` (16 kHz) with exact, declared bitrates."""

    #: registry name (``mdct_rvq``, ``codec2``, ``opus``)
    name: ClassVar[str]
    #: rate of the waves ``encode`` takes and ``decode`` returns
    sample_rate: ClassVar[int] = 16000
    #: rate the codec works at internally (codec2: 8 kHz, resampled on the way in and out); a class
    #: default that a codec whose rate comes with its weights (the hub codecs) sets per instance
    native_rate: int = 16000
    #: the rate grid (kbps -> mode) of a codec whose modes do not depend on weights or options
    #: (codec2, opus); :meth:`static_modes` and :meth:`modes` read it
    fixed_modes: ClassVar[dict[float, Hashable] | None] = None

    # -- without an instance (no weights read): rate checks and `bench systems` -------------------
    @classmethod
    def static_modes(cls, **options: Any) -> dict[float, Hashable] | None:
        """The codec's operating points (kbps -> mode) for these options, if known without loading
        weights; else ``None``.  Systems refuse an unrealisable rate with this before any weights are
        looked for, so every codec declares its own grid here."""
        return None if cls.fixed_modes is None else dict(cls.fixed_modes)

    @classmethod
    def weights_status(cls, **options: Any) -> str | None:
        """``present`` / ``missing: …`` judged from files alone; ``None``: build the codec to find out."""
        return None

    @classmethod
    def missing_assets(cls, **options: Any) -> list[str]:
        """``bench assets fetch`` names of weights these options need and the cache lacks."""
        return []

    # -- operating points -------------------------------------------------------------------------
    def modes(self) -> dict[float, Hashable]:
        """Every realisable bitrate in kbps -> the mode that realises it (codecs without
        :attr:`fixed_modes` read theirs from their weights)."""
        if self.fixed_modes is None:
            raise NotImplementedError(f"codec {self.name!r} declares neither fixed_modes nor modes()")
        return dict(self.fixed_modes)

    def bitrate(self, kbps: float) -> Any:
        """The mode for ``kbps``; an unrealisable rate is a :class:`BenchError` naming the valid ones."""
        for rate, mode in self.modes().items():
            if abs(rate - kbps) < 1e-6:
                return mode
        raise BenchError(f"codec {self.name!r} cannot run at {kbps:g} kbps; valid rates (kbps): "
                         f"{format_rates(sorted(self.modes()))}")

    @abstractmethod
    def frame_rate(self, mode: Any) -> float:
        """Payload frames per second in ``mode``."""

    @abstractmethod
    def bits_per_frame(self, mode: Any) -> int:
        """Bits transmitted per frame in ``mode``."""

    def kbps(self, mode: Any) -> float:
        """Nominal bitrate of ``mode``: bits_per_frame * frame_rate / 1000."""
        return self.bits_per_frame(mode) * self.frame_rate(mode) / 1000.0

    def num_frames(self, num_samples: int, mode: Any) -> int:
        """Frames a wave of ``num_samples`` (at ``sample_rate``) is sent as."""
        return int(np.ceil(num_samples * self.frame_rate(mode) / self.sample_rate))

    # -- coding -----------------------------------------------------------------------------------
    @abstractmethod
    def encode(self, wave: np.ndarray, mode: Any) -> "bytes | TokenStream":
        """Payload of a mono wave [T] at ``sample_rate``."""

    @abstractmethod
    def decode(self, payload: "bytes | TokenStream", mode: Any, num_samples: int) -> np.ndarray:
        """Wave [num_samples] float32 at ``sample_rate`` from a payload."""

    def encode_batch(self, waves: np.ndarray, mode: Any) -> list["bytes | TokenStream"]:
        """Payloads of equal-length waves [B, T]; codecs override where batching is exact."""
        return [self.encode(w, mode) for w in waves]

    def decode_batch(self, payloads: Sequence["bytes | TokenStream"], mode: Any, num_samples: int) -> np.ndarray:
        """[B, num_samples] from payloads of equal-length waves."""
        return np.stack([self.decode(p, mode, num_samples) for p in payloads])

    def describe(self, mode: Any) -> dict[str, Any]:
        """JSON-able summary of an operating point (for system configs and result info)."""
        return {"codec": self.name, "mode": mode if isinstance(mode, (int, float, str)) else str(mode),
                "kbps": self.kbps(mode), "frame_rate": self.frame_rate(mode),
                "bits_per_frame": self.bits_per_frame(mode), "native_rate": self.native_rate}


def as_mono_float(wave: np.ndarray) -> np.ndarray:
    """Validate a mono wave and return it as contiguous float32."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise BenchError(f"codec input must be a mono wave [T], got shape {wave.shape}")
    return np.ascontiguousarray(wave)


#: re-exported: the codecs' output length rule is the project's one rule (:func:`bench.audio.fit_length`)
__all__ = ["Codec", "Payload", "as_mono_float", "fit_length", "format_rates"]
