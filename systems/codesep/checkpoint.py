"""CodeSep weights files, pinned to the codec checkpoint whose tokens they were trained on.

A weights file is ``{"format": 1, "kind": "btdm"|"atsp", "config": ..., "state_dict": ...,
"codec_sha256": ..., "info": ...}`` in float32, loadable with ``weights_only=True``, with a
JSON twin (config, codec hash, training command, losses).  Tokens, and so every
prediction target, depend on the codec's weights: a file used with any other codec would
produce garbage, so loading checks the hash and refuses with a clear error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import torch

from bench.baselines.codecs.mdct_rvq.checkpoint import check_tied_codec, read_token_model
from bench.errors import BenchError
from bench.safe_load import atomic_save
from bench.systems.codesep.config import ATSPConfig, BTDMConfig
from bench.systems.codesep.model import ATSP, BTDM

PACKAGE_CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
KINDS = {"btdm": (BTDM, BTDMConfig), "atsp": (ATSP, ATSPConfig)}


def export_weights(model: torch.nn.Module, kind: str, path: Path, codec_hash: str, info: dict[str, Any]) -> None:
    """Write the weights-only file atomically, and ``<path>.json`` describing it."""
    state = {k: v.detach().float().cpu().clone() if v.is_floating_point() else v.detach().cpu().clone()
             for k, v in model.state_dict().items()}
    atomic_save({"format": 1, "kind": kind, "config": model.cfg.to_dict(), "state_dict": state,
                 "codec_sha256": codec_hash, "info": info}, path)
    meta = {"kind": kind, "config": model.cfg.to_dict(), "codec_sha256": codec_hash, **info}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=str) + "\n")


def read_header(path: Path) -> dict[str, Any]:
    """The blob of a weights file (raises a one-line error if it is missing or not ours)."""
    return read_token_model(path, KINDS, "CodeSep", "codesep")


def check_codec(blob: dict[str, Any], path: Path, codec_path: Path, codec_hash: str | Iterable[str]) -> None:
    """Refuse weights trained against another codec checkpoint than the one in use."""
    check_tied_codec(blob.get("codec_sha256"), path, codec_path, codec_hash, "CodeSep", "codesep")


def load_weights(path: Path, kind: str, codec_path: Path, codec_hash: str | Iterable[str],
                 device: str = "cpu") -> torch.nn.Module:
    """The ``kind`` network from ``path`` in eval mode, after checking its codec hash."""
    blob = read_header(path)
    if blob["kind"] != kind:
        raise BenchError(f"{path}: holds CodeSep {blob['kind']} weights, expected {kind}")
    check_codec(blob, Path(path), Path(codec_path), codec_hash)
    cls, cfg_cls = KINDS[kind]
    model = cls(cfg_cls.from_dict(blob["config"]))
    missing, unexpected = model.load_state_dict(blob["state_dict"], strict=False)
    bad = [k for k in missing if not k.endswith("codebooks")] + list(unexpected)
    if bad:
        raise BenchError(f"{path}: weights do not fit the {kind} network ({', '.join(bad[:3])} …)")
    return model.to(device).eval()
