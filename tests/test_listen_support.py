"""Shared helpers of the listening-test tests (imported by the other ``test_listen_*`` files).

The results store is made by the real runner on a small real-format Libri2Mix tree
(systems ``mixture`` and ``clean``, no metrics), so exports read exactly what
``bench run`` writes; nothing needs model weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from libri2mix_tree import IDS, build_tree

from bench.data import DatasetSpec, open_dataset
from bench.listen.export import ExportRequest, ExportSummary, export
from bench.runner import RunRequest, run
from bench.store import Store

SR = 16000


def make_store(base: Path, systems: Sequence[str] = ("mixture", "clean"), seconds: float = 1.0) -> Path:
    """Run ``systems`` over eight mixtures of ``seconds`` each; returns the results directory."""
    tree = build_tree(base / "data", lengths={mid: int(seconds * SR) for mid in IDS}, mix_types=("mix_clean",))
    store = Store(base / "results")
    try:
        run(RunRequest(systems=list(systems), metrics=[]), open_dataset(DatasetSpec(root=tree)), store)
    finally:
        store.close()
    return base / "results"


def export_batch(results: Path, out: Path, test: str, **options) -> ExportSummary:
    """``bench listen export`` through the library, small defaults for tests."""
    defaults = dict(base_url="https://example.org/lt/", samples=6, items_per_hit=4, seed=3)
    if test.endswith("abx"):
        defaults["pairs"] = [("clean", "mixture")]
    else:
        defaults["systems"] = ["clean", "mixture"]
    defaults.update(options)
    return export(ExportRequest(test=test, out=out, results=results, **defaults))


def test_store_holds_both_systems(tmp_path: Path):
    results = make_store(tmp_path, seconds=0.5)
    store = Store(results)
    names = set(store.frame("SELECT name FROM systems")["name"])
    assert names == {"mixture", "clean"}
    assert store.conn.execute("SELECT COUNT(*) FROM estimates").fetchone()[0] == 2 * 2 * len(IDS)
    store.close()
