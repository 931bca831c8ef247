"""Sepformer loading, batching, resampling and the training recipe (no real training)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.baselines.separators.recipes import ARCHS, hyperparams_yaml
from bench.baselines.separators.sepformer import (build_separator, load_separator, resample_tensor,
                                                  save_separator)
from bench.errors import BenchError

#: a few thousand parameters: fast enough for a test, same code path as the real models
SMALL = dataclasses.replace(ARCHS["tiny"], filters=16, kernel_size=16, chunk_size=20, repeats=1, heads=2, ffn=32)


def make_model_dir(path: Path, sample_rate: int = 16000, seed: int = 0) -> Path:
    """A speechbrain-format directory with random weights (as a user's download would look)."""
    torch.manual_seed(seed)
    text = hyperparams_yaml(dataclasses.replace(SMALL, sample_rate=sample_rate))
    model = build_separator(text)
    with torch.no_grad():  # random gates/masks instead of the near-constant init
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    save_separator(model, path, text)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("sep") / "model")


def _mix(n: int, seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def test_loader_matches_direct_forward_and_speechbrain(model_dir: Path, tmp_path: Path) -> None:
    model = load_separator(model_dir)
    mix = _mix(4000, 1)
    ours = model.separate_many([mix], rate=16000)[0]
    with torch.no_grad():
        direct = model(torch.from_numpy(mix)[None])[0].numpy()
    np.testing.assert_array_equal(ours, direct)
    assert ours.shape == (2, 4000)
    from speechbrain.inference.separation import SepformerSeparation

    reference = SepformerSeparation.from_hparams(source=str(model_dir), savedir=str(tmp_path / "sb"))
    with torch.no_grad():
        theirs = reference.separate_batch(torch.from_numpy(mix)[None])[0].T.numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_batched_equals_single_for_equal_lengths(model_dir: Path) -> None:
    model = load_separator(model_dir)
    mixes = [_mix(3000, s) for s in range(3)]
    batched = model.separate_many(mixes, rate=16000, max_batch=3)
    single = [model.separate_many([m], rate=16000)[0] for m in mixes]
    for b, s in zip(batched, single):
        np.testing.assert_allclose(b, s, atol=1e-5)


def test_padding_would_change_output_so_lengths_are_bucketed(model_dir: Path) -> None:
    """No length mask: zero-padding alters the estimates, hence batches of equal length only."""
    model = load_separator(model_dir)
    short, long = _mix(2000, 5), _mix(3500, 6)
    with torch.no_grad():
        alone = model(torch.from_numpy(short)[None])[0]
        padded = model(torch.from_numpy(np.pad(short, (0, 1500)))[None])[0, :, :2000]
    assert not torch.allclose(alone, padded, atol=1e-4)
    mixed = model.separate_many([short, long, short], rate=16000, max_batch=8)
    np.testing.assert_allclose(mixed[0], alone.numpy(), atol=1e-5)
    assert [m.shape[-1] for m in mixed] == [2000, 3500, 2000]


def test_8khz_model_is_resampled_around(tmp_path: Path) -> None:
    directory = make_model_dir(tmp_path / "m8", sample_rate=8000)
    model = load_separator(directory)
    assert model.sample_rate == 8000
    mix = _mix(4001, 2)
    out = model.separate_many([mix], rate=16000)[0]
    assert out.shape == (2, 4001)
    with torch.no_grad():
        inner = model(resample_tensor(torch.from_numpy(mix)[None], 16000, 8000))
        expected = resample_tensor(inner, 8000, 16000)[0, :, :4001]
    np.testing.assert_allclose(out[:, :expected.shape[-1]], expected.numpy(), atol=1e-6)

    from bench.baselines.separators.system import SepformerSystem

    system = SepformerSystem("sepformer-8k", model_dir=str(directory))
    assert system.config()["separator"] == {"model": "m8", "model_sample_rate": 8000,
                                            "resampling": "16000->8000->16000 Hz"}


def test_system_key_follows_checkpoint_and_status(tmp_path: Path) -> None:
    from bench.baselines.separators.system import SepformerSystem

    directory = make_model_dir(tmp_path / "m", seed=1)
    first = SepformerSystem("sepformer", model_dir=str(directory)).key()
    assert SepformerSystem.weights_status(model_dir=str(directory)) == "present"
    make_model_dir(directory, seed=2)
    assert SepformerSystem("sepformer", model_dir=str(directory)).key() != first
    (directory / "masknet.ckpt").unlink()
    assert SepformerSystem.weights_status(model_dir=str(directory)).startswith("missing")
    with pytest.raises(BenchError, match="masknet.ckpt"):
        SepformerSystem("sepformer", model_dir=str(directory))


def test_shipped_tiny_model_loads() -> None:
    from bench.baselines.separators.system import SepformerSystem, default_model_dir

    if SepformerSystem.weights_status() != "present":
        pytest.skip(f"shipped model not built yet: {default_model_dir()}")
    system = SepformerSystem("sepformer")
    from bench.records import LoadedMixture, Mixture

    record = Mixture("m", Path("m.wav"), (Path("a"), Path("b")), 16000, 1600)
    out = system.separate([LoadedMixture(record, _mix(1600, 3), None)])
    assert out[0].estimates.shape == (2, 1600) and out[0].payload is None


def test_train_smoke(tmp_path: Path) -> None:
    """Two steps on a generated tree: finite loss, a loadable speechbrain-format directory, resume."""
    from libri2mix_tree import IDS, build_tree

    from bench.baselines.separators import trainer
    from bench.baselines.separators.recipe import add_arguments

    build_tree(tmp_path / "data", lengths={mid: 6000 + 100 * i for i, mid in enumerate(IDS)},
               mix_types=("mix_clean",))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "model"
    args = parser.parse_args(["--data", str(tmp_path / "data"), "--split", "test", "--dev", str(tmp_path / "data"),
                              "--dev-split", "test", "--out", str(out), "--steps", "2", "--eval-every", "1",
                              "--segment", "0.25", "--batch-size", "2"])
    options = dataclasses.replace(trainer.TrainOptions.from_args(args), arch=SMALL)
    summary = trainer.train(options)
    assert summary["steps"] == 2
    rows = (out.with_name("model.work") / "loss.csv").read_text().splitlines()
    losses = [float(r.split(",")[1]) for r in rows[1:]]
    assert losses and all(np.isfinite(losses))
    assert load_separator(out).sample_rate == 16000
    resumed = trainer.train(dataclasses.replace(options, schedule=dataclasses.replace(options.schedule, steps=3)))
    assert resumed["steps"] == 3


def test_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="missing hyperparams.yaml"):
        load_separator(tmp_path)


