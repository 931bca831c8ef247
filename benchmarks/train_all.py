"""Train the whole model chain in one go, within a wall-clock budget (made for a lent GPU).

The chain, in dependency order, each stage a ``bench train`` command of the repo's own recipes:

1. the MDCT-RVQ codec (``bench train codec``) and its rate-dependent post-filter
   (``bench train codec-postfilter``, a few hundred decodes: not budgeted),
2. the Sepformer separator (``bench train separator``),
3. CodeSep's BTDM and ATSP and the two Table-4 ablations, on the new codec's tokens,
4. TokenSplit and TokenSplitRefine, on the new codec's tokens (Refine on the new separator).

Every stage gets a share of ``--budget-minutes`` (``--minutes`` of its recipe, which stops,
checkpoints and exports when it runs out) and the whole run writes ``OUT/commands.json``:
each command exactly as run, its exit status and wall time, so a shipped checkpoint always
comes from a command anyone can rerun.  Every recipe runs the one training loop
(:mod:`bench.training.loop`), which saves its work folder's state as of the last finished step
whenever it stops (time budget, SIGTERM, error), so rerunning the same command after an
interruption continues the chain where it stopped.

    python benchmarks/train_all.py --data /work/data/train --dev /work/data/dev --out /work/chain \\
        --device cuda --budget-minutes 10

``--max-steps N`` caps every stage (the test suite runs the chain on CPU with N = 2).
``--install`` copies the results over the packaged checkpoints (do it only when they are better:
``benchmarks/codec_quality.py`` and ``bench run`` tell).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Stage:
    """One ``bench train`` invocation of the chain."""

    name: str
    share: float                      # fraction of the budget
    argv: list[str]                   # after ``bench train``
    outputs: list[str] = field(default_factory=list)   # what it writes (relative to --out)
    budgeted: bool = True             # takes --minutes/--steps (a training loop), else runs to its end


def plan(args: argparse.Namespace) -> list[Stage]:
    """The chain's stages with their arguments (paths relative to ``args.out``)."""
    out = Path(args.out)
    data, dev = str(Path(args.data)), str(Path(args.dev))
    codec = str(out / "codec.pt")
    separator = str(out / "sepformer")
    common = ["--device", args.device, "--threads", str(args.threads), "--seed", str(args.seed)]
    token = ["--config", args.token_config, "--data", data, "--dev", dev, "--codec-checkpoint", codec]
    stages = [
        Stage("codec", 0.30, ["codec", "--config", args.codec_config, "--data", data,
                              "--out", str(out / "codec.work"), "--export", str(out / "codec-network.pt"),
                              *common], []),
        Stage("codec-postfilter", 0.0, ["codec-postfilter", "--checkpoint", str(out / "codec-network.pt"),
                                        "--data", data, "--out", codec, "--utterances", str(args.postfilter_utterances),
                                        "--device", args.device, "--threads", str(args.threads)],
              ["codec.pt"], budgeted=False),
        Stage("separator", 0.25, ["separator", "--config", args.separator_config, "--data", data, "--dev", dev,
                                  "--out", separator, "--work", str(out / "sepformer.work"), *common],
              ["sepformer"]),
        Stage("codesep-btdm", 0.06, ["codesep", "--stage", "btdm", *token, "--out", str(out / "btdm.pt"),
                                     "--cache", str(out / "tokens"), *common], ["btdm.pt"]),
        Stage("codesep-atsp", 0.06, ["codesep", "--stage", "atsp", *token, "--out", str(out / "atsp.pt"),
                                     "--cache", str(out / "tokens"), *common], ["atsp.pt"]),
        Stage("codesep-btdm-noacbg", 0.04, ["codesep", "--stage", "btdm", "--no-acbg", *token,
                                            "--out", str(out / "btdm-noacbg.pt"), "--cache", str(out / "tokens"),
                                            *common], ["btdm-noacbg.pt"]),
        Stage("codesep-atsp-notf", 0.04, ["codesep", "--stage", "atsp", "--no-teacher-forcing", *token,
                                          "--out", str(out / "atsp-notf.pt"), "--cache", str(out / "tokens"),
                                          *common], ["atsp-notf.pt"]),
        Stage("tokensplit", 0.125, ["tokensplit", *token, "--out", str(out / "tokensplit.pt"), *common],
              ["tokensplit.pt"]),
        Stage("tokensplit-refine", 0.125, ["tokensplit", "--refine", *token, "--separator-dir", separator,
                                           "--out", str(out / "tokensplit-refine.pt"), *common],
              ["tokensplit-refine.pt"]),
    ]
    if args.max_steps is not None:
        for stage in stages:
            if stage.budgeted:
                stage.argv += ["--steps", str(args.max_steps)]
    if args.only:
        wanted = set(args.only.split(","))
        stages = [s for s in stages if s.name in wanted]
    return stages


