"""``bench train codec --decoder-only --stage-conditioning``: a new decoder that keeps every token.

Why this matters: CodeSep and TokenSplit predict the codec's tokens, so a codec whose tokens
change forces all of them to be retrained; a decoder-only fine-tune must leave the tokens
bit-identical, say so in its checkpoint (``tokens_of``), and the token models trained on the
parent must then run with it, and with nothing else.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from bench.baselines.codecs.mdct_rvq import checkpoint as codec_ckpt
from bench.baselines.codecs.mdct_rvq import recipe
from bench.baselines.codecs.mdct_rvq.checkpoint import load_model
from bench.errors import BenchError
from bench.system import file_sha256
from test_codecs_helpers import speech_like
from test_codecs_training import make_tree, use_micro_preset


def run_recipe(data: Path, out: Path, steps: int, export: Path, *extra: str) -> None:
    parser = argparse.ArgumentParser()
    recipe.add_arguments(parser)
    args = parser.parse_args(["--config", "tiny", "--data", str(data), "--out", str(out), "--steps", str(steps),
                              "--threads", "1", "--export", str(export), *extra])
    assert recipe.run(args) == 0


@pytest.fixture()
def parent_and_child(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """A micro codec trained 3 steps (parent) and its 3-step decoder-only, stage-conditioned fine-tune."""
    use_micro_preset(monkeypatch)
    data = make_tree(tmp_path / "data")
    parent, child = tmp_path / "parent.pt", tmp_path / "child.pt"
    run_recipe(data, tmp_path / "run1", 3, parent)
    run_recipe(data, tmp_path / "run2", 6, child, "--init", str(parent), "--decoder-only", "--stage-conditioning")
    return parent, child


def test_decoder_only_fine_tune_keeps_every_token_and_records_its_parent(parent_and_child):
    parent_file, child_file = parent_and_child
    parent, child = load_model(parent_file), load_model(child_file)
    assert child.cfg.stage_conditioning and not parent.cfg.stage_conditioning
    wave = torch.as_tensor(speech_like(1.0, seed=7), dtype=torch.float32)[None]
    assert torch.equal(parent.encode_tokens(wave), child.encode_tokens(wave))
    changed = [k for k, v in parent.state_dict().items() if not torch.equal(v, child.state_dict()[k])]
    assert changed and all(k.startswith("decoder.") for k in changed)
    assert child.decoder.stage_embedding.weight.abs().sum() > 0          # it learnt a per-rate offset
    assert child.tokens_of == (file_sha256(parent_file),)
    assert codec_ckpt.codec_token_ids(child_file) == {file_sha256(child_file), file_sha256(parent_file)}


def test_token_models_of_the_parent_run_with_the_child_and_resolve_to_it(parent_and_child, tmp_path, monkeypatch):
    parent_file, child_file = parent_and_child
    trained_on_parent = file_sha256(parent_file)
    ids = codec_ckpt.codec_token_ids(child_file)
    codec_ckpt.check_tied_codec(trained_on_parent, tmp_path / "btdm.pt", child_file, ids, "CodeSep", "codesep")
    with pytest.raises(BenchError, match="trained on tokens of codec checkpoint"):
        codec_ckpt.check_tied_codec("0" * 64, tmp_path / "btdm.pt", child_file, ids, "CodeSep", "codesep")
    # the other way round does not hold: the parent does not reproduce the child's file
    with pytest.raises(BenchError):
        codec_ckpt.check_tied_codec(file_sha256(child_file), tmp_path / "btdm.pt", parent_file,
                                    codec_ckpt.codec_token_ids(parent_file), "CodeSep", "codesep")
    # packaged: only the child is shipped; weights trained on the parent are paired with it
    folder = tmp_path / "package"
    folder.mkdir()
    shipped = folder / "small.pt"
    shipped.write_bytes(child_file.read_bytes())
    other = folder / "other.pt"
    other.write_bytes(parent_file.read_bytes()[:-1] + b"x")               # unreadable: skipped, no error
    monkeypatch.setattr(codec_ckpt, "PACKAGE_CHECKPOINTS", folder)
    monkeypatch.setattr(codec_ckpt, "DEFAULT_CHECKPOINT", folder / "missing-default.pt")
    weights = tmp_path / "btdm.pt"
    torch.save({"kind": "btdm", "codec_sha256": trained_on_parent}, weights)
    assert codec_ckpt.codec_for_weights(weights) == shipped


def test_a_zero_stage_embedding_decodes_as_the_rate_blind_parent(parent_and_child):
    """The fine-tune starts from the parent's function: conditioning is a no-op until trained."""
    import dataclasses

    from bench.baselines.codecs.mdct_rvq.model import MDCTRVQModel

    parent = load_model(parent_and_child[0])
    grown = MDCTRVQModel(dataclasses.replace(parent.cfg, stage_conditioning=True)).eval()
    missing, unexpected = grown.load_state_dict(parent.state_dict(), strict=False)
    assert missing == ["decoder.stage_embedding.weight"] and not unexpected
    wave = torch.as_tensor(speech_like(1.0, seed=3), dtype=torch.float32)[None]
    for stages in (1, 2, 4):
        tokens = parent.encode_tokens(wave, stages)
        assert torch.equal(parent.decode_tokens(tokens, wave.shape[-1]), grown.decode_tokens(tokens, wave.shape[-1]))


def test_the_stage_count_reaches_the_decoder(parent_and_child):
    """Decoding the same latent as '2 stages' and as '3 stages' differs only through e[N']."""
    child = load_model(parent_and_child[1])
    wave = torch.as_tensor(speech_like(1.0, seed=5), dtype=torch.float32)[None]
    z_q = child.quantizer.decode(child.encode_tokens(wave, 2)).transpose(1, 2)
    as_two = child.decode_from_latent(z_q, wave.shape[-1], 2)
    as_three = child.decode_from_latent(z_q, wave.shape[-1], 3)
    assert not torch.allclose(as_two, as_three)
    with torch.no_grad():
        child.decoder.stage_embedding.weight.zero_()
    assert torch.equal(child.decode_from_latent(z_q, wave.shape[-1], 2), child.decode_from_latent(z_q, wave.shape[-1], 3))


def test_decoder_only_needs_a_parent(tmp_path, monkeypatch):
    use_micro_preset(monkeypatch)
    data = make_tree(tmp_path / "data")
    with pytest.raises(BenchError, match="--init"):
        run_recipe(data, tmp_path / "run", 2, tmp_path / "x.pt", "--decoder-only")


@pytest.mark.parametrize("lineage", ["abc", ["not-a-digest"], [1, 2]])
def test_a_malformed_lineage_is_refused_naming_the_file(parent_and_child, tmp_path, lineage):
    blob = torch.load(parent_and_child[1], weights_only=True)
    blob["tokens_of"] = lineage
    bad = tmp_path / "bad.pt"
    torch.save(blob, bad)
    with pytest.raises(BenchError, match=r"bad\.pt: tokens_of"):
        load_model(bad)
