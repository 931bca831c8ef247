"""CodeSep (BTDM + ATSP over the MDCT-RVQ codec) with random small weights: shapes, losses, payload, adapter."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.baselines.codecs.mdct_rvq.checkpoint import codec_sha256
from bench.baselines.codecs.mdct_rvq.checkpoint import export_weights as export_codec
from bench.baselines.codecs.mdct_rvq.codec import MDCTRVQCodec
from bench.baselines.codecs.mdct_rvq.config import ModelConfig
from bench.baselines.codecs.mdct_rvq.model import MDCTRVQModel
from bench.config import BenchConfig, resolve_system_spec
from bench.data import DatasetSpec, open_dataset
from bench.errors import BenchError
from bench.records import LoadedMixture, stream_bits
from bench.systems.codesep.checkpoint import export_weights
from bench.systems.codesep.config import ATSPConfig, BTDMConfig
from bench.systems.codesep.losses import pairwise_ce, pi_ce, tf_ce
from bench.systems.codesep.model import ATSP, BTDM
from bench.systems.codesep.inference import CodeSepInference, codec_codebooks

from libri2mix_tree import build_tree

SMALL_BTDM = BTDMConfig(dim=32, heads=2, ffn_dim=64, n_intra=1, n_inter=1, dropout=0.0)
SMALL_ATSP = ATSPConfig(dim=32, heads=2, ffn_dim=64, n_lstm=1, n_con=1, dropout=0.0)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def codec_file(tmp_path_factory) -> Path:
    """A randomly initialised small codec, saved like the real one."""
    torch.manual_seed(0)
    model = MDCTRVQModel(ModelConfig(channels=16, latent_channels=16, encoder_depth=(1, 1), decoder_depth=(1, 1)))
    for stage in model.quantizer.stages:                       # spread codes so tokens vary
        stage.codebook.normal_()
    path = tmp_path_factory.mktemp("codec") / "codec.pt"
    export_codec(model, path, {"note": "random test codec"})
    return path


@pytest.fixture(scope="module")
def codec(codec_file: Path) -> MDCTRVQCodec:
    return MDCTRVQCodec(codec_file)


@pytest.fixture(scope="module")
def weights(codec_file: Path, tmp_path_factory) -> Path:
    """Random small BTDM/ATSP weights for every variant, tied to the test codec."""
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("codesep")
    digest = codec_sha256(codec_file)
    for name, model in (("btdm.pt", BTDM(SMALL_BTDM)), ("btdm-noacbg.pt", BTDM(BTDMConfig(**{**SMALL_BTDM.to_dict(), "acbg": False}))),
                        ("atsp.pt", ATSP(SMALL_ATSP)), ("atsp-notf.pt", ATSP(SMALL_ATSP))):
        export_weights(model, "btdm" if name.startswith("btdm") else "atsp", folder / name, digest, {"test": True})
    return folder


def test_btdm_shapes_match_codec_frames(codec: MDCTRVQCodec):
    btdm = BTDM(SMALL_BTDM).eval()
    for length in (3200, 4001, 16000 + 37):
        frames = codec.num_frames(length, 1)
        assert frames == codec.encode_tokens(np.zeros(length, np.float32), 1).shape[-1]
        logits = btdm.logits_from_wave(torch.randn(2, length), frames)
        assert logits.shape == (2, 2, frames, 1024)
    assert btdm.logmel.samples_per_token_frame == codec.model.cfg.samples_per_frame == 320


def test_pi_ce_is_min_over_permutations():
    torch.manual_seed(0)
    logits, targets = torch.randn(3, 2, 7, 1024), torch.randint(0, 1024, (3, 2, 7))
    loss, perms = pi_ce(logits, targets)
    by_hand = []
    for b in range(3):
        ce = lambda i, j: F.cross_entropy(logits[b, i], targets[b, j])  # noqa: E731
        options = [ce(0, 0) + ce(1, 1), ce(0, 1) + ce(1, 0)]
        by_hand.append(min(options))
        assert perms[b].tolist() == ([0, 1] if options[0] <= options[1] else [1, 0])
    assert float(loss) == pytest.approx(float(torch.stack(by_hand).mean()), rel=1e-5)
    assert pairwise_ce(logits, targets).shape == (3, 2, 2)
    # swapping the targets changes nothing
    assert float(pi_ce(logits, targets.flip(1))[0]) == pytest.approx(float(loss), rel=1e-6)


def test_atsp_input_is_sum_of_codebook_lookups(codec: MDCTRVQCodec):
    atsp = ATSP(SMALL_ATSP)
    atsp.set_codebooks(codec_codebooks(codec, 4))
    tokens = torch.randint(0, 1024, (2, 4, 9))
    w = [codec.codebook(n) for n in range(4)]
    for n in range(1, 4):                                          # sub-predictor n (eq. 5)
        z = atsp.stage_input(tokens[:, 0], [tokens[:, m] for m in range(1, n)])
        manual = w[0][tokens[:, 0]] + sum((w[m][tokens[:, m]] for m in range(1, n)), torch.zeros_like(z))
        torch.testing.assert_close(z, manual)
    # the full sum of all N look-ups is the codec's quantised latent
    z_all = atsp.stage_input(tokens[:, 0], [tokens[:, m] for m in range(1, 4)])
    torch.testing.assert_close(z_all.transpose(1, 2), codec.latent_from_tokens(tokens))
    assert atsp.forward_teacher(tokens).shape == (2, 3, 9, 1024)
    assert float(tf_ce(atsp.forward_teacher(tokens), tokens[:, 1:]).detach()) > 0


def test_argmax_decoding_is_deterministic(codec: MDCTRVQCodec):
    torch.manual_seed(2)
    chain = CodeSepInference(codec, BTDM(SMALL_BTDM), ATSP(SMALL_ATSP))
    mixture = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    base = chain.base_tokens(mixture)
    assert base.shape == (2, codec.num_frames(8000, 1))
    assert torch.equal(base, chain.base_tokens(mixture))
    aux = chain.aux_tokens(base)
    assert aux.shape == (2, 3, base.shape[-1]) and torch.equal(aux, chain.aux_tokens(base))
    tokens = torch.cat([base[:, None], aux], 1)
    np.testing.assert_array_equal(chain.decode(tokens, 8000), chain.decode(tokens, 8000))


def _system(name: str, weights: Path, codec_file: Path, **extra):
    from bench.catalog import build_system

    config = BenchConfig(systems={name: {"family": name, "checkpoint_dir": str(weights),
                                         "codec_checkpoint": str(codec_file), **extra}})
    return build_system(resolve_system_spec(name, config))


def test_payload_is_exactly_one_kbps(weights: Path, codec_file: Path, tmp_path: Path):
    system = _system("codesep", weights, codec_file)
    assert system.nominal_kbps == 1.0
    seconds = 2.0
    n = int(16000 * seconds)
    mixture = LoadedMixture(record=None, mixture=np.zeros(n, np.float32), sources=None)   # type: ignore[arg-type]
    result = system.separate([mixture])[0]
    assert result.estimates.shape == (2, n)
    assert len(result.payload) == 2 and all(s.bits_per_token == 10 for s in result.payload)
    frames = result.payload[0].tokens.shape[-1]
    assert sum(stream_bits(s) for s in result.payload) == 2 * 10 * frames
    assert 2 * 10 * 50 / 1000 == 1.0                               # 50 frames/s, 10 bit, 2 speakers
    assert frames == system.inference.codec.num_frames(n, 1) == 50 * seconds + 1   # codec framing: one edge frame
    with pytest.raises(BenchError, match="1 kbps"):
        type(system).check_kbps("codesep@2", 2.0)
    type(system).check_kbps("codesep@1", 1.0)


def test_adapter_end_to_end_all_variants(weights: Path, codec_file: Path, tmp_path: Path):
    from bench.run.runner import RunRequest, run
    from bench.store import Store

    tree = build_tree(tmp_path / "data", mix_types=("mix_clean",))
    dataset = open_dataset(DatasetSpec(root=tree, limit=1))
    names = ["codesep", "codesep-noacbg", "codesep-notf", "codesep-oracle-aux", "codesep-noatsp"]
    config = BenchConfig(systems={n: {"family": n, "checkpoint_dir": str(weights),
                                      "codec_checkpoint": str(codec_file)} for n in names})
    store = Store(tmp_path / "results")
    summary = run(RunRequest(systems=names, metrics=["sisnri"]), dataset, store, config)
    assert summary.separated == {n: 1 for n in names}
    import sqlite3
    with sqlite3.connect(tmp_path / "results" / "bench.sqlite") as conn:
        rows = conn.execute("SELECT payload_bits, seconds FROM separations").fetchall()
    assert len(rows) == 5 and all(bits == 2 * 10 * (np.ceil((np.ceil(s * 16000 / 160) + 1) / 2)) for bits, s in rows)


def test_noatsp_decodes_the_base_tokens_alone_as_the_codec_does(weights: Path, codec_file: Path,
                                                                codec: MDCTRVQCodec) -> None:
    """``codesep-noatsp``: the same base tokens and payload as ``codesep``, decoded at N' = 1 by the codec."""
    n = 16000
    wave = np.random.default_rng(5).standard_normal(n).astype(np.float32) * 0.1
    mixture = LoadedMixture(record=None, mixture=wave, sources=None)   # type: ignore[arg-type]
    full, alone = (_system(name, weights, codec_file) for name in ("codesep", "codesep-noatsp"))
    ours, theirs = alone.separate([mixture])[0], full.separate([mixture])[0]
    assert [s.tokens.tolist() for s in ours.payload] == [s.tokens.tolist() for s in theirs.payload]
    base = torch.as_tensor(np.stack([s.tokens.astype(np.int64) for s in ours.payload]))
    expected = codec.decode_from_latent(codec.latent_from_tokens(base[:, None]), n, 1).numpy()
    np.testing.assert_allclose(ours.estimates, expected[:, :n], atol=1e-6)
    assert not np.allclose(theirs.estimates, ours.estimates, atol=1e-3)   # the ATSP's stages change the waves
    assert alone.config()["num_stages"] == 1 and full.config()["num_stages"] == 4


