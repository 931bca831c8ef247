"""Residual-VQ neural codecs from ``transformers`` (DAC, EnCodec, Mimi) behind the :class:`Codec` interface.

These codecs have the structure of our own: an encoder, a stack of N residual codebooks
of M entries each, a decoder.  The bitrate is set by how many stages n are sent, and a
frame costs n * log2(M) bits, so a mode is the stage count n and

    kbps(n) = n * log2(M) * frame_rate / 1000,

measured from the transmitted tokens (the payload is the token array [n, frames] as a
:class:`~bench.records.TokenStream`).  Each model is loaded the way its library loads it
(``Model.from_pretrained`` on a snapshot folder, safetensors weights), from the user's
Hugging Face cache or a local directory, never from the network
(:mod:`bench.hub`).  The harness speaks 16 kHz; a model at another rate (EnCodec and
Mimi: 24 kHz) is resampled in and out here, and :meth:`HubRVQCodec.describe` records it.

Subclasses (one module each) say which model class and hub model they wrap and implement
:meth:`_encode_codes` / :meth:`_decode_codes` with the library's own calls.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.audio import resample
from bench.baselines.codecs.base import Codec, as_mono_float, fit_length
from bench.errors import BenchError
from bench.records import TokenStream


class HubRVQCodec(Codec):
    """Shared loading, rate bookkeeping, resampling and payload checks of the transformers codecs."""

    #: ``bench.hub.HUB_MODELS`` key of the official weights (also the ``bench assets fetch`` name)
    hub_model: ClassVar[str]
    #: ``transformers`` class name, imported on first use
    model_class: ClassVar[str]
    #: stage counts of the official model, for rate checks before any weights are read
    official_stages: ClassVar[tuple[int, ...]]
    #: bits per token and frames per second of the official model
    official_bits: ClassVar[int]
    official_frame_rate: ClassVar[float]

    def __init__(self, device: str = "cpu", model: str | None = None, revision: str | None = None) -> None:
        """``model``: a hub id or a local directory (default: the pinned official weights); ``revision``: a commit."""
        import torch

        from bench.hub import CODEC_FILES, HUB_MODELS, resolve
        from bench.precision import use_exact_fp32

        self.snapshot = resolve(model or HUB_MODELS[self.hub_model].repo, CODEC_FILES, revision,
                                what=f"codec {self.name!r}")
        #: the weights file, hashed into the system key like the MDCT-RVQ checkpoint
        self.checkpoint = self.snapshot.path / "model.safetensors"
        self.device = torch.device(device)
        use_exact_fp32(self.device)
        self.model = _load_pretrained(self.model_class, self.snapshot.path, self.device)
        self.config = self.model.config
        self.native_rate = int(self.config.sampling_rate)
        self.codebook_size = int(self.config.codebook_size)
        self.bits_per_token = int(math.ceil(math.log2(self.codebook_size)))
        self.check_model()

    # -- what subclasses provide ------------------------------------------------------------------
    def check_model(self) -> None:
        """Refuse configurations the adapter cannot represent exactly (override to add checks)."""

    def stage_counts(self) -> list[int]:
        """Stage counts n this model can send."""
        raise NotImplementedError

    def _encode_codes(self, x: Any, stages: int) -> Any:
        """Codes [1, stages, frames] (int) of a wave tensor [1, 1, T] at ``native_rate``."""
        raise NotImplementedError

    def _decode_codes(self, codes: Any) -> Any:
        """Wave tensor [..., T'] at ``native_rate`` from codes [1, stages, frames]."""
        raise NotImplementedError

    def native_frames(self, num_native: int) -> int:
        """Frames the encoder emits for ``num_native`` samples at ``native_rate``."""
        return int(math.ceil(num_native * self.frame_rate(None) / self.native_rate))

    # -- without weights --------------------------------------------------------------------------
    @classmethod
    def static_modes(cls, model: str | None = None, revision: str | None = None, **_: Any) -> dict[float, int] | None:
        """The official model's rates; ``None`` for other weights (their config decides)."""
        if model is not None or revision is not None:
            return None
        return {round(n * cls.official_bits * cls.official_frame_rate / 1000, 6): n for n in cls.official_stages}

    @classmethod
    def weights_status(cls, model: str | None = None, revision: str | None = None, **_: Any) -> str:
        """``present`` or ``missing: …`` with the fetch command, from the cache alone."""
        from bench.hub import CODEC_FILES, HUB_MODELS, resolve

        try:
            resolve(model or HUB_MODELS[cls.hub_model].repo, CODEC_FILES, revision, what=f"codec {cls.name!r}")
        except BenchError as exc:
            return f"missing: {exc}"
        return "present"

    @classmethod
    def missing_assets(cls, model: str | None = None, revision: str | None = None, **_: Any) -> list[str]:
        """``[hub_model]`` when the official weights are wanted and absent (custom weights: none to fetch)."""
        from bench.hub import HUB_MODELS, status

        if model is not None or revision is not None:
            return []
        return [] if status(HUB_MODELS[cls.hub_model]) == "present" else [cls.hub_model]

    # -- operating points -------------------------------------------------------------------------
    def modes(self) -> dict[float, int]:
        return {round(self.kbps(n), 6): n for n in self.stage_counts()}

    def frame_rate(self, mode: Any) -> float:
        return float(self.config.frame_rate)

    def bits_per_frame(self, mode: int) -> int:
        return int(mode) * self.bits_per_token

    def num_frames(self, num_samples: int, mode: Any) -> int:
        return self.native_frames(self._native_length(num_samples))

    def describe(self, mode: Any) -> dict[str, Any]:
        chain = "none" if self.native_rate == self.sample_rate else \
            f"{self.sample_rate}->{self.native_rate}->{self.sample_rate} Hz"
        return {**super().describe(mode), "stages": int(mode), "codebook_size": self.codebook_size,
                "weights": self.snapshot.describe(), "resampling": chain}

    # -- coding -----------------------------------------------------------------------------------
    def _check_mode(self, mode: Any) -> int:
        if int(mode) not in self.stage_counts():
            raise BenchError(f"codec {self.name!r} cannot send {mode} stages; valid: "
                             f"{', '.join(str(n) for n in self.stage_counts())}")
        return int(mode)

    def _native_length(self, num_samples: int) -> int:
        """Length of a ``num_samples`` wave after resampling to ``native_rate`` (scipy's resample_poly)."""
        if self.native_rate == self.sample_rate:
            return num_samples
        g = math.gcd(self.sample_rate, self.native_rate)
        return -(-num_samples * (self.native_rate // g) // (self.sample_rate // g))

    def encode(self, wave: np.ndarray, mode: int) -> TokenStream:
        import torch

        stages = self._check_mode(mode)
        inner = resample(as_mono_float(wave), self.sample_rate, self.native_rate)
        x = torch.as_tensor(np.ascontiguousarray(inner), dtype=torch.float32, device=self.device)[None, None]
        with torch.inference_mode():
            codes = self._encode_codes(x, stages)
        tokens = codes[0].cpu().numpy()
        expected = (stages, self.native_frames(inner.shape[-1]))
        if tokens.shape != expected:
            raise BenchError(f"codec {self.name!r}: the model returned codes {tokens.shape}, expected {expected}")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.codebook_size):
            raise BenchError(f"codec {self.name!r}: token outside 0..{self.codebook_size - 1}")
        return TokenStream(tokens=tokens.astype(np.uint16), bits_per_token=self.bits_per_token)

    def decode(self, payload: TokenStream, mode: int, num_samples: int) -> np.ndarray:
        import torch

        stages = self._check_mode(mode)
        tokens = np.asarray(payload.tokens if isinstance(payload, TokenStream) else payload)
        if tokens.ndim != 2 or tokens.shape[0] != stages:
            raise BenchError(f"codec {self.name!r}: payload must be [{stages}, frames] tokens, got {tokens.shape}")
        codes = torch.as_tensor(tokens.astype(np.int64), device=self.device)[None]
        with torch.inference_mode():
            out = self._decode_codes(codes)
        native = out.reshape(-1).float().cpu().numpy()
        wave = resample(native, self.native_rate, self.sample_rate)
        return fit_length(np.asarray(wave, dtype=np.float32), num_samples).astype(np.float32)


def _load_pretrained(class_name: str, folder: Path, device: Any) -> Any:
    """``transformers.<class_name>.from_pretrained(folder)``: local files only, safetensors only, eval mode."""
    try:
        import transformers
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise BenchError(f"the public codecs need transformers ({exc}); pip install 'jsac-bench[public]'") from None
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    cls = getattr(transformers, class_name)
    try:
        model = cls.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
    except (OSError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise BenchError(f"{folder}: cannot load {class_name} ({first})") from None
    return model.to(device).eval()
