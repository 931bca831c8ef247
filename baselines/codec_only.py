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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bench.errors import BenchError
from bench.records import LoadedMixture, Separation
from bench.system import System

DEFAULT_CODEC = "mdct_rvq"
#: sources per mixture the per-source rate is computed for (Libri2Mix)
NUM_SOURCES = 2


def _codec_class(name: str) -> type:
    from bench.baselines.codecs import codec_class

    return codec_class(name)


def _static_modes(codec: str) -> dict[float, Any] | None:
    """Valid per-source kbps without loading weights (None: ask the instance)."""
    if codec == "mdct_rvq":
        return {0.5 * n: n for n in range(1, 17)}
    if codec == "codec2":
        from bench.baselines.codecs.codec2 import MODES
        return dict(MODES)
    if codec == "opus":
        from bench.baselines.codecs.opus import MODES
        return dict(MODES)
    return None


class CodecOnlySystem(System):
    """Oracle: code each reference source with ``codec`` at kbps / 2 and decode it."""

    family = "codec"
    needs_references = True
    #: mixtures differ in length and the codec's convolutions would see the padding; sources are
    #: coded one by one too, so a result never depends on what it was batched with
    max_batch_size = 1

    def __init__(self, name: str, kbps: float | None = None, device: str = "cpu", sample_rate: int = 16000,
                 codec: str = DEFAULT_CODEC, checkpoint: str | None = None, **options: Any) -> None:
        self.codec_name = codec
        self.checkpoint = checkpoint
        self.check_kbps(name, kbps, codec)
        super().__init__(name, kbps=kbps, device=device, sample_rate=sample_rate, codec=codec,
                         **({"checkpoint": checkpoint} if checkpoint else {}), **options)
        if sample_rate != 16000:
            raise BenchError(f"system {name!r}: codecs run at 16000 Hz, not {sample_rate}")
        codec_options: dict[str, Any] = {"device": device}
        if checkpoint:
            codec_options["checkpoint"] = checkpoint
        self.codec = _codec_class(codec)(**codec_options)
        self.mode = self.codec.bitrate(self.kbps / NUM_SOURCES)

    @classmethod
    def check_kbps(cls, name: str, kbps: float | None, codec: str | None = None) -> None:
        """A total rate is required; with ``codec`` given, kbps / 2 must be one of its rates."""
        if kbps is None:
            raise BenchError(f"system {name!r}: family 'codec' needs a total bitrate, e.g. 'codec@2'")
        modes = _static_modes(codec) if codec is not None else None
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
    def weights_status(cls, codec: str = DEFAULT_CODEC, checkpoint: str | None = None, **options: Any) -> str:
        if codec != "mdct_rvq":
            try:
                _codec_class(codec)()
            except BenchError as exc:
                return f"missing: {exc}"
            return "n/a"
        from bench.baselines.codecs.mdct_rvq.checkpoint import DEFAULT_CHECKPOINT

        path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
        return "present" if path.exists() else (f"missing: {path} (bench train codec --config tiny --data DIR "
                                                 f"--export {path})")

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