def test_missing_weights_and_codec_mismatch(weights: Path, codec_file: Path, tmp_path: Path):
    from bench.systems.codesep.adapter import CodeSepNoTFSystem

    empty = tmp_path / "empty"
    empty.mkdir()
    assert CodeSepNoTFSystem.weights_status(checkpoint_dir=str(empty), codec_checkpoint=str(codec_file)).startswith(
        "missing: BTDM weights")
    with pytest.raises(BenchError, match="weights missing"):
        _system("codesep-notf", empty, codec_file)
    # another codec checkpoint (different weights -> different sha256) is refused with a clear error
    other = tmp_path / "other.pt"
    torch.manual_seed(9)
    export_codec(MDCTRVQModel(ModelConfig(channels=16, latent_channels=16, encoder_depth=(1, 1),
                                          decoder_depth=(1, 1))), other, {})
    assert "trained on tokens of codec checkpoint" in CodeSepNoTFSystem.weights_status(
        checkpoint_dir=str(weights), codec_checkpoint=str(other))
    with pytest.raises(BenchError, match="trained on tokens of codec checkpoint sha256"):
        _system("codesep", weights, other)
    from bench.systems.codesep.checkpoint import load_weights

    with pytest.raises(BenchError, match="retrain CodeSep"):
        load_weights(weights / "btdm.pt", "btdm", other, codec_sha256(other))


