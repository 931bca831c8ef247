"""Blinded clip names, and a check that nothing a worker can see gives a condition away.

Tokens are 16 base32 characters drawn from a seeded NumPy generator: reproducible
for a seed (an export can be rebuilt exactly), unrelated to the clip's content, and
the only thing file names and URLs carry.  The mapping back lives only in the
secret key file.  :func:`find_leaks` scans what is uploaded (file names, the batch
CSV, the page) for system names, mixture and utterance IDs, and bitrates.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Iterable

import numpy as np

TOKEN_BYTES = 10  # -> 16 base32 characters, 80 bits


class TokenMaker:
    """Unique random tokens from a seeded generator."""

    def __init__(self, seed: int) -> None:
        # a stream of its own, so tokens do not depend on how much randomness sampling used
        self.rng = np.random.default_rng([int(seed), 0x626C696E64])
        self.issued: set[str] = set()

    def __call__(self) -> str:
        while True:
            token = base64.b32encode(self.rng.bytes(TOKEN_BYTES)).decode("ascii").lower()
            if token not in self.issued and not token[0].isdigit():
                self.issued.add(token)
                return token


def secret_strings(systems: Iterable[str], mixture_ids: Iterable[str]) -> list[str]:
    """Strings that must not appear in anything uploaded: system names, mixture and utterance IDs."""
    found: set[str] = set()
    for name in systems:
        found.add(name.lower())
        family, _, kbps = name.partition("@")
        found.add(family.lower())
    for mid in mixture_ids:
        found.add(mid.lower())
        found.update(part.lower() for part in mid.split("_") if part)
    return sorted(s for s in found if s)


_BITRATE = re.compile(r"\d+(\.\d+)?\s*(k?bps|kbit)", re.IGNORECASE)


def find_leaks(texts: dict[str, str], secrets: Iterable[str]) -> list[str]:
    """``where: what`` for each secret string (as a whole word) or bitrate found in the named texts."""
    problems = []
    for where, text in texts.items():
        low = text.lower()
        for secret in secrets:
            if re.search(r"(?<![0-9a-z])" + re.escape(secret) + r"(?![0-9a-z])", low):
                problems.append(f"{where}: contains {secret!r}")
        if _BITRATE.search(text):
            problems.append(f"{where}: mentions a bitrate")
    return problems


def uploaded_texts(out: Path) -> dict[str, str]:
    """Everything that goes to the web host or to AMT (``out`` is an export's public folder):
    audio file names, hits.csv, hit.html."""
    texts = {"audio file names": "\n".join(sorted(p.name for p in (out / "audio").iterdir()))}
    for name in ("hits.csv", "hit.html"):
        texts[name] = (out / name).read_text(encoding="utf-8")
    return texts
