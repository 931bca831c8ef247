"""Name -> factory registries for systems and metrics (lm-evaluation-harness style).

Entries are registered lazily as ``"module:attribute"`` strings so that ``bench --help``
and ``bench systems`` do not import torch models or ONNX runtimes; the target is
imported only when the component is used.  Third-party packages add entries through
the entry-point groups ``jsac_bench.systems`` and ``jsac_bench.metrics``.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, TypeVar

from bench.errors import BenchError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Entry:
    """One registered component: where its factory lives and what it declares up front."""

    name: str
    target: str | Callable[..., Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Callable[..., Any]:
        if callable(self.target):
            return self.target
        module_name, _, attr = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise BenchError(f"cannot load {self.name!r} from {self.target}: {exc}") from None


class Registry(Generic[T]):
    """A small generic registry; unknown names fail with the list of what exists."""

    def __init__(self, kind: str, entry_point_group: str) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, Entry] = {}
        self._plugins_loaded = False

    def register(self, name: str, target: str | Callable[..., Any] | None = None, **meta: Any) -> Any:
        """Register ``target`` under ``name``; without a target, act as a decorator."""
        if target is None:
            def decorator(obj: Callable[..., Any]) -> Callable[..., Any]:
                self._entries[name] = Entry(name, obj, meta)
                return obj
            return decorator
        self._entries[name] = Entry(name, target, meta)
        return target

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests register stand-ins and take them away again)."""
        self._entries.pop(name, None)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.entry_point_group):
            if ep.name not in self._entries:
                self._entries[ep.name] = Entry(ep.name, ep.value, {"plugin": ep.dist.name if ep.dist else "?"})

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def entry(self, name: str) -> Entry:
        self._load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            raise BenchError(
                f"unknown {self.kind} {name!r}. Available: {', '.join(self.names()) or '(none)'}"
            ) from None

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._entries