@pytest.mark.parametrize("stage,flag", [("btdm", None), ("btdm", "no_acbg"), ("atsp", None),
                                        ("atsp", "no_teacher_forcing")])
def test_two_step_training_smoke(stage: str, flag: str | None, codec_file: Path, tmp_path: Path):
    from bench.systems.codesep.checkpoint import load_weights
    from bench.systems.codesep.recipe import add_arguments
    from bench.systems.codesep.trainer import TrainOptions, train

    tree = build_tree(tmp_path / "data", mix_types=("mix_clean",))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / f"{stage}.pt"
    argv = ["--stage", stage, "--data", str(tree.parent), "--split", "test", "--dev", str(tree.parent),
            "--dev-split", "test", "--out", str(out), "--codec-checkpoint", str(codec_file), "--steps", "2",
            "--batch-size", "2", "--segment-frames", "8", "--eval-every", "2"]
    if flag:
        argv.append("--" + flag.replace("_", "-"))
    record = train(TrainOptions.from_args(parser.parse_args(argv)))
    assert record["step"] == 2 and np.isfinite(record["loss"]) and 0 <= record["dev_acc"] <= 1
    model = load_weights(out, stage, codec_file, codec_sha256(codec_file))
    if stage == "btdm":
        assert model.cfg.acbg == (flag is None)
    assert (out.with_suffix(".json")).is_file() and (tmp_path / f"{stage}.pt.work" / "log.jsonl").is_file()


