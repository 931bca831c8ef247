"""Opus (libopus through ``opuslib``) in constant-bitrate mode at 6 ... 16 kbps.

Needs the system library libopus (Debian: ``apt-get install libopus0``); without it
the codec reports itself unavailable.  The encoder runs at 16 kHz ("voip"
application, complexity 10, 20 ms frames) with VBR off, so every packet has
exactly kbps * 20 ms / 8 bytes.  Packets are therefore concatenated without
length fields: the payload costs exactly the nominal rate.  The encoder's
look-ahead (pre-skip) is compensated so output and input are time-aligned.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.baselines.codecs.base import Codec, as_mono_float, fit_length
from bench.errors import BenchError, UnavailableError

FRAME_MS = 20
#: CBR rates with a whole number of bytes per 20 ms packet (kbps -> bit/s)
MODES: dict[float, int] = {float(k): 1000 * k for k in (6, 8, 10, 12, 14, 16)}
UNAVAILABLE = "codec 'opus' unavailable: libopus not found (apt-get install libopus0)"


def _opuslib() -> Any:
    try:
        import opuslib
    except ImportError as exc:
        raise UnavailableError(f"codec 'opus' unavailable: opuslib not installed ({exc}); pip install opuslib") \
            from None
    except Exception:                          # opuslib raises a bare Exception when libopus is missing
        raise UnavailableError(UNAVAILABLE) from None
    return opuslib


class OpusCodec(Codec):
    """libopus CBR at 16 kHz; the payload is the concatenation of fixed-size packets."""

    name = "opus"
    fixed_modes = MODES

    def __init__(self, device: str = "cpu", complexity: int = 10) -> None:
        self._lib = _opuslib()
        self.complexity = complexity
        self.frame_samples = self.sample_rate * FRAME_MS // 1000

    def frame_rate(self, mode: int) -> float:
        return 1000.0 / FRAME_MS

    def bits_per_frame(self, mode: int) -> int:
        return int(mode) * FRAME_MS // 1000

    def _encoder(self, bitrate: int) -> Any:
        enc = self._lib.Encoder(self.sample_rate, 1, self._lib.APPLICATION_VOIP)
        enc.bitrate = int(bitrate)
        enc.vbr = 0
        enc.complexity = self.complexity
        return enc

    def lookahead(self, mode: int) -> int:
        """Encoder delay in samples, trimmed from the decoded output."""
        return int(self._encoder(mode).lookahead)

    def encode(self, wave: np.ndarray, mode: int) -> bytes:
        enc = self._encoder(mode)
        delay = int(enc.lookahead)
        x = as_mono_float(wave)
        total = x.shape[0] + delay
        frames = -(-total // self.frame_samples)
        pcm = np.zeros(frames * self.frame_samples, dtype=np.int16)
        pcm[: x.shape[0]] = np.round(np.clip(x, -1.0, 32767 / 32768) * 32768).astype(np.int16)
        packet_bytes = self.bits_per_frame(mode) // 8
        packets = []
        for i in range(frames):
            packet = enc.encode(pcm[i * self.frame_samples:(i + 1) * self.frame_samples].tobytes(),
                                self.frame_samples)
            if len(packet) != packet_bytes:
                raise BenchError(f"opus CBR packet of {len(packet)} bytes, expected {packet_bytes}")
            packets.append(packet)
        return b"".join(packets)

    def decode(self, payload: bytes, mode: int, num_samples: int) -> np.ndarray:
        packet_bytes = self.bits_per_frame(mode) // 8
        if len(payload) % packet_bytes:
            raise BenchError(f"opus payload of {len(payload)} bytes is not whole {packet_bytes}-byte packets")
        dec = self._lib.Decoder(self.sample_rate, 1)
        chunks = [np.frombuffer(dec.decode(payload[i:i + packet_bytes], self.frame_samples), dtype=np.int16)
                  for i in range(0, len(payload), packet_bytes)]
        pcm = np.concatenate(chunks).astype(np.float32) / 32768.0 if chunks else np.zeros(0, np.float32)
        return fit_length(pcm[self.lookahead(mode):], num_samples).astype(np.float32)
