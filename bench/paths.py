"""Turning names from outside (mixture IDs, system names, stored paths) into paths that stay put.

Mixture IDs come from metadata CSVs, system names from the command line and
``bench.toml``, estimate paths from result databases someone else may have made.
Joined to a folder as they are, ``../../x``, ``/abs/x`` or an empty string write
outside ``--results`` or onto another item's files.  Every such join goes through
this module:

* :func:`path_component` encodes any text into one file-name component, injectively
  (distinct texts never share a component, so two mixtures or two systems never share
  a file) and never ``.``/``..``/empty; ordinary IDs and names come out unchanged.
* :func:`child` joins such components to a folder; :func:`inside` checks that a
  stored relative path stays within its folder.
* :func:`check_mixture_id` is the stricter rule applied when a CSV is read, so a bad
  ID is reported with its file and row before any work starts.
"""

from __future__ import annotations

import string
from pathlib import Path, PurePosixPath

from bench.errors import BenchError

#: characters kept as they are in a path component; everything else is %-encoded
_PLAIN = frozenset(string.ascii_letters + string.digits + "-_.@+")
#: longest mixture ID accepted from a CSV (file systems allow 255 bytes per component)
MAX_ID_LENGTH = 200


def path_component(text: str) -> str:
    """``text`` as one safe file-name component: ``%XX``-encode what is not plain, and a leading dot.

    The encoding is injective because ``%`` itself is always encoded; ``""`` becomes ``%``
    (a name no other text produces).
    """
    if text == "":
        return "%"
    out = []
    for index, char in enumerate(text):
        if char in _PLAIN and not (index == 0 and char == "."):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(out)


def child(folder: Path, *names: str) -> Path:
    """``folder/<component>/<component>…`` with each name encoded by :func:`path_component`."""
    return Path(folder).joinpath(*(path_component(name) for name in names))


def inside(folder: Path, relative: str, what: str = "path") -> Path:
    """``folder/relative`` when ``relative`` is a plain relative path that stays inside ``folder``.

    Used for paths read back from a results database (which may come from another
    machine, or from someone hostile): absolute paths and ``..`` parts are refused.
    """
    posix = PurePosixPath(str(relative).replace("\\", "/"))
    if not str(relative) or posix.is_absolute() or any(part in ("..", "") for part in posix.parts) \
            or ":" in (posix.parts[0] if posix.parts else ""):
        raise BenchError(f"{folder}: {what} {relative!r} leaves the folder; refusing it")
    return Path(folder).joinpath(*posix.parts)


def check_mixture_id(mixture_id: str) -> str | None:
    """Why ``mixture_id`` cannot name a mixture (``None`` when it can).

    IDs become folder names, so they must be one path component: not empty, not ``.``
    or ``..``, no ``/`` or ``\\``, no control characters, at most :data:`MAX_ID_LENGTH`
    characters.
    """
    if not mixture_id:
        return "empty mixture ID"
    if mixture_id in (".", ".."):
        return f"mixture ID {mixture_id!r} is not a file name"
    if "/" in mixture_id or "\\" in mixture_id:
        return f"mixture ID {mixture_id!r} contains a path separator"
    if any(ord(c) < 32 or ord(c) == 127 for c in mixture_id):
        return f"mixture ID {mixture_id!r} contains a control character"
    if len(mixture_id) > MAX_ID_LENGTH:
        return f"mixture ID {mixture_id[:40]!r}... is longer than {MAX_ID_LENGTH} characters"
    return None