def test_init_continues_from_a_saved_model_directory(tmp_path: Path) -> None:
    """A fresh machine has only the saved directory: --init copies its weights, step and commands."""
    from libri2mix_tree import IDS, build_tree

    from bench.baselines.separators import trainer
    from bench.baselines.separators.recipe import add_arguments

    build_tree(tmp_path / "data", lengths={mid: 6000 + 100 * i for i, mid in enumerate(IDS)},
               mix_types=("mix_clean",))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    common = ["--data", str(tmp_path / "data"), "--split", "test", "--eval-every", "1", "--segment", "0.25",
              "--batch-size", "2"]
    first = tmp_path / "first"
    options = dataclasses.replace(trainer.TrainOptions.from_args(
        parser.parse_args([*common, "--out", str(first), "--steps", "2"])), arch=SMALL, command="bench train first")
    trainer.train(options)
    second = tmp_path / "second"
    options = dataclasses.replace(trainer.TrainOptions.from_args(
        parser.parse_args([*common, "--out", str(second), "--steps", "3", "--init", str(first)])), arch=SMALL,
        command="bench train second")
    assert trainer.train(options)["steps"] == 3                   # continued at step 2, one more step
    provenance = (second / "train_command.txt").read_text().splitlines()
    assert provenance[:2] == ["# earlier: bench train first", "bench train second"]
    assert "step=3/" in provenance[2]


