"""Shared fixtures: small Libri2Mix trees written in the real format."""

from __future__ import annotations

from pathlib import Path

import pytest

from libri2mix_tree import build_tree
from skip_guard import pytest_collectreport, pytest_runtest_logreport, pytest_sessionfinish  # noqa: F401 (hooks)


@pytest.fixture
def small_tree(tmp_path: Path) -> Path:
    """Eight short mixtures (mix_clean only), foreign absolute CSV paths; returns the Libri2Mix dir."""
    return build_tree(tmp_path / "data", mix_types=("mix_clean",))


@pytest.fixture(scope="module")
def torch_one_thread():
    """Small tensors run faster on one thread, and leave the other cores to parallel jobs."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def one_usable_core(monkeypatch):
    """``bench run``/``bench score`` without ``--jobs`` use every usable core (``bench.run.parallelism``);
    in tests they see one, so a CLI run stays inline (no worker pool to spawn) unless a test asks
    for jobs, as before the default changed.  ``tests/test_parallelism.py`` restores the real count."""
    from bench.run import parallelism

    monkeypatch.setattr(parallelism, "usable_cores", lambda: 1)
