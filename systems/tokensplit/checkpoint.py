"""TokenSplit weights files, tied (like CodeSep's) to the codec checkpoint whose tokens they model.

``{"format": 1, "kind": "tokensplit"|"tokensplit-refine", "config", "frames", "vocab_size",
"state_dict", "codec_sha256", "info"}`` in float32 (``weights_only`` loadable), with a
JSON twin.  Loading with another codec is refused: its tokens mean something else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.baselines.codecs.mdct_rvq.checkpoint import check_tied_codec, codec_token_ids, read_token_model
from bench.errors import BenchError
from bench.safe_load import atomic_save
from bench.systems.tokensplit.config import TokenSplitConfig
from bench.systems.tokensplit.model import TokenSplitModel
from bench.systems.tokensplit.sequences import SequenceBuilder

PACKAGE_CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
KINDS = ("tokensplit", "tokensplit-refine")


def export_weights(model: TokenSplitModel, frames: int, path: Path, codec_hash: str, info: dict[str, Any]) -> None:
    kind = "tokensplit-refine" if model.cfg.refine else "tokensplit"
    state = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}
    blob = {"format": 1, "kind": kind, "config": model.cfg.to_dict(), "frames": frames,
            "vocab_size": model.vocab_size, "state_dict": state, "codec_sha256": codec_hash, "info": info}
    atomic_save(blob, path)
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=str) + "\n")


def read_header(path: Path) -> dict[str, Any]:
    """The blob of a TokenSplit weights file (one-line error if it is missing or not ours)."""
    return read_token_model(path, KINDS, "TokenSplit", "tokensplit")


def check_codec(blob: dict[str, Any], path: Path, codec_path: Path) -> None:
    """Refuse weights trained against another codec checkpoint than the one in use."""
    check_tied_codec(blob.get("codec_sha256"), path, codec_path, codec_token_ids(codec_path), "TokenSplit",
                     "tokensplit")


def load_weights(path: Path, kind: str, codec_path: Path, device: str = "cpu") -> tuple[TokenSplitModel, int]:
    """(model in eval mode, block frames) after checking kind and codec hash."""
    blob = read_header(path)
    if blob["kind"] != kind:
        raise BenchError(f"{path}: holds {blob['kind']} weights, expected {kind}")
    check_codec(blob, Path(path), Path(codec_path))
    cfg = TokenSplitConfig.from_dict(blob["config"])
    frames = int(blob["frames"])
    builder = SequenceBuilder(cfg, frames)
    model = TokenSplitModel(cfg, builder.vocab.size, builder.input_layout.length, builder.output_layout.length)
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        raise BenchError(f"{path}: weights do not fit the network its config describes ({str(exc)[:120]})") from None
    return model.to(device).eval(), frames