def test_a_work_folder_of_the_separator_s_own_earlier_loop_resumes_as_today_s(tmp_path: Path) -> None:
    """``last.pt`` as the separator trainer wrote it before the loops were one (model, optimiser, mixer, step,
    best) continues exactly as the same state in today's format does."""
    import shutil

    from libri2mix_tree import IDS, build_tree
    from test_training_loop import legacy_blob, same_state

    from bench.baselines.separators import trainer
    from bench.baselines.separators.recipe import add_arguments
    from bench.training.loop import read_state

    build_tree(tmp_path / "data", lengths={mid: 6000 + 100 * i for i, mid in enumerate(IDS)},
               mix_types=("mix_clean",))
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    def options(name: str, steps: int) -> "trainer.TrainOptions":
        args = parser.parse_args(["--data", str(tmp_path / "data"), "--split", "test", "--dev", str(tmp_path / "data"),
                                  "--dev-split", "test", "--out", str(tmp_path / name), "--steps", str(steps),
                                  "--eval-every", "1", "--segment", "0.25", "--batch-size", "2"])
        return dataclasses.replace(trainer.TrainOptions.from_args(args), arch=SMALL)

    trainer.train(options("today", 2))
    shutil.copytree(tmp_path / "today.work", tmp_path / "old.work")
    old = tmp_path / "old.work" / "last.pt"
    torch.save(legacy_blob(read_state(old), "separator"), old)
    for name in ("today", "old"):
        assert trainer.train(options(name, 3))["steps"] == 3
    assert same_state(read_state(tmp_path / "today.work" / "last.pt"), read_state(old))


def test_the_shared_memo_gives_every_stage_the_numbers_it_would_compute(model_dir: Path) -> None:
    """sepformer and fstc@b separate the same mixtures: the second stage must get equal estimates
    without running the network, and a changed mixture or rate must miss."""
    from bench.baselines.separators.memo import SeparationMemo
    from bench.baselines.separators.system import SeparatorStage

    memo = SeparationMemo()
    mixes = [_mix(3000, 11), _mix(3000, 12), _mix(2500, 13)]
    direct = load_separator(model_dir).separate_many(mixes, rate=16000)
    stage_a = SeparatorStage(str(model_dir), "cpu", 16000, "a")
    stage_b = SeparatorStage(str(model_dir), "cpu", 16000, "b")
    calls: list[int] = []

    def via(stage, todo_mixes):
        identity = stage.identity

        def compute(todo):
            calls.append(len(todo))
            return stage.model.separate_many(todo, rate=16000, max_batch=8)
        return memo.separate(identity, "cpu", 16000, todo_mixes, compute)

    first = via(stage_a, mixes)
    second = via(stage_b, mixes[::-1])               # another system, another order: all hits
    assert calls == [3] and memo.hits == 3
    for got, want in zip(first, direct):
        np.testing.assert_allclose(got, want, atol=1e-5)
    for got, want in zip(second, first[::-1]):
        np.testing.assert_array_equal(got, want)
    second[0][:] = 0.0                               # callers get copies
    assert np.abs(via(stage_a, [mixes[2]])[0]).max() > 0
    changed = mixes[0].copy()
    changed[0] += 1e-3
    via(stage_a, [changed])
    assert calls == [3, 1]
    assert memo.separate("x", "cpu", 8000, [mixes[0]], lambda todo: [np.zeros((2, 3000), np.float32)])[0].max() == 0


def test_the_memo_stays_within_its_byte_budget() -> None:
    from bench.baselines.separators.memo import SeparationMemo

    memo = SeparationMemo(max_bytes=2 * 2 * 1000 * 4)    # two [2, 1000] float32 estimates
    for seed in range(5):
        memo.separate("m", "cpu", 16000, [_mix(1000, seed)], lambda todo: [np.full((2, 1000), seed, np.float32)])
    assert memo.bytes <= memo.max_bytes and len(memo._items) == 2
    # a second system scanning in the same order hits the first mixtures (an LRU would have none left)
    again = [memo.separate("m", "cpu", 16000, [_mix(1000, seed)], lambda todo: [np.full((2, 1000), -1, np.float32)])[0]
             for seed in range(5)]
    assert [float(a[0, 0]) for a in again] == [0.0, 1.0, -1.0, -1.0, -1.0] and memo.hits == 2


def test_separator_stages_share_the_process_memo(model_dir: Path, monkeypatch) -> None:
    from bench.baselines.separators import memo as memo_module
    from bench.baselines.separators.system import SeparatorStage

    fresh = memo_module.SeparationMemo()
    monkeypatch.setattr(memo_module, "SHARED", fresh)
    mixes = [_mix(2000, 21), _mix(2000, 22)]
    first = SeparatorStage(str(model_dir), "cpu", 16000, "sepformer").separate(mixes, 8)
    second = SeparatorStage(str(model_dir), "cpu", 16000, "fstc@2").separate(mixes, 8)
    assert fresh.hits == 2
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
