"""Shared fixtures: small Libri2Mix trees written in the real format."""

from __future__ import annotations

from pathlib import Path

import pytest

from libri2mix_tree import build_tree


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    """Eight short mixtures (mix_clean only), foreign absolute CSV paths; returns the Libri2Mix dir."""
    return build_tree(tmp_path / "data", mix_types=("mix_clean",))
