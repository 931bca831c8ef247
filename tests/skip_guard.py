"""A pytest plugin that fails the session when a test skips that should have run here (CI).

``importorskip`` and ``skipif`` keep the suite usable on a laptop without Chromium or a GPU, but
on CI they hide failures: a failed ``apt-get`` turned the browser, opus and TTS tests into skips
and CI stayed green.  With ``JSAC_BENCH_EXPECTED_SKIPS=<file>`` in the environment (``.ci/run``
sets it), every skip must match a line of that file (a regular expression searched in
``"<test id> (<reason>)"``; ``#`` starts a comment); any other skip is listed and the session
exits with status 1.  Without the variable nothing changes.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

ENV = "JSAC_BENCH_EXPECTED_SKIPS"
_SKIPS: list[str] = []


def expected_patterns(path: Path) -> list[re.Pattern]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [re.compile(line) for line in lines if line]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPS.append(f"{report.nodeid} ({reason.removeprefix('Skipped: ')})")


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.skipped:  # a module-level importorskip skips the whole file at collection
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPS.append(f"{report.nodeid} ({reason.removeprefix('Skipped: ')})")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    allow = os.environ.get(ENV)
    if not allow:
        return
    patterns = expected_patterns(Path(allow))
    unexpected = [skip for skip in _SKIPS if not any(p.search(skip) for p in patterns)]
    if unexpected:
        print(f"\n{len(unexpected)} test(s) skipped that must run here (not in {allow}):", file=sys.stderr)
        for skip in unexpected:
            print(f"  {skip}", file=sys.stderr)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
