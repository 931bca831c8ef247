"""Codec weights: saving and loading the shipped checkpoints (``tiny.pt``, ``small.pt``), and their identity.

A shipped checkpoint is ``{"format": 1, "config": ModelConfig dict, "state_dict": ...}``
in float32, readable with ``torch.load(weights_only=True)`` (no pickled code), with
a JSON twin describing how it was made.  (A training run's resumable ``last.pt`` is
:mod:`bench.training.loop`'s.)  A checkpoint's SHA-256 names its tokens: token models
(CodeSep, TokenSplit) record it in their weights, training states and token caches,
and refuse to run with any other codec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import torch

from bench.baselines.codecs.mdct_rvq.config import ModelConfig
from bench.baselines.codecs.mdct_rvq.model import MDCTRVQModel
from bench.errors import BenchError
from bench.safe_load import atomic_save, load_checkpoint, load_checkpoint_shared
from bench.system import file_sha256

PACKAGE_CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_CHECKPOINT = PACKAGE_CHECKPOINTS / "small.pt"


DERIVED_SUFFIX = ".embed_sum"
"""EMA sums are codebook x smoothed count: derivable, so not shipped (a K=64 codec stays under 20 MB)."""


def export_weights(model: MDCTRVQModel, path: Path, info: dict[str, Any]) -> None:
    """Write the weights-only checkpoint and ``<path>.json`` (config + ``info``)."""
    state = {k: v.detach().float().cpu().clone() if v.is_floating_point() else v.detach().cpu().clone()
             for k, v in model.state_dict().items() if not k.endswith(DERIVED_SUFFIX)}
    blob = {"format": 1, "config": model.cfg.to_dict(), "state_dict": state}
    if model.post_gain is not None:
        blob["post_gain"] = model.post_gain.detach().float().cpu().clone()
    if model.tokens_of:
        blob["tokens_of"] = list(model.tokens_of)
    atomic_save(blob, path)
    meta = {"config": model.cfg.to_dict(), **info}
    if model.tokens_of:
        meta["tokens_of"] = list(model.tokens_of)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=str) + "\n")


def load_model(path: Path | None = None, device: str = "cpu") -> MDCTRVQModel:
    """The codec model from a shipped checkpoint (default: the packaged small one), in eval mode."""
    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    if not path.exists():
        raise BenchError(f"codec checkpoint {path} not found (train one with `bench train codec`)")
    blob = load_checkpoint(path, what="codec checkpoint")
    if not isinstance(blob, dict) or "state_dict" not in blob or "config" not in blob:
        raise BenchError(f"{path}: not an MDCT-RVQ codec checkpoint")
    model = MDCTRVQModel(ModelConfig.from_dict(blob["config"]))
    state = dict(blob["state_dict"])
    derived = [k for k in model.state_dict() if k.endswith(DERIVED_SUFFIX) and k not in state]
    try:
        model.load_state_dict(state, strict=not derived)
    except RuntimeError as exc:
        raise BenchError(f"{path}: weights do not fit its config ({str(exc).splitlines()[0]})") from None
    missing = set(model.state_dict()) - set(state) - set(derived)
    if missing:
        raise BenchError(f"{path}: weights missing for {', '.join(sorted(missing)[:3])}")
    if derived:
        for vq in model.quantizer.stages:
            vq.restore_embed_sum()
    if blob.get("post_gain") is not None:
        model.post_gain = checked_post_gain(blob["post_gain"], model, path)
    model.tokens_of = checked_tokens_of(blob.get("tokens_of"), path)
    return model.to(device).eval()


def checked_tokens_of(value: object, path: Path) -> tuple[str, ...]:
    """An export's token lineage: a list of hex SHA-256 strings (absent: none)."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v) for v in value):
        raise BenchError(f"{path}: tokens_of must be a list of hex SHA-256 strings")
    return tuple(value)


