"""Progress bars (tqdm, with ETA) that ``--quiet`` silences in one place."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

_QUIET = False


def set_quiet(quiet: bool) -> None:
    global _QUIET
    _QUIET = quiet


def progress_bar(total: int, desc: str, unit: str = "mix", **kwargs: Any) -> tqdm:
    """A bar showing rate and ETA; disabled under ``--quiet``."""
    return tqdm(total=total, desc=desc, unit=unit, disable=_QUIET, dynamic_ncols=True, leave=True, **kwargs)
