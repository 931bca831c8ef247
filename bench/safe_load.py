"""Loading PyTorch checkpoints without running code from them, and failing in one line.

A ``.pt`` file is a pickle: read by a full unpickler (torch's old default) it may call
any function (``os.system``) while it is read.  Checkpoints here come from other labs,
hubs and shared folders, and training states from ``--work`` folders that others can
write, so every loader goes through :func:`load_checkpoint`: torch's ``weights_only``
unpickler, which builds tensors and plain containers only and refuses anything else
before calling it.  A refused, truncated or foreign file ends in a
:class:`~bench.errors.BenchError` naming the file and the reason, not in an
``UnpicklingError`` traceback.  Writing goes through :func:`atomic_save`, so a kill never
leaves a truncated checkpoint for the next load to trip over.
"""

from __future__ import annotations

import os
import pickle
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

from bench.errors import BenchError

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def load_checkpoint(path: Path | str, map_location: Any = "cpu", what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)``; every failure is one line naming ``path``."""
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise BenchError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise BenchError(f"{path}: {what} is a directory, not a file") from None
    except Exception as exc:  # torch raises many types for a foreign or damaged file
        raise BenchError(f"{path}: cannot load {what}: {load_error_reason(exc)}") from None


def load_checkpoint_shared(path: Path | str, what: str = "checkpoint") -> Any:
    """:func:`load_checkpoint` on the CPU, read once per process while the file is unchanged.

    A system checks its weights files when it is listed, resolves which codec they were
    trained on, then loads them: without this each small file would be read and unpickled
    up to three times at start-up.  The result is shared between callers, so they must
    treat it as read-only (``load_state_dict`` copies, which is how it is used).
    """
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise BenchError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise BenchError(f"{path}: cannot read {what}: {exc.strerror}") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)   # a rewritten file has a new key
    if key in _SHARED:
        _SHARED.move_to_end(key)
        return _SHARED[key]
    blob = load_checkpoint(path, what=what)       # failures raise and are not remembered
    _SHARED[key] = blob
    while len(_SHARED) > _SHARED_MAX:
        _SHARED.popitem(last=False)
    return blob


#: the few most recently used files of :func:`load_checkpoint_shared` (token-model weights: MBs each)
_SHARED: "OrderedDict[tuple[str, int, int], Any]" = OrderedDict()
_SHARED_MAX = 8


def load_error_reason(exc: BaseException) -> str:
    """Why torch's safe loader rejected a file, in a few words (its own messages run to paragraphs)."""
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError):
        found = _GLOBAL.search(text)
        if found:
            return (f"it refers to {found.group(1)}, which is not plain data; refused, since loading it "
                    "could run code (only tensors and plain containers are loaded)")
        return "not plain tensor data (refused by the weights-only loader), or damaged"
    first = text.strip().splitlines()[0] if text.strip() else ""
    if "central directory" in first or isinstance(exc, EOFError):
        return "the file is truncated or damaged"
    return f"not a PyTorch weights file, or damaged ({type(exc).__name__}: {first[:120]})"


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` through a temporary file beside ``path``, so a kill never leaves a truncated file."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    torch.save(obj, tmp)
    os.replace(tmp, path)
