"""The trained MDCT-RVQ model behind the :class:`Codec` interface.

Mode = number of RVQ stages N' (1..16); each stage sends one 10-bit token per
20 ms frame, so N' stages cost N' * 0.5 kbps.  The payload is the token array
[N', frames] as a :class:`TokenStream` with 10 bits per token.  Besides the codec
interface this exposes what CodeSep builds on: ``encode_tokens``, ``codebook(n)``
and ``decode_from_latent``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from bench.baselines.codecs.base import Codec, as_mono_float, fit_length
from bench.baselines.codecs.mdct_rvq.checkpoint import DEFAULT_CHECKPOINT, load_model
from bench.baselines.codecs.mdct_rvq.model import MDCTRVQModel
from bench.errors import BenchError
from bench.precision import use_exact_fp32
from bench.records import TokenStream


class MDCTRVQCodec(Codec):
    """Neural MDCT-domain RVQ codec at 50 frames/s, 500 bit/s per stage."""

    name = "mdct_rvq"

    def __init__(self, checkpoint: "str | Path | None" = None, device: str = "cpu",
                 model: MDCTRVQModel | None = None) -> None:
        self.device = torch.device(device)
        use_exact_fp32(self.device)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
        self.model = (model.to(self.device).eval() if model is not None
                      else load_model(self.checkpoint, device=str(self.device)))
        cfg = self.model.cfg
        if cfg.sample_rate != self.sample_rate:
            raise BenchError(f"codec checkpoint {self.checkpoint} is for {cfg.sample_rate} Hz, not {self.sample_rate}")
        self.bits_per_token = int(np.ceil(np.log2(cfg.codebook_size)))

    # -- without an instance ------------------------------------------------------------------------
    @classmethod
    def static_modes(cls, checkpoint: "str | Path | None" = None, **_: Any) -> dict[float, int] | None:
        """The shipped model's grid (1..16 stages of 0.5 kbps); another checkpoint's config decides its own."""
        return None if checkpoint else {0.5 * n: n for n in range(1, 17)}

    @classmethod
    def weights_status(cls, checkpoint: "str | Path | None" = None, **_: Any) -> str:
        path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
        return "present" if path.exists() else (f"missing: {path} (bench train codec --config tiny --data DIR "
                                                 f"--export {path})")

    @property
    def num_stages(self) -> int:
        return self.model.cfg.num_stages

    # -- operating points -------------------------------------------------------------------------
    def modes(self) -> dict[float, int]:
        per_stage = self.bits_per_token * self.model.cfg.frame_rate / 1000
        return {round(n * per_stage, 6): n for n in range(1, self.num_stages + 1)}

    def frame_rate(self, mode: int) -> float:
        return self.model.cfg.frame_rate

    def bits_per_frame(self, mode: int) -> int:
        return int(mode) * self.bits_per_token

    def num_frames(self, num_samples: int, mode: int) -> int:
        return self.model.num_frames(num_samples)

    # -- CodeSep's hooks --------------------------------------------------------------------------
    def encode_tokens(self, wave: "np.ndarray | torch.Tensor", num_stages: int | None = None) -> torch.Tensor:
        """Tokens of a wave [T] -> [stages, frames], or of waves [B, T] -> [B, stages, frames] (int64)."""
        x = torch.as_tensor(np.asarray(wave, dtype=np.float32) if not torch.is_tensor(wave) else wave,
                            dtype=torch.float32, device=self.device)
        single = x.ndim == 1
        tokens = self.model.encode_tokens(x[None] if single else x, num_stages)
        return tokens[0] if single else tokens

    def codebook(self, stage: int) -> torch.Tensor:
        """W_n [M, K] of the 0-based ``stage`` (stage 0 gives CodeSep's base tokens)."""
        return self.model.codebook(stage)

    @torch.no_grad()
    def latent_from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """z_q = sum_n w_{n,d_n}: tokens [B, N', frames] -> [B, K, frames]."""
        return self.model.quantizer.decode(tokens.to(self.device)).transpose(1, 2)

    @torch.no_grad()
    def decode_from_latent(self, z_q: torch.Tensor, num_samples: int | None = None,
                           num_stages: int | None = None) -> torch.Tensor:
        """Waves [B, T] from a quantised latent [B, K, frames] (a sum of ``num_stages`` codevectors,
        which selects the post-filter's row when the checkpoint has one)."""
        return self.model.decode_from_latent(z_q.to(self.device), num_samples, num_stages)

    # -- codec interface --------------------------------------------------------------------------
    def _check_mode(self, mode: int) -> int:
        if not 1 <= int(mode) <= self.num_stages:
            raise BenchError(f"codec 'mdct_rvq' has stages 1..{self.num_stages}, not {mode}")
        return int(mode)

    def encode(self, wave: np.ndarray, mode: int) -> TokenStream:
        return self.encode_batch(as_mono_float(wave)[None], mode)[0]

    def encode_batch(self, waves: np.ndarray, mode: int) -> list[TokenStream]:
        """Equal-length waves in one forward pass (no padding is involved).

        Latents equal the one-by-one ones up to float rounding (BLAS blocking differs
        with the batch size), so a token can only differ where two codevectors are
        equidistant to within ~1e-6; callers that need bit-identical payloads
        regardless of batching (the harness's systems) encode one wave at a time.
        """
        stages = self._check_mode(mode)
        tokens = self.encode_tokens(np.asarray(waves, dtype=np.float32), stages).cpu().numpy()
        dtype = np.uint16 if self.model.cfg.codebook_size <= 1 << 16 else np.int64
        return [TokenStream(tokens=t.astype(dtype), bits_per_token=self.bits_per_token) for t in tokens]

    def decode(self, payload: TokenStream, mode: int, num_samples: int) -> np.ndarray:
        return self.decode_batch([payload], mode, num_samples)[0]

    def decode_batch(self, payloads: Sequence[TokenStream], mode: int, num_samples: int) -> np.ndarray:
        stages = self._check_mode(mode)
        arrays = [np.asarray(p.tokens if isinstance(p, TokenStream) else p) for p in payloads]
        if any(a.ndim != 2 or a.shape[0] != stages for a in arrays):
            raise BenchError(f"mdct_rvq payloads must be [{stages}, frames] token arrays")
        tokens = torch.as_tensor(np.stack(arrays).astype(np.int64), device=self.device)
        with torch.no_grad():
            waves = self.model.decode_tokens(tokens, num_samples)
        return fit_length(waves.float().cpu().numpy(), num_samples).astype(np.float32)
