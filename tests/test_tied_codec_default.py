"""Token models default to the packaged codec their weights were trained on.

Why this matters: CodeSep and TokenSplit predict a codec's tokens, so they only work with
that codec; the packaged codec default (used by ``codec@b``, FCTS and FSTC) must be able
to move on without breaking token-model weights trained on the earlier checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.baselines.codecs.mdct_rvq import checkpoint as codec_ckpt
from bench.system import file_sha256


@pytest.fixture()
def packaged(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """Two 'packaged' codec files (a, the default b) in a stand-in package folder."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    a, b = folder / "a.pt", folder / "b.pt"
    a.write_bytes(b"codec a weights")
    b.write_bytes(b"codec b weights")
    monkeypatch.setattr(codec_ckpt, "PACKAGE_CHECKPOINTS", folder)
    monkeypatch.setattr(codec_ckpt, "DEFAULT_CHECKPOINT", b)
    return a, b


def test_weights_trained_on_a_packaged_codec_get_that_codec(packaged, tmp_path):
    a, b = packaged
    weights = tmp_path / "btdm.pt"
    torch.save({"kind": "btdm", "codec_sha256": file_sha256(a)}, weights)
    assert codec_ckpt.codec_for_weights(weights) == a
    torch.save({"kind": "btdm", "codec_sha256": file_sha256(b)}, weights)
    assert codec_ckpt.codec_for_weights(weights) == b


@pytest.mark.parametrize("content", [None, "unknown", "garbage"])
def test_other_weights_fall_back_to_the_default(packaged, tmp_path, content):
    _, b = packaged
    weights = tmp_path / "w.pt"
    if content == "unknown":
        torch.save({"codec_sha256": "0" * 64}, weights)
    elif content == "garbage":
        weights.write_bytes(b"not a checkpoint")
    assert codec_ckpt.codec_for_weights(weights) == b


def test_shipped_token_models_resolve_to_the_codec_they_record():
    """With no codec option, every shipped CodeSep/TokenSplit file is paired with a codec of its tokens."""
    from bench.safe_load import load_checkpoint
    from bench.systems.codesep.adapter import VARIANT_FILES, _paths as codesep_paths
    from bench.systems.tokensplit.adapter import WEIGHTS, _paths as tokensplit_paths

    pairs = []
    for family in VARIANT_FILES:
        btdm, atsp, codec = codesep_paths(family, {})
        pairs += [(btdm, codec)] + ([(atsp, codec)] if atsp is not None else [])
    for kind in WEIGHTS:
        pairs.append(tokensplit_paths(kind, {}))
    for weights, codec in pairs:
        if not weights.is_file():
            continue
        recorded = load_checkpoint(weights)["codec_sha256"]
        assert codec.parent == codec_ckpt.PACKAGE_CHECKPOINTS
        # the codec file itself, or a decoder-only fine-tune of it (same tokens; see tokens_of)
        assert recorded in codec_ckpt.codec_token_ids(codec), f"{weights} paired with {codec.name}"


def test_an_explicit_codec_option_wins(tmp_path):
    from bench.systems.codesep.adapter import _paths

    chosen = tmp_path / "mine.pt"
    assert _paths("codesep", {"codec_checkpoint": str(chosen)})[2] == chosen


def test_codesep_reads_each_weights_file_once_at_start_up(monkeypatch):
    """Listing, codec resolution and loading share one read of BTDM/ATSP (was three of BTDM)."""
    from bench import safe_load
    from bench.systems.codesep.adapter import CodeSepSystem

    reads: list[str] = []
    real = safe_load.load_checkpoint

    def counting(path, map_location="cpu", what="checkpoint"):
        reads.append(Path(path).name)
        return real(path, map_location=map_location, what=what)

    monkeypatch.setattr(safe_load, "load_checkpoint", counting)
    monkeypatch.setattr(safe_load, "_SHARED", type(safe_load._SHARED)())
    CodeSepSystem("codesep")
    assert reads.count("btdm.pt") == 1 and reads.count("atsp.pt") == 1


def test_shared_read_sees_a_rewritten_file(tmp_path, monkeypatch):
    from bench import safe_load

    monkeypatch.setattr(safe_load, "_SHARED", type(safe_load._SHARED)())
    path = tmp_path / "w.pt"
    torch.save({"codec_sha256": "a"}, path)
    assert safe_load.load_checkpoint_shared(path)["codec_sha256"] == "a"
    torch.save({"codec_sha256": "bb"}, path)          # new size (and mtime): a new key
    assert safe_load.load_checkpoint_shared(path)["codec_sha256"] == "bb"
    path.unlink()
    with pytest.raises(safe_load.BenchError, match="w.pt: checkpoint not found"):
        safe_load.load_checkpoint_shared(path)
