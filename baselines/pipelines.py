"""The two obvious separation-and-compression pipelines of the CodeSep paper (Section 2).

* ``fcts@b`` (first compression, then separation): the mixture is coded at b kbps,
  decoded, and the decoded mixture separated.  One stream is sent.
* ``fstc@b`` (first separation, then compression): the mixture is separated and each
  estimate coded at b/2 kbps.  One stream per output is sent, so both pipelines
  transmit the same number of bits at the same b, and the harness can attribute
  bits to each output.

Options (``bench.toml``): ``codec`` (default the project's ``mdct_rvq``),
``codec_options`` (a table passed to the codec, e.g. ``checkpoint``) and
``model_dir`` (the separator, as for ``sepformer``).  Payloads are what the codec
really produces; the harness counts their bits.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from bench.audio import resample
from bench.baselines.separators.system import SeparatorStage, separator_status
from bench.errors import BenchError
from bench.records import LoadedMixture, Separation
from bench.system import System


class CodecPipeline(System):
    """Shared set-up of FCTS and FSTC: a separator, a codec and the per-stream operating point."""

    #: streams the b kbps budget is split over (FCTS codes 1 mixture, FSTC 2 estimates)
    streams: ClassVar[int] = 1
    max_batch_size = 8

    def __init__(self, name: str, kbps: float | None = None, device: str = "cpu", sample_rate: int = 16000,
                 codec: str | None = None, codec_options: dict[str, Any] | None = None,
                 model_dir: str | None = None, **options: Any) -> None:
        from bench.baselines.codecs import DEFAULT_CODEC

        for key, value in (("codec", codec), ("codec_options", codec_options), ("model_dir", model_dir)):
            if value is not None:
                options[key] = value
        super().__init__(name, kbps=kbps, device=device, sample_rate=sample_rate, **options)
        self.codec_name = codec or DEFAULT_CODEC
        self.codec = make_codec(self.codec_name, device, dict(codec_options or {}), name)
        assert kbps is not None  # check_kbps refused None
        self.stream_kbps = kbps / self.streams
        try:
            self.mode = self.codec.bitrate(self.stream_kbps)
        except BenchError as exc:
            per = f" (b/{self.streams} = {self.stream_kbps:g} kbps per estimate)" if self.streams > 1 else ""
            raise BenchError(f"system {name!r}: {exc}{per}") from None
        self.stage = SeparatorStage(model_dir, device, sample_rate, name)

    @classmethod
    def check_kbps(cls, name: str, kbps: float | None) -> None:
        if kbps is None:
            raise BenchError(f"system {name!r}: family {cls.family!r} needs a bitrate, e.g. '{cls.family}@1'")

    def config(self) -> dict[str, Any]:
        return {**super().config(), "separator": self.stage.config,
                "codec": {**self.codec.describe(self.mode), "streams": self.streams,
                          "kbps_per_stream": self.stream_kbps}}

    def checkpoint_files(self) -> Sequence[Path]:
        return [*self.stage.files(), *codec_files(self.codec)]

    @classmethod
    def weights_status(cls, **options: Any) -> str:
        status = separator_status(options.get("model_dir"))
        if status != "present":
            return status
        from bench.baselines.codecs import DEFAULT_CODEC

        name = options.get("codec") or DEFAULT_CODEC
        return _codec_status(name, json.dumps(options.get("codec_options") or {}, sort_keys=True, default=str))

    def code(self, waves: Sequence[np.ndarray]) -> tuple[list[Any], list[np.ndarray]]:
        """Encode and decode each 1-D wave (at the system rate): payloads and decoded waves."""
        rate = self.codec.sample_rate
        payloads, decoded = [], []
        for wave in waves:
            inner = resample(np.asarray(wave, dtype=np.float32), self.sample_rate, rate)
            payload = self.codec.encode(inner, self.mode)
            out = self.codec.decode(payload, self.mode, inner.shape[-1])
            out = resample(np.asarray(out, dtype=np.float32), rate, self.sample_rate)
            payloads.append(payload)
            decoded.append(_fit(out, wave.shape[-1]))
        return payloads, decoded


class FCTSSystem(CodecPipeline):
    """Code the mixture at b kbps, decode, then separate."""

    family = "fcts"
    streams = 1

    def separate(self, batch: Sequence[LoadedMixture]) -> list[Separation]:
        payloads, decoded = self.code([item.mixture for item in batch])
        estimates = self.stage.separate(decoded, self.max_batch_size)
        return [Separation(estimates=est, payload=[payload]) for est, payload in zip(estimates, payloads)]


class FSTCSystem(CodecPipeline):
    """Separate, then code each estimate at b/2 kbps."""

    family = "fstc"
    streams = 2

    def separate(self, batch: Sequence[LoadedMixture]) -> list[Separation]:
        separated = self.stage.separate([item.mixture for item in batch], self.max_batch_size)
        results = []
        for est in separated:
            payloads, decoded = self.code(list(est))
            results.append(Separation(estimates=np.stack(decoded).astype(np.float32), payload=payloads))
        return results


@lru_cache(maxsize=32)
def _codec_status(name: str, options_json: str) -> str:
    """Whether codec ``name`` can be built here (cached: ``bench systems`` asks once per listed row)."""
    try:
        make_codec(name, "cpu", json.loads(options_json), "")
    except BenchError as exc:
        return f"missing: {exc}"
    return "present"


def make_codec(name: str, device: str, options: dict[str, Any], system_name: str):
    """Instantiate a codec by name; failures name the system that asked for it."""
    from bench.baselines.codecs import codec_class, get_codec
    from bench.options import check_options

    prefix = f"system {system_name!r}: " if system_name else ""
    check_options(codec_class(name), options, f"{prefix}codec_options for {name!r}")
    try:
        return get_codec(name, device=device, **options)
    except BenchError as exc:
        raise BenchError(f"{prefix}{exc}") from None
    except TypeError as exc:
        raise BenchError(f"{prefix}bad codec_options for {name!r} ({exc})") from None


def codec_files(codec: Any) -> list[Path]:
    """Weight files of a codec (neural codecs keep theirs in ``checkpoint``), for the system key."""
    path = getattr(codec, "checkpoint", None)
    if isinstance(path, (str, Path)) and Path(path).is_file():
        return [Path(path)]
    return []


def _fit(wave: np.ndarray, length: int) -> np.ndarray:
    if wave.shape[-1] >= length:
        return wave[..., :length]
    return np.pad(wave, (0, length - wave.shape[-1]))
