"""Checking a system variant's options (``bench.toml``) against what its class accepts.

System classes take their options as keyword arguments and pass the rest on to
:class:`~bench.system.System`, which keeps anything (``**options``).  Without a check a
typo such as ``checkpiont = "/my/model.pt"`` is silently stored and ignored: the run
uses the default weights and the user believes their model was evaluated.  A wrong
type (``kbps = "twelve"``) surfaced as a ``ValueError`` traceback deep in a
constructor.  Here the accepted keys and their types are read from the constructors'
signatures and type hints (every ``__init__`` along the class's MRO), so a new system
declares its options once, in its signature.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from pathlib import Path
from typing import Any, Mapping

from bench.errors import BenchError

#: constructor parameters that the harness sets, never a config file
RESERVED = frozenset({"self", "name", "kbps", "device", "sample_rate"})


def accepted_options(cls: type) -> dict[str, Any]:
    """Option name -> type hint (``Any`` when unannotated) over the constructors of ``cls``'s MRO."""
    accepted: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or not inspect.isfunction(init):
            continue
        try:
            hints = typing.get_type_hints(init)
        except Exception:  # an unresolvable annotation must not block the run; treat as Any
            hints = {}
        for param in inspect.signature(init).parameters.values():
            if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL) or param.name in RESERVED:
                continue
            accepted[param.name] = hints.get(param.name, Any)
    return accepted


def check_options(cls: type, options: Mapping[str, Any], where: str) -> None:
    """Refuse unknown keys (naming the closest valid one) and values of the wrong type.

    ``where`` starts the message, e.g. ``bench.toml: [systems."fstc-opus@12"]``.
    """
    accepted = accepted_options(cls)
    for key, value in options.items():
        if key not in accepted:
            close = difflib.get_close_matches(key, list(accepted), n=1)
            hint = (f"did you mean {close[0]!r}?" if close
                    else f"valid keys: {', '.join(sorted(accepted)) or 'none'}")
            raise BenchError(f"{where}: unknown key {key!r} ({hint})")
        expected = accepted[key]
        if not matches(value, expected):
            raise BenchError(f"{where}: {key} = {value!r} is {_article(type(value).__name__)}, "
                             f"expected {describe(expected)}")


def matches(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits a type hint (ints count as floats; bools are not numbers)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is not None:
        hint = origin
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is Path:
        return isinstance(value, (str, Path))
    if hint in (list, tuple, typing.Sequence):
        return isinstance(value, (list, tuple))
    if hint in (dict, typing.Mapping):
        return isinstance(value, dict)
    return isinstance(value, hint) if isinstance(hint, type) else True


def describe(hint: Any) -> str:
    """A type hint in the words of a config file (``a number``, ``a string``, ``a table``)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        arms = [describe(arm) for arm in typing.get_args(hint) if arm is not type(None)]
        return " or ".join(dict.fromkeys(arms))
    hint = origin or hint
    return {float: "a number", int: "an integer", str: "a string", Path: "a path (string)", bool: "true or false",
            dict: "a table", list: "a list", tuple: "a list"}.get(hint, getattr(hint, "__name__", str(hint)))


def _article(name: str) -> str:
    words = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean", "dict": "a table",
             "list": "a list"}
    return words.get(name, f"a {name}")
