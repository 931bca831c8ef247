"""Run manifests: enough to tell later exactly what produced a set of numbers."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import bench

#: packages whose versions can change numbers
TRACKED_PACKAGES = ("jsac-bench", "torch", "torchaudio", "numpy", "scipy", "soundfile", "speechbrain",
                    "onnxruntime", "pystoi", "pandas")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git_revision() -> str | None:
    """Revision of the source tree the package runs from (``+dirty`` if modified), if it is a git checkout."""
    source = Path(bench.__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def build_manifest(argv: list[str], dataset, systems: list[dict[str, Any]], metrics: list[str],
                   device: str, jobs: int) -> dict[str, Any]:
    return {
        "command": argv,
        "bench_version": bench.__version__,
        "git_revision": git_revision(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "device": device,
        "jobs": jobs,
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint, "num_mixtures": len(dataset),
                    "subset": getattr(dataset, "subset", None)},
        "systems": systems,
        "metrics": metrics,
    }
