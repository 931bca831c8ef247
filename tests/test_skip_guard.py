"""The CI skip guard (``skip_guard.py``): an unexpected skip fails the session, an allow-listed one does not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def run_pytest(folder: Path, allow: str | None) -> subprocess.CompletedProcess:
    (folder / "conftest.py").write_text("from skip_guard import pytest_collectreport, pytest_runtest_logreport, "
                                        "pytest_sessionfinish  # noqa: F401\n")
    env = {k: v for k, v in os.environ.items() if k != "JSAC_BENCH_EXPECTED_SKIPS"}
    env["PYTHONPATH"] = str(TESTS)
    if allow is not None:
        (folder / "allow").write_text(allow)
        env["JSAC_BENCH_EXPECTED_SKIPS"] = str(folder / "allow")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_unexpected_skips_fail_and_listed_ones_pass(tmp_path: Path):
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "def test_runs(): pass\n"
        "@pytest.mark.skipif(True, reason='no CUDA device')\n"
        "def test_cuda(): pass\n"
        "def test_browser(): pytest.skip('chromium is not installed')\n")
    (tmp_path / "test_hard_dependency.py").write_text(
        "import pytest\npytest.importorskip('no_such_module_here')\ndef test_codec(): pass\n")
    assert run_pytest(tmp_path, None).returncode == 0                      # off outside CI
    strict = run_pytest(tmp_path, "# CI machines have no GPU\nno CUDA device\n")
    assert strict.returncode == 1
    assert "test_browser (chromium is not installed)" in strict.stderr
    assert "test_hard_dependency.py (could not import 'no_such_module_here'" in strict.stderr
    assert "test_cuda" not in strict.stderr
    assert run_pytest(tmp_path, "no CUDA device\nchromium\nno_such_module_here\n").returncode == 0
