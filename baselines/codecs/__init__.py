"""Speech codecs by name: ``mdct_rvq`` (default, trained here), ``codec2`` and ``opus``.

``get_codec("codec2")`` returns a :class:`~bench.baselines.codecs.base.Codec`;
targets are imported only when asked for, so listing names costs nothing and a
missing native library only affects the codec that needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

from bench.errors import BenchError

DEFAULT_CODEC = "mdct_rvq"
CODECS: dict[str, str] = {
    "mdct_rvq": "bench.baselines.codecs.mdct_rvq.codec:MDCTRVQCodec",
    "codec2": "bench.baselines.codecs.codec2:Codec2Codec",
    "opus": "bench.baselines.codecs.opus:OpusCodec",
}


def codec_class(name: str) -> type:
    """The class registered as ``name``; unknown names list the known ones."""
    try:
        target = CODECS[name]
    except KeyError:
        raise BenchError(f"unknown codec {name!r}. Available: {', '.join(sorted(CODECS))}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def get_codec(name: str = DEFAULT_CODEC, **options: Any):
    """Instantiate codec ``name`` (options: e.g. ``device``, ``checkpoint`` for mdct_rvq)."""
    return codec_class(name)(**options)
