"""``bench run``: separation for each system, then metrics, all resumable.

The runner only orchestrates: the dataset yields mixtures, ``bench.separation``
stores what systems produce, ``bench.scoring`` stores what metrics say.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Sequence

from bench.catalog import build_system
from bench.config import BenchConfig, resolve_system_spec
from bench.manifest import build_manifest
from bench.scoring import score
from bench.separation import separate_dataset
from bench.store import Store

log = logging.getLogger(__name__)


@dataclass
class RunRequest:
    """Everything ``bench run`` was asked to do (the CLI builds it from arguments)."""

    systems: Sequence[str]
    metrics: Sequence[str]
    device: str = "cpu"
    jobs: int = 1
    threads: int = 1
    argv: list[str] = field(default_factory=list)


@dataclass
class RunSummary:
    run_id: str
    run_dir: Path
    dataset_key: str
    separated: dict[str, int]
    scored: int


def new_run_dir(store: Store) -> tuple[str, Path]:
    run_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    run_dir = store.root / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_id, run_dir


def run(request: RunRequest, dataset, store: Store, config: BenchConfig | None = None) -> RunSummary:
    """Run every system on every mixture, then every metric; skips what is already stored."""
    config = config or BenchConfig()
    specs = [resolve_system_spec(name, config) for name in request.systems]
    systems = [build_system(spec, device=request.device, sample_rate=dataset.mixtures[0].sample_rate
                            if len(dataset) else 16000) for spec in specs]
    dataset_key = dataset.fingerprint
    keyed = [(system, system.key()) for system in systems]

    run_id, run_dir = new_run_dir(store)
    handler = logging.FileHandler(run_dir / "bench.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        manifest = build_manifest(
            request.argv, dataset,
            [{"name": s.name, "key": k, "config": s.config(), "nominal_kbps": s.nominal_kbps} for s, k in keyed],
            list(request.metrics), request.device, request.jobs,
        )
        (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        store.start_run(run_id, manifest)
        store.register_dataset(dataset_key, dataset.name, _spec_dict(dataset), len(dataset))
        separated: dict[str, int] = {}
        for system, key in keyed:
            store.register_system(key, system.name, system.family, system.config(), system.nominal_kbps)
            separated[system.name] = separate_dataset(dataset, system, key, dataset_key, store)
            log.info("%s (%s): separated %d new mixtures", system.name, key, separated[system.name])
        scored = score(dataset, [(s.name, k) for s, k in keyed], request.metrics, store, dataset_key,
                       jobs=request.jobs, threads=request.threads)
        store.finish_run(run_id)
        return RunSummary(run_id, run_dir, dataset_key, separated, scored)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def _spec_dict(dataset) -> dict:
    spec = getattr(dataset, "spec", None)
    if spec is None:
        return {}
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(spec).items()}
