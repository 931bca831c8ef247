"""``codec@b``: every clean source coded separately at b/2 kbps (an oracle, no separation).

This is FSTC with a perfect separator, i.e. the upper bound of "separate, then
compress": it shows how much quality the codec alone costs at each rate, apart
from separation errors.  The total rate b is split evenly over the two sources,
and the payload is one stream per source so the harness attributes bits to each
output.

Codec choice (option ``codec``, default ``mdct_rvq``) and the meaning of ``b``:

* ``mdct_rvq``: b/2 must be a multiple of 0.5 kbps (N' = b RVQ stages per source,
  1..16): ``codec@1`` = 1 stage per source, ``codec@8`` = 8 stages per source.
* ``codec2``: b/2 must be a codec2 mode: ``codec2@3.2`` in bench.toml
  (``family = "codec", codec = "codec2", kbps = 3.2``) codes each source with
  mode 1600; b in {1.4 (700C x 2), 2.4, 2.6, 2.8, 3.2, 4.8, 6.4}.
* ``opus``: b/2 in {6, 8, ..., 16} kbps CBR, e.g. ``kbps = 24`` for 12 kbps per source.
* the public codecs by name, ``codec-dac@2`` (DAC 16 kHz, 1 stage per source),
  ``codec-encodec@3``, ``codec-mimi@1.1`` (4 Mimi stages per source); ``codec_options``
  (``model``, ``revision``) choose other weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bench.baselines.codecs import DEFAULT_CODEC
from bench.errors import BenchError
from bench.records import LoadedMixture, Separation
from bench.system import System

#: sources per mixture the per-source rate is computed for (Libri2Mix)
NUM_SOURCES = 2


def _static_modes(codec: str, options: dict[str, Any] | None = None) -> dict[float, Any] | None:
    """Valid per-source kbps without loading weights (None: ask the instance)."""
    from bench.baselines.codecs import static_modes

    return static_modes(codec, options)


class CodecOnlySystem(System):
    """Oracle: code each reference source with ``codec`` at kbps / 2 and decode it."""

    family = "codec"
    needs_references = True
    #: mixtures differ in length and the codec's convolutions would see the padding; sources are
    #: coded one by one too, so a result never depends on what it was batched with
    max_batch_size = 1

    def __init__(self, name: str, kbps: float | None = None, device: str = "cpu", sample_rate: int = 16000,
                 codec: str = DEFAULT_CODEC, checkpoint: str | None = None,
                 codec_options: dict[str, Any] | None = None, **options: Any) -> None:
        from bench.baselines.codecs import canonical_name

        codec = canonical_name(codec)
        self.codec_name = codec
        self.checkpoint = checkpoint
        extra = dict(codec_options or {})
        if checkpoint:
            extra["checkpoint"] = checkpoint
        self.check_kbps(name, kbps, codec, extra)
        super().__init__(name, kbps=kbps, device=device, sample_rate=sample_rate, codec=codec,
                         **({"checkpoint": checkpoint} if checkpoint else {}),
                         **({"codec_options": codec_options} if codec_options else {}), **options)
        if sample_rate != 16000:
            raise BenchError(f"system {name!r}: codecs run at 16000 Hz, not {sample_rate}")
        from bench.baselines.codecs import make_codec

        self.codec = make_codec(codec, device, extra, name)
        self.mode = self.codec.bitrate(self.kbps / NUM_SOURCES)

    @classmethod
    def check_kbps(cls, name: str, kbps: float | None, codec: str | None = None,
                   codec_options: dict[str, Any] | None = None) -> None:
        """A total rate is required; with ``codec`` given, kbps / 2 must be one of its rates."""
        if kbps is None:
            raise BenchError(f"system {name!r}: family 'codec' needs a total bitrate, e.g. 'codec@2'")
        modes = _static_modes(codec, codec_options) if codec is not None else None
        if modes is None:
            return
        if not any(abs(NUM_SOURCES * rate - kbps) < 1e-6 for rate in modes):
            valid = ", ".join(f"{NUM_SOURCES * r:g}" for r in sorted(modes))
            raise BenchError(f"system {name!r}: codec {codec!r} cannot code {NUM_SOURCES} sources at "
                             f"{kbps:g} kbps in total; valid totals (kbps): {valid}")

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["codec_mode"] = self.codec.describe(self.mode)
        return cfg

    def checkpoint_files(self) -> Sequence[Path]:
        checkpoint = getattr(self.codec, "checkpoint", None)
        return (Path(checkpoint),) if checkpoint is not None else ()

    @classmethod
    def weights_status(cls, codec: str = DEFAULT_CODEC, checkpoint: str | None = None,
                       codec_options: dict[str, Any] | None = None, **options: Any) -> str:
        from bench.baselines.codecs import canonical_name, codec_class, codec_status

        codec = canonical_name(codec)
        status = codec_status(codec, {**(codec_options or {}), **({"checkpoint": checkpoint} if checkpoint else {})})
        if status is not None:
            return status
        try:  # a codec that cannot tell from files alone (codec2, opus: a native library) is built
            codec_class(codec)()
        except BenchError as exc:
            return f"missing: {exc}"
        return "n/a"

    @classmethod
    def missing_assets(cls, codec: str = DEFAULT_CODEC, codec_options: dict[str, Any] | None = None,
                       **options: Any) -> list[str]:
        """``bench assets`` names this system needs and the cache lacks."""
        from bench.baselines.codecs import required_assets

        return required_assets(codec, codec_options)

    def separate(self, batch: Sequence[LoadedMixture]) -> list[Separation]:
        results = []
        for item in batch:
            if item.sources is None:
                raise RuntimeError("the codec oracle was called without references")
            sources = np.asarray(item.sources, dtype=np.float32)
            payloads = [self.codec.encode(source, self.mode) for source in sources]
            estimates = np.stack([self.codec.decode(p, self.mode, sources.shape[-1]) for p in payloads])
            results.append(Separation(estimates=np.asarray(estimates, dtype=np.float32), payload=payloads,
                                      info={"codec": self.codec_name, "mode": str(self.mode),
                                            "nominal_kbps_per_source": self.codec.kbps(self.mode)}))
        return results
