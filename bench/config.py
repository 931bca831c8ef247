"""User configuration (``bench.toml``) and the system-name grammar.

A system name is either a named variant from ``bench.toml``::

    [systems."fstc-opus@12"]
    family = "fstc"
    codec = "opus"
    kbps = 12

or ``family@kbps`` (``fstc@2``), or a bare family (``mixture``).
"""

from __future__ import annotations

import tomllib
from difflib import get_close_matches
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError

DEFAULT_CONFIG_NAME = "bench.toml"
#: sections a bench.toml may have; anything else is a typo that would otherwise be ignored
TOP_LEVEL_KEYS = frozenset({"systems", "tables"})


@dataclass(frozen=True)
class SystemSpec:
    """A resolved system request: display name, family, bitrate and extra options."""

    name: str
    family: str
    kbps: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    #: where the options come from, to start error messages (``bench.toml: [systems."x"]``)
    where: str = field(default="", compare=False)


@dataclass
class BenchConfig:
    """Parsed ``bench.toml``; empty when there is none."""

    path: Path | None = None
    systems: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_config(path: Path | None = None) -> BenchConfig:
    """Read ``path``, or ``./bench.toml`` when it exists; errors name the file."""
    if path is None:
        candidate = Path.cwd() / DEFAULT_CONFIG_NAME
        if not candidate.exists():
            return BenchConfig()
        path = candidate
    if not path.exists():
        raise BenchError(f"{path}: config file not found")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: invalid TOML ({exc})") from None
    systems = data.get("systems", {})
    if not isinstance(systems, dict) or not all(isinstance(v, dict) for v in systems.values()):
        raise BenchError(f"{path}: [systems.\"name\"] entries must be tables")
    for name, table in systems.items():
        if "family" not in table:
            raise BenchError(f"{path}: [systems.\"{name}\"] needs a 'family' key")
        if not isinstance(table["family"], str):
            raise BenchError(f"{path}: [systems.\"{name}\"]: family = {table['family']!r} is not a string")
        kbps = table.get("kbps")
        if kbps is not None and (isinstance(kbps, bool) or not isinstance(kbps, (int, float)) or kbps <= 0):
            raise BenchError(f"{path}: [systems.\"{name}\"]: kbps = {kbps!r} is not a positive number")
    unknown = sorted(set(data) - TOP_LEVEL_KEYS)
    if unknown:
        close = get_close_matches(unknown[0], sorted(TOP_LEVEL_KEYS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(sorted(TOP_LEVEL_KEYS))}"
        raise BenchError(f"{path}: unknown section {unknown[0]!r} ({hint})")
    tables = data.get("tables", {})
    if not isinstance(tables, dict) or not all(isinstance(v, dict) for v in tables.values()):
        raise BenchError(f"{path}: [tables.N] entries must be tables")
    return BenchConfig(path=path, systems=systems, tables=tables)


def parse_kbps(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BenchError(f"system {name!r}: bitrate {text!r} after '@' is not a number") from None
    if value <= 0:
        raise BenchError(f"system {name!r}: bitrate must be positive")
    return value


def resolve_system_spec(name: str, config: BenchConfig) -> SystemSpec:
    """Turn a user-supplied name into a :class:`SystemSpec` (config variants win).

    Family names may carry options (``fstc-dac@2``: FSTC with the DAC codec;
    ``sepformer-libri2mix``: the hub separator), see :func:`bench.catalog.expand_family`;
    a variant's own keys override them.
    """
    from bench.catalog import expand_family

    if name in config.systems:
        table = dict(config.systems[name])
        family, implied = expand_family(str(table.pop("family")))
        kbps = table.pop("kbps", None)
        if kbps is None and "@" in name:
            kbps = parse_kbps(name.rpartition("@")[2], name)
        return SystemSpec(name=name, family=family, kbps=None if kbps is None else float(kbps),
                          options={**implied, **table}, where=f"{config.path}: [systems.\"{name}\"]")
    if "@" in name:
        base, _, rate = name.partition("@")
        family, implied = expand_family(base)
        return SystemSpec(name=name, family=family, kbps=parse_kbps(rate, name), options=implied)
    family, implied = expand_family(name)
    return SystemSpec(name=name, family=family, options=implied)


def split_names(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``, rejecting empties and duplicates."""
    names = [part.strip() for part in text.split(",")]
    if any(not n for n in names):
        raise BenchError(f"empty name in list {text!r}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BenchError(f"duplicate names in list: {', '.join(dupes)}")
    return names