INSTALL = {
    # output (relative to --out) -> packaged location (relative to the repo)
    "codec.pt": "baselines/codecs/mdct_rvq/checkpoints/small.pt",
    "sepformer": "baselines/separators/pretrained/sepformer-small",
    "btdm.pt": "systems/codesep/checkpoints/btdm.pt",
    "atsp.pt": "systems/codesep/checkpoints/atsp.pt",
    "btdm-noacbg.pt": "systems/codesep/checkpoints/btdm-noacbg.pt",
    "atsp-notf.pt": "systems/codesep/checkpoints/atsp-notf.pt",
    "tokensplit.pt": "systems/tokensplit/checkpoints/tokensplit.pt",
    "tokensplit-refine.pt": "systems/tokensplit/checkpoints/tokensplit-refine.pt",
}


def run_stage(stage: Stage, minutes: float, bench: list[str]) -> dict:
    """Run one stage with its share of the budget; return its record for commands.json."""
    budget = ["--minutes", f"{minutes:.2f}"] if stage.budgeted else []
    argv = [*bench, "train", *stage.argv, *budget]
    shown = shlex.join(["bench", "train", *stage.argv, *budget])
    print(f"[train_all] {stage.name}: {shown}", file=sys.stderr, flush=True)
    started = time.monotonic()
    proc = subprocess.run(argv, check=False)
    seconds = round(time.monotonic() - started, 1)
    return {"stage": stage.name, "command": shown, "returncode": proc.returncode, "seconds": seconds,
            "budget_minutes": round(minutes, 2), "outputs": stage.outputs}


def install(out: Path, records: list[dict], root: Path = REPO) -> list[str]:
    """Copy every successfully trained output over its packaged location under ``root`` (with its .json)."""
    done = []
    for record in records:
        if record["returncode"] != 0:
            continue
        for name in record["outputs"]:
            source, target = out / name, root / INSTALL[name]
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            elif source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
                sidecar = source.with_suffix(".json")
                if sidecar.is_file():
                    shutil.copy2(sidecar, target.with_suffix(".json"))
            else:
                continue
            done.append(INSTALL[name])
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="training data root (holds Libri2Mix/, train split)")
    parser.add_argument("--dev", required=True, help="validation data root (its dev split); never the test set")
    parser.add_argument("--out", required=True, help="folder for every checkpoint, work folder and commands.json")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--budget-minutes", type=float, default=10.0, help="wall time for the whole chain")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per stage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--codec-config", default="small")
    parser.add_argument("--separator-config", default="small")
    parser.add_argument("--token-config", default="tiny", help="CodeSep and TokenSplit preset")
    parser.add_argument("--postfilter-utterances", type=int, default=200,
                        help="training files the codec's post-filter is fitted on")
    parser.add_argument("--max-steps", type=int, default=None, help="cap every stage at N optimiser steps")
    parser.add_argument("--only", default=None, help="comma-separated stage names to run (default: all)")
    parser.add_argument("--install", action="store_true", help="copy the results over the packaged checkpoints")
    parser.add_argument("--install-root", default=str(REPO), help=argparse.SUPPRESS)  # tests install elsewhere
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bench = [sys.executable, "-m", "bench.cli"]
    stages = plan(args)
    total_share = sum(s.share for s in stages)
    records = []
    started = time.monotonic()
    for k, stage in enumerate(stages):
        left = args.budget_minutes - (time.monotonic() - started) / 60
        remaining_share = sum(s.share for s in stages[k:])
        # a stage that finishes early (step cap) hands its unused time to the later ones
        minutes = max(0.05, left * stage.share / remaining_share) if total_share else left
        records.append(run_stage(stage, minutes, bench))
        if records[-1]["returncode"] != 0:
            print(f"[train_all] {stage.name} failed (exit {records[-1]['returncode']}); stopping the chain",
                  file=sys.stderr)
            break
    summary = {"argv": [sys.argv[0], *(argv if argv is not None else sys.argv[1:])],
               "device": args.device, "budget_minutes": args.budget_minutes,
               "seconds": round(time.monotonic() - started, 1), "stages": records}
    if args.install:
        summary["installed"] = install(out, records, Path(args.install_root))
    (out / "commands.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"[train_all] wrote {out / 'commands.json'}", file=sys.stderr)
    return 0 if all(r["returncode"] == 0 for r in records) and len(records) == len(stages) else 1


if __name__ == "__main__":
    sys.exit(main())
