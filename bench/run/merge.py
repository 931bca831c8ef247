"""``bench merge``: combine shard result directories into one, refusing inconsistent inputs.

Shards are consistent when they describe the same datasets (fingerprints) and give
each system name the same system key (same configuration and checkpoints).  Rows are
copied table by table; a row whose key already exists with different content is a
conflict and stops the merge before anything is written.  Estimate files are copied
(hard-linked when possible) to the same relative paths.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError
from bench.paths import inside
from bench.store import DB_NAME, Store, shard_contents


@dataclass
class MergeSummary:
    sources: int
    rows: dict[str, int]
    files: int


def check_consistent(roots: list[Path]) -> None:
    """Same dataset fingerprints everywhere, one key per system name, every estimate path inside its folder."""
    datasets: dict[Path, frozenset[str]] = {}
    keys: dict[str, dict[str, Path]] = {}
    for root in roots:
        db = root / DB_NAME
        if not db.exists():
            raise BenchError(f"{db}: no results database to merge")
        contents = shard_contents(db)
        datasets[root] = contents.dataset_keys
        for path in contents.estimate_paths:
            inside(root, path, "estimate path")  # a tampered database must not copy files out of its folder
        for name, key in contents.systems:
            keys.setdefault(name, {})[key] = root
    first = roots[0]
    for root in roots[1:]:
        if datasets[root] != datasets[first]:
            raise BenchError(f"{root}: dataset fingerprints {sorted(k[:12] for k in datasets[root])} differ from "
                             f"{first}'s {sorted(k[:12] for k in datasets[first])}; not shards of one run")
    for name, by_key in keys.items():
        if len(by_key) > 1:
            where = ", ".join(f"{k[:12]} in {r}" for k, r in by_key.items())
            raise BenchError(f"system {name!r} has different configurations across inputs ({where})")


def merge_results(sources: list[Path], out: Path) -> MergeSummary:
    roots = [Path(s) for s in sources]
    if len(roots) < 2:
        raise BenchError("bench merge needs at least two result directories")
    if Path(out).resolve() in {r.resolve() for r in roots}:
        raise BenchError(f"{out}: the output must not be one of the inputs")
    check_consistent(roots)
    store = Store(out)
    counts: dict[str, int] = {}
    files = 0
    for root in roots:
        added, paths = store.merge_from(root / DB_NAME)
        for table, n in added.items():
            counts[table] = counts.get(table, 0) + n
        # paths come from a database someone else wrote: none may leave its folder
        files += sum(_copy_file(inside(root, p, "estimate path"), inside(store.root, p, "estimate path"))
                     for p in paths)
    return MergeSummary(len(roots), counts, files)


def _copy_file(src: Path, dst: Path) -> int:
    if dst.exists():
        return 0
    if not src.exists():
        raise BenchError(f"{src}: estimate file listed in the database is missing")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".tmp-{dst.name}")
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)
    return 1
