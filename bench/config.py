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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError

DEFAULT_CONFIG_NAME = "bench.toml"


@dataclass(frozen=True)
class SystemSpec:
    """A resolved system request: display name, family, bitrate and extra options."""

    name: str
    family: str
    kbps: float | None = None
    options: dict[str, Any] = field(default_factory=dict)


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
    return BenchConfig(path=path, systems=systems, tables=data.get("tables", {}))


def parse_kbps(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BenchError(f"system {name!r}: bitrate {text!r} after '@' is not a number") from None
    if value <= 0:
        raise BenchError(f"system {name!r}: bitrate must be positive")
    return value


def resolve_system_spec(name: str, config: BenchConfig) -> SystemSpec:
    """Turn a user-supplied name into a :class:`SystemSpec` (config variants win)."""
    if name in config.systems:
        table = dict(config.systems[name])
        family = str(table.pop("family"))
        kbps = table.pop("kbps", None)
        if kbps is None and "@" in name:
            kbps = parse_kbps(name.rpartition("@")[2], name)
        return SystemSpec(name=name, family=family, kbps=None if kbps is None else float(kbps), options=table)
    if "@" in name:
        family, _, rate = name.partition("@")
        return SystemSpec(name=name, family=family, kbps=parse_kbps(rate, name))
    return SystemSpec(name=name, family=name)


def split_names(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``, rejecting empties and duplicates."""
    names = [part.strip() for part in text.split(",")]
    if any(not n for n in names):
        raise BenchError(f"empty name in list {text!r}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BenchError(f"duplicate names in list: {', '.join(dupes)}")
    return names
