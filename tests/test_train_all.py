"""``benchmarks/train_all.py``: the training chain's plan, and a real run of its first stages on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark_scripts import load_script
from libri2mix_tree import IDS, build_tree

REPO = Path(__file__).resolve().parents[1]
STAGES = ["codec", "codec-postfilter", "separator", "codesep-btdm", "codesep-atsp", "codesep-btdm-noacbg", "codesep-atsp-notf",
          "tokensplit", "tokensplit-refine"]


def _train_all():
    return load_script("train_all.py")


def _args(module, *extra: str):
    parser_args = ["--data", "/d/train", "--dev", "/d/dev", "--out", "/o", "--device", "cuda", *extra]
    captured = {}
    original = module.run_stage

    def fake_run_stage(stage, minutes, bench):
        captured[stage.name] = (stage, minutes)
        return {"stage": stage.name, "command": "", "returncode": 0, "seconds": 0.0, "budget_minutes": minutes,
                "outputs": stage.outputs}

    module.run_stage = fake_run_stage
    try:
        assert module.main(parser_args) == 0
    finally:
        module.run_stage = original
    return captured


def test_plan_trains_the_whole_chain_on_the_new_codec_and_separator(tmp_path: Path) -> None:
    module = _train_all()
    captured = _args(module, "--out", str(tmp_path), "--budget-minutes", "10", "--max-steps", "5")
    assert list(captured) == STAGES
    # budget shares: the codec gets 30 %; time a stage leaves unused passes on (here every stage took none,
    # so the last one may use the whole budget)
    assert captured["codec"][1] == pytest.approx(3.0, abs=0.01)
    assert captured["tokensplit-refine"][1] == pytest.approx(10.0, abs=0.05)
    codec = str(tmp_path / "codec.pt")
    for name, (stage, _) in captured.items():
        assert stage.argv[stage.argv.index("--device") + 1] == "cuda"
        assert (stage.argv[-2:] == ["--steps", "5"]) == (name != "codec-postfilter")
        if name.startswith(("codesep", "tokensplit")):   # every token model learns the new codec's tokens
            assert stage.argv[stage.argv.index("--codec-checkpoint") + 1] == codec
    # the token models learn the post-filtered export, which is fitted on the network the codec stage wrote
    network = captured["codec"][0].argv
    postfilter = captured["codec-postfilter"][0].argv
    assert network[network.index("--export") + 1] == postfilter[postfilter.index("--checkpoint") + 1]
    assert postfilter[postfilter.index("--out") + 1] == codec
    refine = captured["tokensplit-refine"][0].argv
    assert refine[refine.index("--separator-dir") + 1] == str(tmp_path / "sepformer")
    assert "--no-acbg" in captured["codesep-btdm-noacbg"][0].argv
    assert "--no-teacher-forcing" in captured["codesep-atsp-notf"][0].argv
    summary = json.loads((tmp_path / "commands.json").read_text())
    assert [s["stage"] for s in summary["stages"]] == STAGES and summary["budget_minutes"] == 10


@pytest.mark.slow
def test_first_stages_really_train_and_install(tmp_path: Path) -> None:
    data = tmp_path / "data"
    build_tree(data, lengths={mid: 40000 + 500 * i for i, mid in enumerate(IDS[:4])}, mix_types=("mix_clean",))
    meta = data / "Libri2Mix" / "wav16k" / "min" / "metadata"
    for split in ("train", "dev"):   # the same small tree serves as train and dev splits
        (meta / f"mixture_{split}_mix_clean.csv").write_text((meta / "mixture_test_mix_clean.csv").read_text())
    out, installed = tmp_path / "chain", tmp_path / "repo"
    cmd = [sys.executable, str(REPO / "benchmarks" / "train_all.py"), "--data", str(data), "--dev", str(data),
           "--out", str(out), "--budget-minutes", "20", "--max-steps", "2", "--codec-config", "tiny",
           "--separator-config", "tiny", "--only", "codec,codec-postfilter,separator,codesep-btdm", "--install",
           "--postfilter-utterances", "2",
           "--install-root", str(installed)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "commands.json").read_text())
    assert [s["stage"] for s in summary["stages"]] == ["codec", "codec-postfilter", "separator", "codesep-btdm"]
    for stage in summary["stages"]:
        assert stage["returncode"] == 0 and stage["command"].startswith("bench train ")
        budgeted = stage["stage"] != "codec-postfilter"
        assert ("--steps 2" in stage["command"] and "--minutes" in stage["command"]) == budgeted
    assert sorted(summary["installed"]) == sorted([
        "baselines/codecs/mdct_rvq/checkpoints/small.pt", "baselines/separators/pretrained/sepformer-small",
        "systems/codesep/checkpoints/btdm.pt"])
    for rel in summary["installed"]:
        assert (installed / rel).exists()
    assert (installed / "baselines/separators/pretrained/sepformer-small/hyperparams.yaml").is_file()
    # the token model was trained on the new codec's tokens: its record names that codec's hash
    from bench.baselines.codecs.mdct_rvq.checkpoint import codec_sha256

    assert codec_sha256(out / "codec.pt") in (out / "btdm.json").read_text()
    from bench.baselines.codecs.mdct_rvq.checkpoint import load_model

    assert load_model(installed / "baselines/codecs/mdct_rvq/checkpoints/small.pt").post_gain is not None
