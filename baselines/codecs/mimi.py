"""Mimi (Défossez et al., "Moshi", 2024) via ``transformers.MimiModel``.

``kyutai/mimi``: 24 kHz, 12.5 frames/s, M = 2048 (11 bit), up to 32 stages, the first of
which is the semantic (WavLM-distilled) codebook; n = 1..32 stages cost n * 137.5 bit/s
(8 stages = 1.1 kbps, Moshi's setting).  The harness's 16 kHz waves are resampled to
24 kHz and back inside the codec.  Mimi is causal and can stream; here each wave is coded
offline in one call, as ``MimiModel.encode`` does by default.
"""

from __future__ import annotations

from typing import Any

from bench.baselines.codecs.hub_rvq import HubRVQCodec


class MimiCodec(HubRVQCodec):
    """Mimi at 0.1375 kbps per stage (24 kHz inside)."""

    name = "mimi"
    native_rate = 24000
    hub_model = "mimi"
    model_class = "MimiModel"
    official_stages = tuple(range(1, 33))
    official_bits = 11
    official_frame_rate = 12.5

    def stage_counts(self) -> list[int]:
        return list(range(max(1, int(self.config.num_semantic_quantizers)), int(self.config.num_quantizers) + 1))

    def _encode_codes(self, x: Any, stages: int) -> Any:
        return self.model.encode(x, num_quantizers=stages).audio_codes

    def _decode_codes(self, codes: Any) -> Any:
        return self.model.decode(codes).audio_values
