"""codec2 and Opus: exact payload sizes, round trips, alignment, determinism, unavailability messages."""

from __future__ import annotations

import numpy as np
import pycodec2  # noqa: F401 - a hard dependency: missing is a failure, not a skip
import pytest

from bench.audio import resample
from bench.baselines.codecs import get_codec
from bench.errors import BenchError, UnavailableError
from test_codecs_helpers import speech_like


def _aligned_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Correlation of the smoothed envelopes (parametric codecs do not keep the waveform)."""
    kernel = np.ones(160) / 160
    ex, ey = (np.convolve(np.abs(s), kernel, mode="same") for s in (x, y))
    return float(np.corrcoef(ex, ey)[0, 1])


@pytest.fixture(scope="module")
def codec2():
    return get_codec("codec2")


@pytest.mark.parametrize("kbps, mode, bits, frame_ms", [
    (3.2, "3200", 64, 20), (2.4, "2400", 48, 20), (1.6, "1600", 64, 40), (1.4, "1400", 56, 40),
    (1.3, "1300", 52, 40), (1.2, "1200", 48, 40), (0.7, "700C", 28, 40)])
def test_codec2_modes_and_exact_payload(codec2, kbps: float, mode: str, bits: int, frame_ms: int) -> None:
    assert codec2.bitrate(kbps) == mode
    assert codec2.bits_per_frame(mode) == bits and codec2.frame_rate(mode) == 1000 / frame_ms
    assert codec2.kbps(mode) == pytest.approx(kbps)
    wave = speech_like(1.0)
    payload = codec2.encode(wave, mode)
    assert isinstance(payload, bytes)
    frames = len(payload) * 8 // bits
    assert len(payload) == -(-frames * bits // 8)               # bit-packed: only the last byte is padded
    assert frames * frame_ms <= 1000 + 32 + frame_ms             # one second plus delay compensation
    out = codec2.decode(payload, mode, wave.size)
    assert out.shape == wave.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert _aligned_correlation(wave, out) > 0.5


def test_codec2_700c_true_and_stored_rates(codec2) -> None:
    assert codec2.kbps("700C") == pytest.approx(0.7)
    assert codec2.stored_kbps("700C") == pytest.approx(0.8)


def test_codec2_packing_matches_libcodec2_frames(codec2) -> None:
    """Our bit-packed stream carries exactly libcodec2's frames (spare bits are zero)."""
    import pycodec2

    from bench.baselines.codecs.bitpack import unpack_frames

    wave = speech_like(0.5, seed=2)
    payload = codec2.encode(wave, "700C")
    frames = len(payload) * 8 // 28
    coder = pycodec2.Codec2(700)
    narrow = np.round(np.clip(resample(wave, 16000, 8000), -1, 32767 / 32768) * 32768).astype(np.int16)
    narrow = np.pad(narrow, (0, frames * 320 - narrow.size))
    direct = [coder.encode(narrow[i * 320:(i + 1) * 320]) for i in range(frames)]
    assert unpack_frames(payload, 28, 4, frames) == direct


def test_codec2_is_deterministic(codec2) -> None:
    """Encoding is; decoding is too although libcodec2 seeds its phase RNG once per process."""
    wave = speech_like(0.8, seed=5)
    payload = codec2.encode(wave, "1200")
    assert codec2.encode(wave.copy(), "1200") == payload
    first = codec2.decode(payload, "1200", wave.size)
    np.testing.assert_array_equal(first, codec2.decode(payload, "1200", wave.size))


def test_codec2_invalid_rate_lists_valid(codec2) -> None:
    with pytest.raises(BenchError, match=r"valid rates \(kbps\): 0.7, 1.2, 1.3, 1.4, 1.6, 2.4, 3.2"):
        codec2.bitrate(2.0)


def _opus():
    try:
        return get_codec("opus")
    except UnavailableError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("kbps", [6, 10, 16])
def test_opus_cbr_exact_payload_and_round_trip(kbps: int) -> None:
    opus = _opus()
    mode = opus.bitrate(kbps)
    wave = speech_like(1.0, seed=1)
    payload = opus.encode(wave, mode)
    packet = kbps * 20 // 8
    assert len(payload) % packet == 0
    frames = len(payload) // packet
    assert frames == -(-(wave.size + opus.lookahead(mode)) // 320)
    out = opus.decode(payload, mode, wave.size)
    assert out.shape == wave.shape
    # Opus keeps the waveform: time-aligned output correlates with the input
    assert np.corrcoef(wave, out)[0, 1] > 0.5
    assert opus.encode(wave, mode) == payload                    # deterministic


def test_opus_invalid_rate_lists_valid() -> None:
    opus = _opus()
    with pytest.raises(BenchError, match=r"valid rates \(kbps\): 6, 8, 10, 12, 14, 16"):
        opus.bitrate(7)


def test_opus_missing_library_message(monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "opuslib":
            raise Exception("Could not find Opus library. Make sure it is installed.")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(UnavailableError, match=r"unavailable: libopus not found \(apt-get install libopus0\)"):
        get_codec("opus")
