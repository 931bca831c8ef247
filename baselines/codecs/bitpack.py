"""Bit-exact packing of fixed-width fields into bytes (MSB first).

Used where a codec's natural frame is not a whole number of bytes: codec2 700C
stores its 28-bit frames in 4 bytes (800 bit/s on disk), so frames are repacked
back-to-back and only the final byte is padded; RVQ tokens (10 bits) likewise.
"""

from __future__ import annotations

import numpy as np


def pack_frames(frames: list[bytes], bits_per_frame: int) -> bytes:
    """Concatenate the first ``bits_per_frame`` bits of each frame; pad the end to a byte."""
    if not frames:
        return b""
    bits = np.unpackbits(np.frombuffer(b"".join(frames), dtype=np.uint8).reshape(len(frames), -1), axis=1)
    return np.packbits(bits[:, :bits_per_frame].reshape(-1)).tobytes()


def unpack_frames(data: bytes, bits_per_frame: int, bytes_per_frame: int, num_frames: int) -> list[bytes]:
    """Inverse of :func:`pack_frames`: frames of ``bytes_per_frame`` with zeroed spare bits."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: num_frames * bits_per_frame]
    if bits.size != num_frames * bits_per_frame:
        raise ValueError(f"payload holds {bits.size} bits, expected {num_frames * bits_per_frame}")
    framed = np.zeros((num_frames, 8 * bytes_per_frame), dtype=np.uint8)
    framed[:, :bits_per_frame] = bits.reshape(num_frames, bits_per_frame)
    return [row.tobytes() for row in np.packbits(framed, axis=1)]


def pack_tokens(tokens: np.ndarray, bits_per_token: int) -> bytes:
    """Integer tokens (any shape, row-major) as ``bits_per_token``-bit fields, MSB first."""
    flat = np.asarray(tokens, dtype=np.uint64).reshape(-1)
    shifts = np.arange(bits_per_token - 1, -1, -1, dtype=np.uint64)
    bits = ((flat[:, None] >> shifts[None, :]) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits.reshape(-1)).tobytes()


def unpack_tokens(data: bytes, bits_per_token: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_tokens`: ``count`` tokens as int64."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * bits_per_token]
    weights = (1 << np.arange(bits_per_token - 1, -1, -1)).astype(np.int64)
    return bits.reshape(count, bits_per_token).astype(np.int64) @ weights
