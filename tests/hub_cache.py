"""A Hugging Face hub cache written the way ``huggingface_hub`` writes it, for offline tests.

``models--org--name/blobs/<sha256>`` holds each file's bytes, ``snapshots/<commit>/<file>``
is a relative symlink to its blob, and ``refs/main`` names the commit.  Tests point
``HF_HUB_CACHE`` at such a folder and load models by hub id, as a user's cache would
serve them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable


def repo_folder(cache: Path, repo: str) -> Path:
    return cache / ("models--" + repo.replace("/", "--"))


def put_in_hub_cache(cache: Path, repo: str, revision: str, folder: Path, *, main: bool = True) -> Path:
    """Copy the files of ``folder`` into ``cache`` as ``repo`` at commit ``revision``; returns the snapshot dir."""
    base = repo_folder(cache, repo)
    blobs = base / "blobs"
    snapshot = base / "snapshots" / revision
    blobs.mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        blob = blobs / digest
        if not blob.exists():
            try:  # a hard link: large test weights are not copied twice
                os.link(path, blob)
            except OSError:
                shutil.copyfile(path, blob)
        link = snapshot / path.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, snapshot))
    if main:
        (base / "refs").mkdir(exist_ok=True)
        (base / "refs" / "main").write_text(revision)
    return snapshot


def cache_pinned_models(root: Path, save: Callable[[str, Path], None], names: Iterable[str]) -> Path:
    """Save each named model with ``save(name, folder)`` under ``root/plain`` and cache it at its pinned commit.

    Why: the hub tests of separators and codecs build their caches the same way; the pinned
    repo and commit come from ``bench.hub.HUB_MODELS``, as a user's ``bench assets fetch`` would.
    """
    from bench import hub

    for name in names:
        folder = root / "plain" / name
        save(name, folder)
        spec = hub.HUB_MODELS[name]
        put_in_hub_cache(root / "hub", spec.repo, spec.revision, folder)
    return root
