"""Rebuild frozen config dataclasses from the plain dicts stored in checkpoints and JSON.

Checkpoints store configs with ``dataclasses.asdict``, which turns tuples into lists (after
a JSON round trip) and nested dataclasses into dicts.  Every model family reads them back
the same way, so the rule lives here once: unknown keys are ignored (a checkpoint written
by a newer version still loads), lists become tuples, and a field typed as a dataclass is
rebuilt recursively.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def dataclass_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """``cls(**data)`` for a dataclass, tolerant of JSON's lists and of unknown keys."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value = data[f.name]
        kind = hints.get(f.name)
        if isinstance(value, dict) and isinstance(kind, type) and dataclasses.is_dataclass(kind):
            value = dataclass_from_dict(kind, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)
