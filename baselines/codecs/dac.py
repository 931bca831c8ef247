"""DAC 16 kHz (Kumar et al., "High-Fidelity Audio Compression with Improved RVQGAN", 2023) via ``transformers.DacModel``.

``descript/dac_16khz``: hop 320 (50 frames/s), N = 12 codebooks of M = 1024 entries, so a
stage costs 10 bit * 50 /s = 0.5 kbps and n = 1..12 stages give 0.5 ... 6 kbps, the same
grid as our MDCT-RVQ codec.  DAC was trained with quantizer dropout, so any prefix of
the stages decodes.  The input is zero-padded to whole hops (DAC's own ``preprocess``
does the same); the decoder's output is cut to the input length.
"""

from __future__ import annotations

import math
from typing import Any

from bench.baselines.codecs.hub_rvq import HubRVQCodec


class DACCodec(HubRVQCodec):
    """DAC at 0.5 kbps per stage (16 kHz, no resampling)."""

    name = "dac16k"
    native_rate = 16000
    hub_model = "dac16k"
    model_class = "DacModel"
    official_stages = tuple(range(1, 13))
    official_bits = 10
    official_frame_rate = 50.0

    def stage_counts(self) -> list[int]:
        return list(range(1, int(self.config.n_codebooks) + 1))

    def frame_rate(self, mode: Any) -> float:
        return self.native_rate / int(self.config.hop_length)

    def native_frames(self, num_native: int) -> int:
        return int(math.ceil(num_native / int(self.config.hop_length)))

    def _encode_codes(self, x: Any, stages: int) -> Any:
        import torch.nn.functional as F

        hop = int(self.config.hop_length)
        x = F.pad(x, (0, -x.shape[-1] % hop))
        return self.model.encode(x, n_quantizers=stages).audio_codes

    def _decode_codes(self, codes: Any) -> Any:
        return self.model.decode(audio_codes=codes).audio_values
