"""Full validation of a Libri2Mix tree (``bench data check <root>``).

A run fails at the first bad item; before a long run a user wants *every* problem
at once.  :func:`check_dataset` therefore collects instead of raising: missing
files, headers (rate, channels, lengths vs the CSV and vs the mixture, the minimum
length) and, reading all audio, non-finite samples, silent references and whether
each mixture equals the sum of its parts (s1+s2 for mix_clean; sources+noise for
mix_both/mix_single when the noise file is present).  Sum mismatches are warnings: re-normalised or re-encoded copies of LibriMix can
legitimately drift, but the user should know.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.audio import read_audio
from bench.data.libri2mix import DatasetSpec, content_problems, open_dataset, sum_warning
from bench.errors import BenchError


@dataclass
class CheckReport:
    """What :func:`check_dataset` found; ``ok`` means no errors (warnings allowed)."""

    name: str
    root: Path | None
    num_items: int = 0
    num_checked: int = 0
    fingerprint: str | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        state = "OK" if self.ok else "FAILED"
        return (f"{self.name}: {state}, {self.num_checked}/{self.num_items} mixtures fully checked, "
                f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)")


def check_dataset(spec: DatasetSpec, progress: bool = True) -> CheckReport:
    """Check every selected item of ``spec`` (all of them unless it subsets)."""
    report = CheckReport(name=str(spec.root) if spec.root is not None else "embedded", root=spec.root)
    item_errors: list[str] = []
    try:
        dataset = open_dataset(spec, item_errors=item_errors)
    except BenchError as exc:  # structural: no root, no CSV, bad columns...
        report.errors.append(str(exc))
        return report
    report.name, report.root, report.fingerprint = dataset.name, dataset.root, dataset.fingerprint
    report.num_items = len(dataset) + len(item_errors)
    report.errors.extend(item_errors)
    total = len(dataset)
    step = max(1, total // 100)
    for index, mixture in enumerate(dataset, start=1):
        problems = dataset.header_problems(mixture)
        if problems:
            report.errors.extend(problems)
        else:
            try:
                content, warning = _content_check(dataset, mixture)
            except BenchError as exc:
                report.errors.append(str(exc))
            else:
                report.errors.extend(content)
                report.num_checked += not content
                if warning:
                    report.warnings.append(warning)
        if progress and (index % step == 0 or index == total):
            print(f"\rchecking {dataset.name}: {index}/{total}", end="", file=sys.stderr, flush=True)
    if progress and total:
        print(file=sys.stderr)
    return report


def _content_check(dataset, mixture) -> tuple[list[str], str | None]:
    """Read whole files: non-finite or silent audio (errors), then mixture vs sum of its parts (warning)."""
    mix_type = dataset.spec.mix_type
    noise = dataset.noise_paths.get(mixture.mixture_id)
    mix, _ = read_audio(mixture.mixture_path)
    sources = np.stack([read_audio(p)[0] for p in mixture.source_paths])
    problems = content_problems(mixture, mix, sources)
    if problems or (mix_type != "mix_clean" and noise is None):
        return problems, None  # without the noise file we cannot tell sources+noise
    parts = np.stack([*sources, *([read_audio(noise)[0]] if mix_type != "mix_clean" else [])])
    what = "s1+s2" if mix_type == "mix_clean" else "+".join(["s1", "s2"][: len(mixture.source_paths)] + ["noise"])
    return [], sum_warning(mixture, mix, parts, what)
