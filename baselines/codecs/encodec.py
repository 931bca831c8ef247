"""EnCodec 24 kHz (Défossez et al., "High Fidelity Neural Audio Compression", 2022) via ``transformers.EncodecModel``.

``facebook/encodec_24khz``: 75 frames/s, M = 1024 (10 bit), up to 32 stages; the model
was trained for the target bandwidths 1.5 / 3 / 6 / 12 / 24 kbps (2 / 4 / 8 / 16 / 32
stages), and ``EncodecModel.encode`` accepts only those, so they are the modes here.
The harness's 16 kHz waves are resampled to 24 kHz and back inside the codec.  Only
models that send nothing but the tokens are accepted: no per-chunk scale (``normalize``)
and no chunking, as for the 24 kHz model (the 48 kHz one sends scales too).
"""

from __future__ import annotations

import math
from typing import Any

from bench.baselines.codecs.hub_rvq import HubRVQCodec
from bench.errors import BenchError


class EncodecCodec(HubRVQCodec):
    """EnCodec at its target bandwidths (24 kHz inside)."""

    name = "encodec24k"
    native_rate = 24000
    hub_model = "encodec24k"
    model_class = "EncodecModel"
    official_stages = (2, 4, 8, 16, 32)
    official_bits = 10
    official_frame_rate = 75.0

    def check_model(self) -> None:
        cfg = self.config
        if cfg.audio_channels != 1 or cfg.normalize or cfg.chunk_length_s is not None:
            raise BenchError(f"codec {self.name!r}: {self.snapshot.path} is a stereo, normalised or chunked EnCodec "
                             "(it sends side information besides the tokens); use a mono 24 kHz model")

    def _bandwidths(self) -> dict[int, float]:
        """Stage count -> the target bandwidth (kbps) EnCodec's API takes for it."""
        per_stage = self.bits_per_token * self.frame_rate(None) / 1000
        return {int(math.floor(bw / per_stage + 1e-9)): float(bw) for bw in self.config.target_bandwidths}

    def stage_counts(self) -> list[int]:
        return sorted(self._bandwidths())

    def _encode_codes(self, x: Any, stages: int) -> Any:
        out = self.model.encode(x, bandwidth=self._bandwidths()[stages])
        if any(scale is not None for scale in out.audio_scales):
            raise BenchError(f"codec {self.name!r}: the model returned scales, which the payload would not carry")
        return out.audio_codes[0]   # [chunks=1, B, n, frames] -> [B, n, frames]

    def _decode_codes(self, codes: Any) -> Any:
        return self.model.decode(codes[None], [None]).audio_values
