"""What ``bench train separator`` trains, run by the shared loop (:mod:`bench.training.loop`).

``<work>/last.pt`` holds everything needed to continue (model, optimiser, step,
mixer RNG, best validation score, the commands so far), written atomically every
``eval_every`` steps and whenever training stops, so rerunning the same command after
an interruption continues.  ``<work>/loss.csv`` has one row per logged step.  The
output directory receives the best model by validation SI-SNRi (or the latest, without
``--dev``) as ``hyperparams.yaml`` + ``{encoder,masknet,decoder}.ckpt`` and the commands
that made it.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import re
import shlex
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TextIO

import numpy as np
import torch

from bench.baselines.separators.data import DynamicMixer, fixed_examples, load_sources
from bench.baselines.separators.loss import pit_si_snr_loss, si_snr
from bench.baselines.separators.recipes import ARCHS, SepformerArch, hyperparams_yaml
from bench.baselines.separators.sepformer import SepformerSeparator, build_separator, load_separator, save_separator
from bench.errors import BenchError
from bench.training.loop import LoopSettings, RunningMeans, StepReport, Trainee, TrainingState, train_loop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    """Optimisation settings of a preset (command-line options override them)."""

    steps: int
    batch_size: int
    segment: float      # seconds
    lr: float
    eval_every: int
    clip: float = 5.0
    warmup: int = 0


SCHEDULES: dict[str, Schedule] = {
    # speechbrain's recipe: Adam 1.5e-4, batch 1, clip 5 (plateau halving replaced by cosine decay)
    "paper": Schedule(steps=200_000, batch_size=1, segment=4.0, lr=1.5e-4, eval_every=2000),
    "tiny": Schedule(steps=1200, batch_size=4, segment=2.0, lr=1e-3, eval_every=100, warmup=50),
    "small": Schedule(steps=20_000, batch_size=4, segment=1.5, lr=1e-3, eval_every=250, warmup=200),
}


@dataclass(frozen=True)
class TrainOptions:
    """Resolved training configuration (preset plus overrides)."""

    config: str
    arch: SepformerArch
    schedule: Schedule
    data: Path
    split: str
    dev: Path | None
    dev_split: str
    out: Path
    work: Path
    minutes: float | None
    seed: int
    threads: int
    device: str
    command: str
    init: Path | None = None        # a saved model directory to continue from (no resumable state)
    lineage: tuple[str, ...] = ()   # earlier commands of that model (from its train_command.txt)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "TrainOptions":
        schedule = SCHEDULES[args.config]
        overrides = {"steps": args.steps, "batch_size": args.batch_size, "segment": args.segment, "lr": args.lr,
                     "eval_every": args.eval_every}
        schedule = replace(schedule, **{k: v for k, v in overrides.items() if v is not None})
        out = Path(args.out).expanduser()
        return cls(config=args.config, arch=ARCHS[args.config], schedule=schedule, data=Path(args.data).expanduser(),
                   split=args.split, dev=Path(args.dev).expanduser() if args.dev else None, dev_split=args.dev_split,
                   out=out, work=Path(args.work).expanduser() if args.work else out.with_name(out.name + ".work"),
                   minutes=args.minutes, seed=args.seed, threads=args.threads, device=args.device,
                   command=shlex.join(["bench", *sys.argv[1:]]) if sys.argv[1:2] == ["train"] else "",
                   init=Path(args.init).expanduser() if getattr(args, "init", None) else None)


def lr_at(step: int, schedule: Schedule, time_fraction: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to 5 % of the peak.

    ``time_fraction`` is the share of a ``--minutes`` budget already used: whichever budget
    runs out first sets the decay, so a run stopped by the clock (a GPU lease) still ends at
    a low rate instead of being cut off at its peak.
    """
    if schedule.warmup and step < schedule.warmup:
        return schedule.lr * (step + 1) / schedule.warmup
    progress = min(1.0, max((step - schedule.warmup) / max(1, schedule.steps - schedule.warmup), time_fraction))
    return schedule.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


class SeparatorTrainee(Trainee):
    """A Sepformer on dynamically mixed pairs: PIT SI-SNR, clipped Adam, dev SI-SNRi ranks the checkpoints."""

    def __init__(self, options: TrainOptions, model: SepformerSeparator, hparams_text: str, mixer: DynamicMixer,
                 dev: list[np.ndarray], log_file: TextIO) -> None:
        self.options, self.schedule, self.model, self.hparams_text = options, options.schedule, model, hparams_text
        self.mixer, self.dev = mixer, dev
        self.optimiser = torch.optim.Adam(model.parameters(), lr=options.schedule.lr)
        self.lineage: tuple[str, ...] = options.lineage
        self.handle, self.writer, self.recent = log_file, csv.writer(log_file), RunningMeans()

    def started(self, state: TrainingState) -> None:
        self.lineage = tuple(entry["command"] for entry in state.history if entry.get("command"))

    def learning_rate(self, step: int, time_fraction: float) -> float:
        return lr_at(step, self.schedule, time_fraction)

    def loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        references = torch.as_tensor(self.mixer.batch(self.schedule.batch_size), device=self.options.device)
        loss = pit_si_snr_loss(self.model(references.sum(dim=1)), references)
        return loss, {"loss": loss.item()}

    def rng_state(self) -> dict:
        return self.mixer.state()

    def set_rng_state(self, value: dict) -> None:
        self.mixer.set_state(value)

    def evaluate(self) -> dict[str, float]:
        return {"dev_sisnri_db": validate(self.model, self.dev, self.options.device)} if self.dev else {}

    def score(self, report: StepReport) -> float | None:
        return (report.scores or {}).get("dev_sisnri_db")

    def export(self, report: StepReport) -> None:
        save_separator(self.model, self.options.out, self.hparams_text)
        write_provenance(replace(self.options, lineage=self.lineage), report.step)

    def log(self, report: StepReport) -> None:
        """``loss.csv``: a row per 10 steps and per checkpoint (loss averaged since the last row)."""
        self.recent.add(report.stats)
        if report.step % 10 and report.scores is None:
            return
        loss = self.recent.means()["loss"]
        dev = f"{report.scores['dev_sisnri_db']:.3f}" if report.scores and "dev_sisnri_db" in report.scores else ""
        self.writer.writerow([report.step, f"{loss:.4f}", f"{report.lr:.3g}", f"{report.grad_norm:.3f}",
                              f"{report.session_seconds:.0f}", dev])
        self.handle.flush()
        log.info("step %d loss %.3f lr %.2g%s", report.step, loss, report.lr, f" dev SI-SNRi {dev} dB" if dev else "")
        self.recent.reset()


