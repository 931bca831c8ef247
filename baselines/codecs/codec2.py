"""Codec 2 (through ``pycodec2``, which bundles libcodec2): classic low-rate speech coding.

Codec 2 is an 8 kHz codec: input is resampled 16 -> 8 kHz (polyphase, anti-aliased)
and the output back to 16 kHz, so nothing above 4 kHz survives.  Modes and their
rates (bits per frame * frames per second):

    3200: 64 bit / 20 ms   2400: 48 bit / 20 ms   1600: 64 bit / 40 ms
    1400: 56 bit / 40 ms   1300: 52 bit / 40 ms   1200: 48 bit / 40 ms
    700C: 28 bit / 40 ms = 700 bit/s (libcodec2 stores it in 4 bytes = 800 bit/s)

The decoder output lags the input (20 ms; 32 ms for 700C, measured as the lag that
maximises STOI on the embedded test set); the input is padded and the output
advanced by that delay so estimates are time-aligned with the references, as
intrusive metrics (SI-SNR, STOI) require.

libcodec2's decoder draws random phases from a process-global generator
(``codec2_rand``, no seed API), so decoding the same frames twice in one process
gives different waves.  Each decode therefore runs in a forked child: the parent
never advances the generator, so every decode starts from the same state and the
output depends on the payload alone.

Frames are bit-packed back-to-back, so the payload costs the true mode rate
(700 bit/s for 700C, and 1300 bit/s for mode 1300) plus at most 7 bits of end
padding; ``stored_kbps`` gives the byte-aligned rate of libcodec2's own files.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from bench.audio import resample
from bench.baselines.codecs.base import Codec, as_mono_float, fit_length
from bench.baselines.codecs.bitpack import pack_frames, unpack_frames
from bench.errors import BenchError, UnavailableError

#: kbps -> mode argument of pycodec2.Codec2 (700C is libcodec2's mode 700 in pycodec2)
MODES: dict[float, str] = {3.2: "3200", 2.4: "2400", 1.6: "1600", 1.4: "1400", 1.3: "1300", 1.2: "1200",
                           0.7: "700C"}
#: decoder delay in 8 kHz samples, compensated on decode
DELAY: dict[str, int] = {"3200": 160, "2400": 160, "1600": 160, "1400": 160, "1300": 160, "1200": 160,
                         "700C": 256}


def _pycodec2() -> Any:
    try:
        import pycodec2
    except ImportError as exc:
        raise UnavailableError(f"codec 'codec2' unavailable: pycodec2 not installed ({exc}); "
                               "pip install pycodec2") from None
    return pycodec2


class Codec2Codec(Codec):
    """Codec 2 at 0.7 ... 3.2 kbps; 16 kHz in and out, 8 kHz inside."""

    name = "codec2"
    native_rate = 8000
    fixed_modes = MODES

    def __init__(self, device: str = "cpu") -> None:
        self._lib = _pycodec2()
        self._info: dict[str, tuple[int, int, int]] = {}
        for mode in MODES.values():
            coder = self._coder(mode)
            self._info[mode] = (coder.samples_per_frame(), coder.bits_per_frame(), coder.bytes_per_frame())

    def _coder(self, mode: str) -> Any:
        return self._lib.Codec2(700 if mode == "700C" else int(mode))

    def frame_rate(self, mode: str) -> float:
        return self.native_rate / self._info[mode][0]

    def bits_per_frame(self, mode: str) -> int:
        return self._info[mode][1]

    def stored_kbps(self, mode: str) -> float:
        """Rate of libcodec2's byte-aligned frames (700C: 800 bit/s)."""
        return 8 * self._info[mode][2] * self.frame_rate(mode) / 1000

    def encode(self, wave: np.ndarray, mode: str) -> bytes:
        samples, bits, _ = self._info[mode]
        narrow = resample(as_mono_float(wave), self.sample_rate, self.native_rate)
        frames = -(-(narrow.shape[0] + DELAY[mode]) // samples)
        pcm = np.zeros(frames * samples, dtype=np.int16)
        pcm[: narrow.shape[0]] = np.round(np.clip(narrow, -1.0, 32767 / 32768) * 32768).astype(np.int16)
        coder = self._coder(mode)          # a fresh coder: the payload depends on nothing but the wave
        encoded = [coder.encode(pcm[i * samples:(i + 1) * samples]) for i in range(frames)]
        return pack_frames(encoded, bits)

    def decode_frames(self, frames: list[bytes], mode: str) -> np.ndarray:
        """libcodec2's 8 kHz int16 output for byte-aligned frames, from a fresh RNG state."""
        def work() -> bytes:
            coder = self._coder(mode)
            return b"".join(coder.decode(f).astype(np.int16).tobytes() for f in frames)

        return np.frombuffer(run_forked(work), dtype=np.int16)

    def decode(self, payload: bytes, mode: str, num_samples: int) -> np.ndarray:
        samples, bits, nbytes = self._info[mode]
        frames = (8 * len(payload)) // bits
        pcm = self.decode_frames(unpack_frames(payload, bits, nbytes, frames), mode)
        aligned = pcm[DELAY[mode]:].astype(np.float32) / 32768.0
        wide = resample(aligned, self.native_rate, self.sample_rate)
        return fit_length(wide, num_samples).astype(np.float32)


def run_forked(work: Callable[[], bytes]) -> bytes:
    """``work()`` in a forked child (fresh copy of the parent's C globals); its bytes come back by pipe."""
    if not hasattr(os, "fork"):
        return work()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # child: never returns into the caller's code
        status = 1
        try:
            os.close(read_fd)
            data = work()
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise BenchError("codec2 decoder process failed")
    return data
