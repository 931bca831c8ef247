"""``bench train codec``: a micro model trains, checkpoints, resumes and exports loadable weights."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.baselines.codecs.mdct_rvq import config as codec_config
from bench.baselines.codecs.mdct_rvq import recipe
from bench.errors import BenchError
from test_codecs_helpers import TINY, speech_like


def make_tree(root: Path) -> Path:
    for folder in ("s1", "s2", "mix_clean"):
        (root / folder).mkdir(parents=True)
    for i in range(3):
        for folder in ("s1", "s2"):
            sf.write(root / folder / f"u{i}.wav", speech_like(1.2, seed=i + (folder == "s2") * 10), 16000)
        sf.write(root / "mix_clean" / f"u{i}.wav", np.zeros(100, dtype=np.float32), 16000)   # must be ignored
    return root


def args_for(data: Path, out: Path, steps: int, export: Path | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    recipe.add_arguments(parser)
    argv = ["--config", "tiny", "--data", str(data), "--out", str(out), "--steps", str(steps), "--threads", "1"]
    return parser.parse_args(argv + (["--export", str(export)] if export else []))


def use_micro_preset(monkeypatch) -> None:
    """The ``tiny`` preset shrunk to a micro model that logs and checkpoints every step."""
    micro = dataclasses.replace(codec_config.CONFIGS["tiny"], model=TINY, segment_seconds=0.5, batch_size=2,
                                warmup_steps=1, log_every=1, checkpoint_every=1)
    monkeypatch.setitem(codec_config.CONFIGS, "tiny", micro)


def test_train_resume_export(tmp_path: Path, monkeypatch) -> None:
    use_micro_preset(monkeypatch)
    data = make_tree(tmp_path / "data")
    out = tmp_path / "run"
    assert recipe.run(args_for(data, out, 2)) == 0
    assert (out / "last.pt").exists()
    export = tmp_path / "w.pt"
    assert recipe.run(args_for(data, out, 3, export)) == 0          # resumes at step 2, runs one more
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    meta = json.loads(export.with_suffix(".json").read_text())
    assert meta["steps"] == 3 and [h["from_step"] for h in meta["history"]] == [0, 2]

    from bench.baselines.codecs.mdct_rvq.codec import MDCTRVQCodec

    codec = MDCTRVQCodec(export)
    wave = speech_like(0.5)
    assert codec.decode(codec.encode(wave, 2), 2, wave.size).shape == wave.shape


def test_init_continues_from_an_exported_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """A fresh machine has only the shipped checkpoint: --init continues its weights, steps and lineage."""
    use_micro_preset(monkeypatch)
    data = make_tree(tmp_path / "data")
    first = tmp_path / "first.pt"
    assert recipe.run(args_for(data, tmp_path / "run1", 2, first)) == 0
    parser = argparse.ArgumentParser()
    recipe.add_arguments(parser)
    args = parser.parse_args(["--config", "tiny", "--data", str(data), "--out", str(tmp_path / "run2"), "--steps", "3",
                              "--threads", "1", "--init", str(first), "--export", str(tmp_path / "second.pt")])
    assert recipe.run(args) == 0
    meta = json.loads((tmp_path / "second.json").read_text())
    assert meta["steps"] == 3                                    # 2 from the export, one more here
    assert [h["from_step"] for h in meta["history"]] == [0, 2]


def test_a_run_folder_of_the_codec_s_own_earlier_loop_resumes_as_today_s(tmp_path: Path, monkeypatch) -> None:
    """``last.pt`` as the codec trainer wrote it before the loops were one (model, optimiser, critics, generator,
    step, elapsed_s, config, history) continues exactly as the same state in today's format does."""
    import shutil

    import torch

    from bench.training.loop import read_state
    from test_training_loop import legacy_blob, same_state

    use_micro_preset(monkeypatch)
    data = make_tree(tmp_path / "data")
    assert recipe.run(args_for(data, tmp_path / "today", 2)) == 0
    shutil.copytree(tmp_path / "today", tmp_path / "old")
    old = tmp_path / "old" / "last.pt"
    torch.save(legacy_blob(read_state(old), "codec"), old)
    for folder in ("today", "old"):
        assert recipe.run(args_for(data, tmp_path / folder, 3)) == 0
    today, resumed = read_state(tmp_path / "today" / "last.pt"), read_state(old)
    assert resumed.step == 3 and [h["from_step"] for h in resumed.history] == [0, 2]
    assert same_state(today, resumed)


def test_adversarial_fine_tune_adds_critics_to_a_run_without_them(tmp_path: Path, monkeypatch) -> None:
    """``--adversarial`` continues a run trained without critics: the critics start afresh at that step,
    their losses are logged from then on, and the state saved afterwards holds them."""
    import torch

    use_micro_preset(monkeypatch)
    data = make_tree(tmp_path / "data")
    out = tmp_path / "run"
    assert recipe.run(args_for(data, out, 1)) == 0
    assert "critics" not in torch.load(out / "last.pt", map_location="cpu", weights_only=False)["modules"]
    args = args_for(data, out, 2)
    args.adversarial, args.critic_width = True, 8
    assert recipe.run(args) == 0
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [r["adv"] != "" for r in rows] == [False, True]
    state = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
    assert state["step"] == 2 and "critics" in state["modules"]
    # --critic-width 8: MPD layers 8, 32, 64, 128 channels; the MRD's first layer 8 (HiFi-GAN's would be 32)
    critics = state["modules"]["critics"]
    assert [critics[f"critics.0.layers.{i}.parametrizations.weight.original1"].shape[0] for i in range(4)] == \
        [8, 32, 64, 128]
    assert critics["critics.5.layers.0.parametrizations.weight.original1"].shape[0] == 8
    args.critic_width = 0
    with pytest.raises(BenchError, match="--critic-width must be a positive"):
        recipe.run(args)


def test_several_data_folders_are_pooled(tmp_path: Path, monkeypatch) -> None:
    """``--data CLEAN ESTIMATES``: the sampler draws from both trees (a codec for separated speech too)."""
    use_micro_preset(monkeypatch)
    first, second = make_tree(tmp_path / "clean"), make_tree(tmp_path / "separated")
    export = tmp_path / "w.pt"
    parser = argparse.ArgumentParser()
    recipe.add_arguments(parser)
    args = parser.parse_args(["--config", "tiny", "--data", str(first), str(second), "--out", str(tmp_path / "run"),
                              "--steps", "1", "--threads", "1", "--export", str(export)])
    assert recipe.run(args) == 0
    meta = json.loads(export.with_suffix(".json").read_text())
    assert meta["data"] == f"{first} {second}"
    assert meta["hours"] == round(2 * 6 * 1.2 / 3600, 3)          # 12 sources of 1.2 s, the mixtures ignored