def train(options: TrainOptions) -> dict:
    """Run (or resume) training; returns a summary (steps, best validation SI-SNRi)."""
    torch.set_num_threads(max(1, options.threads))
    torch.manual_seed(options.seed)
    arch, schedule = options.arch, options.schedule
    header = (f"Sepformer '{options.config}' trained by jsac-bench: bench train separator\n"
              f"architecture: {asdict(arch)}")
    hparams_text = hyperparams_yaml(arch, header=header)
    model = build_separator(hparams_text).to(options.device)

    log.info("loading training sources from %s (%s split)", options.data, options.split)
    utterances, pairs = load_sources(options.data, options.split, arch.sample_rate)
    mixer = DynamicMixer(utterances, pairs, segment=int(schedule.segment * arch.sample_rate), seed=options.seed)
    dev = fixed_examples(options.dev, options.dev_split, arch.sample_rate) if options.dev else []
    log.info("%d source utterances, %d validation mixtures", len(utterances), len(dev))

    options.work.mkdir(parents=True, exist_ok=True)
    log_path = options.work / "loss.csv"
    new_log = not log_path.exists()
    with open(log_path, "a", newline="") as handle:
        if new_log:
            csv.writer(handle).writerow(["step", "loss", "lr", "grad_norm", "seconds", "dev_sisnri_db"])
        trainee = SeparatorTrainee(options, model, hparams_text, mixer, dev, handle)

        def init() -> TrainingState:
            step, lineage = init_from_model_dir(model, options.init)
            log.info("continuing from the weights in %s (step %d, fresh optimiser)", options.init, step)
            return TrainingState(step=step, history=[{"command": command} for command in lineage])

        settings = LoopSettings(max_steps=schedule.steps, eval_every=schedule.eval_every, clip=schedule.clip,
                                minutes=options.minutes)
        result = train_loop(trainee, settings, options.work / "last.pt", command=options.command,
                            init=init if options.init is not None else None, log=log)
    return {"steps": result.step, "best_dev_sisnri_db": result.best}


@torch.no_grad()
def validate(model: SepformerSeparator, examples: list[np.ndarray], device: str) -> float:
    """Mean SI-SNR improvement (dB) over full-length validation mixtures, best permutation each."""
    model.eval()
    scores = []
    for references in examples:
        refs = torch.as_tensor(references, device=device)[None]          # [1, 2, T]
        mix = refs.sum(dim=1)
        est = model(mix)
        best = max(float(si_snr(est[:, list(p)], refs).mean()) for p in ((0, 1), (1, 0)))
        baseline = float(si_snr(mix[:, None].expand_as(refs), refs).mean())
        scores.append(best - baseline)
    return float(np.mean(scores))


def init_from_model_dir(model: SepformerSeparator, model_dir: Path) -> tuple[int, tuple[str, ...]]:
    """Copy a saved model's weights into ``model``: (its step, its earlier commands).

    Why: the resumable state (``--work``) stays on the machine that trained; a later session
    or another lab has the saved speechbrain directory and its ``train_command.txt``.
    """
    saved = load_separator(model_dir)
    for name in ("encoder", "masknet", "decoder"):
        try:
            getattr(model, name).load_state_dict(getattr(saved, name).state_dict())
        except RuntimeError as exc:
            raise BenchError(f"{model_dir}: its {name} does not fit this --config "
                             f"({str(exc).splitlines()[0]})") from None
    provenance = model_dir / "train_command.txt"
    lines = provenance.read_text().splitlines() if provenance.is_file() else []
    found = [int(step) for step in re.findall(r"step=(\d+)/", "\n".join(lines))]
    commands = tuple(line.removeprefix("# earlier: ") for line in lines
                     if line and (not line.startswith("#") or line.startswith("# earlier: ")))
    return (found[-1] if found else 0), commands


def write_provenance(options: TrainOptions, step: int) -> None:
    """``train_command.txt`` next to the weights: the exact command and where training stood."""
    lines = [*(f"# earlier: {c}" for c in options.lineage),
             options.command or "(not started from the command line)",
             f"# config={options.config} step={step}/{options.schedule.steps} schedule={asdict(options.schedule)}",
             f"# data={options.data} split={options.split} dev={options.dev} seed={options.seed}"]
    (options.out / "train_command.txt").write_text("\n".join(lines) + "\n")