def test_atsp_takes_the_codebook_width_of_its_codec(tmp_path: Path) -> None:
    """The shipped small codec has K = 64 (tiny: 32); ATSP embeds tokens with the codec's own codebooks."""
    from bench.systems.codesep.checkpoint import load_weights
    from bench.systems.codesep.recipe import add_arguments
    from bench.systems.codesep.trainer import TrainOptions, train

    torch.manual_seed(1)
    model = MDCTRVQModel(ModelConfig(channels=16, latent_channels=16, encoder_depth=(1, 1), decoder_depth=(1, 1),
                                     codebook_dim=64))
    for stage in model.quantizer.stages:
        stage.codebook.normal_()
    codec_file = tmp_path / "codec64.pt"
    export_codec(model, codec_file, {"note": "random K=64 codec"})
    tree = build_tree(tmp_path / "data", mix_types=("mix_clean",))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "atsp.pt"
    train(TrainOptions.from_args(parser.parse_args([
        "--stage", "atsp", "--data", str(tree.parent), "--split", "test", "--out", str(out),
        "--codec-checkpoint", str(codec_file), "--steps", "1", "--batch-size", "2", "--segment-frames", "8"])))
    atsp = load_weights(out, "atsp", codec_file, codec_sha256(codec_file))
    assert atsp.cfg.codebook_dim == 64 and tuple(atsp.codebooks.shape[1:]) == (1024, 64)


class Interrupted(Exception):
    """Stands for a kill in the middle of training."""


def test_training_resumes_from_a_mid_run_checkpoint(codec_file: Path, tmp_path: Path, monkeypatch,
                                                    torch_one_thread):
    """Killed during step 3 of 4 (state saved at step 2), a re-run starts from the step-2 weights and runs
    steps 3-4 only: it resumed, it did not start over."""
    from bench.systems.codesep.recipe import add_arguments
    from bench.systems.codesep.trainer import Stage, TrainOptions, train
    from bench.training.loop import read_state

    tree = build_tree(tmp_path / "data", mix_types=("mix_clean",))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    opts = TrainOptions.from_args(parser.parse_args([
        "--stage", "btdm", "--data", str(tree.parent), "--split", "test", "--out", str(tmp_path / "btdm.pt"),
        "--codec-checkpoint", str(codec_file), "--steps", "4", "--batch-size", "2", "--segment-frames", "8",
        "--eval-every", "2"]))
    calls: dict = {"n": 0, "kill_at": None, "first_weights": None}
    real_loss = Stage.loss

    def counted_loss(self, step):
        calls["n"] += 1
        if calls["first_weights"] is None:
            calls["first_weights"] = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if calls["n"] == calls["kill_at"]:
            raise Interrupted
        return real_loss(self, step)

    monkeypatch.setattr(Stage, "loss", counted_loss)
    calls.update(kill_at=3)
    with pytest.raises(Interrupted):
        train(opts)                                              # saved at step 2, killed during step 3
    fresh = calls["first_weights"]
    saved = read_state(opts.work / "last.pt")                   # saved as of step 2, the last one finished
    assert saved.step == 2 and calls["n"] == 3
    calls.update(n=0, kill_at=None, first_weights=None)
    record = train(opts)
    assert calls["n"] == 2 and record["step"] == 4               # only the missing steps ran ...
    resumed = calls["first_weights"]
    for name, tensor in saved.modules["model"].items():         # ... starting from the step-2 weights
        assert torch.equal(resumed[name], tensor), name
    assert any(not torch.equal(fresh[name], saved.modules["model"][name]) for name in fresh)  # not a fresh start
    assert read_state(opts.work / "last.pt").step == 4