def checked_post_gain(gain: object, model: MDCTRVQModel, path: Path) -> torch.Tensor:
    """The post-filter G [N, hop] of an export, refused unless finite, positive and of the model's shape."""
    shape = (model.cfg.num_stages, model.cfg.hop)
    if not torch.is_tensor(gain) or tuple(gain.shape) != shape:
        raise BenchError(f"{path}: post_gain must be a tensor of shape {list(shape)}")
    gain = gain.float()
    if not bool(torch.isfinite(gain).all()) or bool((gain <= 0).any()):
        raise BenchError(f"{path}: post_gain has non-finite or non-positive values")
    return gain


def codec_sha256(path: Path) -> str:
    """Hex SHA-256 of a codec checkpoint file: the identity token models are tied to."""
    if not Path(path).is_file():
        raise BenchError(f"codec checkpoint {path} not found (train one with `bench train codec`)")
    return file_sha256(Path(path))


def codec_token_ids(path: Path) -> frozenset[str]:
    """The SHA-256s whose tokens the codec file ``path`` produces: its own and its ``tokens_of`` lineage.

    Why: a decoder-only fine-tune (``bench train codec --decoder-only``) changes the file but
    not one token, so CodeSep/TokenSplit weights trained on its parent still fit it.
    """
    digest = codec_sha256(path)
    blob = load_checkpoint_shared(Path(path), what="codec checkpoint")
    lineage = checked_tokens_of(blob.get("tokens_of"), Path(path)) if isinstance(blob, dict) else ()
    return frozenset((digest, *lineage))


def check_tied_codec(trained: str | None, weights: Path, codec_path: Path, digest: str | Iterable[str],
                     model: str, recipe: str) -> None:
    """Refuse ``model`` weights trained on the tokens of another codec checkpoint than the one in use.

    Why: tokens, and so every prediction target, depend on the codec's weights; weights used
    with any other codec would produce garbage.  ``digest`` is the codec file's SHA-256, or
    the set of :func:`codec_token_ids` (its own and those whose tokens it reproduces).
    """
    accepted = {digest} if isinstance(digest, str) else set(digest)
    if trained not in accepted:
        digest = codec_sha256(codec_path)
        raise BenchError(
            f"{model} weights {weights} were trained on tokens of codec checkpoint sha256 {str(trained)[:12]}…, "
            f"but the codec in use ({codec_path}) has sha256 {digest[:12]}…; retrain {model} "
            f"(`bench train {recipe}`) against this codec or use the codec it was trained with")


def read_token_model(path: Path, kinds: Iterable[str], model: str, recipe: str) -> dict[str, Any]:
    """The blob of a token model's weights file (CodeSep, TokenSplit), read once per process.

    A missing file, one torch refuses, or one that is not ``model``'s (no known ``kind`` or
    no ``state_dict``) ends in a one-line error naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{model} weights {path} not found (train them with `bench train {recipe}`)")
    blob = load_checkpoint_shared(path, what=f"{model} weights")
    if not isinstance(blob, dict) or blob.get("kind") not in set(kinds) or "state_dict" not in blob:
        raise BenchError(f"{path}: not a {model} weights file")
    return blob


def packaged_codec_for(trained: str | None) -> Path:
    """The packaged codec checkpoint whose SHA-256 is ``trained``; the default when none is.

    Why: token models only work with the codec they were trained on, so when a user names
    no codec, the packaged one that fits their weights is the right choice; the default can
    then move on (tiny -> small) without breaking weights trained on an earlier codec.
    """
    if trained:
        packaged = sorted(PACKAGE_CHECKPOINTS.glob("*.pt"))
        for path in packaged:                       # the very file first, then one that reproduces its tokens
            if codec_sha256(path) == trained:
                return path
        for path in packaged:
            try:
                if trained in codec_token_ids(path):
                    return path
            except BenchError:
                continue
    return DEFAULT_CHECKPOINT


def codec_for_weights(weights: Path) -> Path:
    """The packaged codec a token model's weights file was trained on (see :func:`packaged_codec_for`).

    An unreadable or foreign file falls back to the default codec: loading the weights
    themselves reports what is wrong with them, naming the file.
    """
    try:
        # shared read: the system loads this same file right after, without reading it again
        blob = load_checkpoint_shared(weights, what="token-model weights")
    except BenchError:
        blob = None
    trained = blob.get("codec_sha256") if isinstance(blob, dict) else None
    return packaged_codec_for(trained if isinstance(trained, str) else None)

