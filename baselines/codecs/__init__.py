"""Speech codecs by name: ``mdct_rvq`` (default, trained here), ``codec2``, ``opus`` and the public
neural codecs ``dac16k``, ``encodec24k`` and ``mimi`` (short names ``dac``, ``encodec``).

``get_codec("codec2")`` returns a :class:`~bench.baselines.codecs.base.Codec`.  Codecs are
registered like systems (a :class:`~bench.registry.Registry`; other packages add theirs
through the entry-point group ``jsac_bench.codecs``); targets are imported only when
asked for, so listing names costs nothing and a missing native library or weight file
only affects the codec that needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.registry import Registry

DEFAULT_CODEC = "mdct_rvq"
CODECS: Registry = Registry("codec", "jsac_bench.codecs")
CODECS.register("mdct_rvq", "bench.baselines.codecs.mdct_rvq.codec:MDCTRVQCodec")
CODECS.register("codec2", "bench.baselines.codecs.codec2:Codec2Codec")
CODECS.register("opus", "bench.baselines.codecs.opus:OpusCodec")
CODECS.register("dac16k", "bench.baselines.codecs.dac:DACCodec")
CODECS.register("encodec24k", "bench.baselines.codecs.encodec:EncodecCodec")
CODECS.register("mimi", "bench.baselines.codecs.mimi:MimiCodec")

#: short names used in system names (``fstc-dac@2``); resolved before anything is stored
ALIASES: dict[str, str] = {"dac": "dac16k", "encodec": "encodec24k"}


def canonical_name(name: str) -> str:
    """``dac`` -> ``dac16k``; registered names stay.  Unknown names list the known ones."""
    name = ALIASES.get(name, name)
    CODECS.entry(name)  # raises "unknown codec 'x'. Available: …"
    return name


def is_codec_name(name: str) -> bool:
    """Whether ``name`` is a registered codec or an alias (for the ``fstc-<codec>@b`` grammar)."""
    return name in ALIASES or name in CODECS


def codec_class(name: str) -> type:
    """The class registered as ``name`` (or an alias of it)."""
    return CODECS.entry(canonical_name(name)).load()


def get_codec(name: str = DEFAULT_CODEC, **options: Any):
    """Instantiate codec ``name`` (options: e.g. ``device``; ``checkpoint`` for mdct_rvq; ``model`` for hub codecs)."""
    return codec_class(name)(**options)


def static_modes(name: str, options: dict[str, Any] | None = None) -> dict[float, Any] | None:
    """Valid kbps -> mode without loading weights (the codec class declares them,
    :meth:`Codec.static_modes`); ``None`` when only an instance can tell.

    Lets a system refuse an unrealisable rate (listing the valid ones) before it looks
    for weights that may not be here.
    """
    return _hook(name, "static_modes", options, None)


def codec_status(name: str, options: dict[str, Any] | None = None) -> str | None:
    """``present``/``missing: …`` from a codec class that can tell without loading weights, else ``None``."""
    return _hook(name, "weights_status", options, None)


def required_assets(name: str, options: dict[str, Any] | None = None) -> list[str]:
    """``bench assets`` names whose files a codec needs and the cache lacks (none for built-in codecs)."""
    return list(_hook(name, "missing_assets", options, []))


def make_codec(name: str, device: str, options: dict[str, Any], system_name: str):
    """Instantiate a codec by name; failures name the system that asked for it."""
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


def _hook(name: str, method: str, options: dict[str, Any] | None, default: Any) -> Any:
    """A :class:`Codec` classmethod that needs no weights; plugin codecs without it give ``default``."""
    hook = getattr(codec_class(name), method, None)  # a plugin codec need not subclass Codec
    return hook(**(options or {})) if callable(hook) else default


__all__ = ["ALIASES", "CODECS", "DEFAULT_CODEC", "canonical_name", "codec_class", "codec_files", "codec_status",
           "get_codec", "is_codec_name", "make_codec", "required_assets", "static_modes"]
