"""The two obvious separation-and-compression pipelines of the CodeSep paper (Section 2).

* ``fcts@b`` (first compression, then separation): the mixture is coded at b kbps,
  decoded, and the decoded mixture separated.  One stream is sent.
* ``fstc@b`` (first separation, then compression): the mixture is separated and each
  estimate coded at b/2 kbps.  One stream per output is sent, so both pipelines
  transmit the same number of bits at the same b, and the harness can attribute
  bits to each output.

Options (``bench.toml``): ``codec`` (default the project's ``mdct_rvq``; or ``codec2``,
``opus``, ``dac16k``, ``encodec24k``, ``mimi``), ``codec_options`` (a table passed to the
codec, e.g. ``checkpoint``, or ``model``/``revision`` for the hub codecs) and
``model_dir`` (the separator, as for ``sepformer``; a hub id such as
``speechbrain/sepformer-libri2mix`` is looked up in the Hugging Face cache).  A codec can
also be named in the system name: ``fstc-dac@2``, ``fcts-encodec@6``.  Payloads are what
the codec really produces; the harness counts their bits.

"Pipeline" in this project means these two cascades only: a system's own chain of networks
at inference is its ``inference`` module (``systems/codesep/inference.py``), and the
synthetic data generator is :mod:`bench.data.synth.generate`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from bench.audio import fit_length, resample
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
        from bench.baselines.codecs import DEFAULT_CODEC, canonical_name, make_codec, static_modes

        codec = canonical_name(codec) if codec is not None else None
        for key, value in (("codec", codec), ("codec_options", codec_options), ("model_dir", model_dir)):
            if value is not None:
                options[key] = value
        super().__init__(name, kbps=kbps, device=device, sample_rate=sample_rate, **options)
        self.codec_name = codec or DEFAULT_CODEC
        assert kbps is not None  # check_kbps refused None
        self.stream_kbps = kbps / self.streams
        # an unrealisable rate is reported before any weights are looked for
        known = static_modes(self.codec_name, dict(codec_options or {}))
        if known is not None and not any(abs(rate - self.stream_kbps) < 1e-6 for rate in known):
            self._refuse_rate(BenchError(f"codec {self.codec_name!r} cannot run at {self.stream_kbps:g} kbps; "
                                         f"valid rates (kbps): {', '.join(f'{r:g}' for r in sorted(known))}"))
        self.codec = make_codec(self.codec_name, device, dict(codec_options or {}), name)
        try:
            self.mode = self.codec.bitrate(self.stream_kbps)
        except BenchError as exc:
            self._refuse_rate(exc)
        self.stage = SeparatorStage(model_dir, device, sample_rate, name)

    def _refuse_rate(self, exc: BenchError) -> None:
        per = f" (b/{self.streams} = {self.stream_kbps:g} kbps per estimate)" if self.streams > 1 else ""
        raise BenchError(f"system {self.name!r}: {exc}{per}") from None

    @classmethod
    def check_kbps(cls, name: str, kbps: float | None) -> None:
        if kbps is None:
            raise BenchError(f"system {name!r}: family {cls.family!r} needs a bitrate, e.g. '{cls.family}@1'")

    def config(self) -> dict[str, Any]:
        return {**super().config(), "separator": self.stage.config,
                "codec": {**self.codec.describe(self.mode), "streams": self.streams,
                          "kbps_per_stream": self.stream_kbps}}

    def checkpoint_files(self) -> Sequence[Path]:
        from bench.baselines.codecs import codec_files

        return [*self.stage.files(), *codec_files(self.codec)]

    @classmethod
    def weights_status(cls, **options: Any) -> str:
        status = separator_status(options.get("model_dir"))
        if status != "present":
            return status
        from bench.baselines.codecs import DEFAULT_CODEC, codec_status

        name = options.get("codec") or DEFAULT_CODEC
        cheap = codec_status(name, options.get("codec_options"))  # looks at files only: never stale
        if cheap is not None:
            return cheap
        return _codec_status(name, json.dumps(options.get("codec_options") or {}, sort_keys=True, default=str))

    @classmethod
    def missing_assets(cls, **options: Any) -> list[str]:
        """``bench assets`` names this system needs and the cache lacks (hub separator, hub codec)."""
        from bench.baselines.codecs import DEFAULT_CODEC, required_assets
        from bench.baselines.separators.system import separator_assets

        return [*separator_assets(options.get("model_dir")),
                *required_assets(options.get("codec") or DEFAULT_CODEC, options.get("codec_options"))]

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
            decoded.append(fit_length(out, wave.shape[-1]))
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
    from bench.baselines.codecs import make_codec

    try:
        make_codec(name, "cpu", json.loads(options_json), "")
    except BenchError as exc:
        return f"missing: {exc}"
    return "present"
