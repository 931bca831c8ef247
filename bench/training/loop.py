"""The one training loop of every recipe (codec, separator, CodeSep, TokenSplit) and its resumable state.

A recipe describes what it trains as a :class:`Trainee`: the batches and their loss, the
learning-rate schedule, the dev evaluation, how it exports weights and what it logs.
:func:`train_loop` does the rest, the same way for all of them:

* start from ``last.pt`` in the run's work folder (one format, :class:`TrainingState`; the
  files earlier versions wrote are read too), from exported weights (``--init``), or afresh;
* one optimiser step per batch: learning rate set, gradients clipped, a non-finite update
  skipped;
* stop at ``max_steps``, when the ``--minutes`` budget is spent, or on SIGTERM;
* a checkpoint every ``eval_every`` steps and where it stops for steps or time: evaluate,
  export the weights if they score best so far, save the state atomically;
* whenever it stops (a SIGTERM, Ctrl-C or an error included) save the state as of the last
  finished step, data RNG included, so rerunning the command continues as if it had never
  stopped.

The state records the codec checkpoint's SHA-256 for token models (a state trained on other
tokens is refused) and one ``history`` entry per invocation (command, from_step, to_step):
how the weights came about.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError
from bench.safe_load import atomic_save, load_checkpoint

STATE_FORMAT = 2
#: names a work folder's state had before the loops were one (CodeSep and TokenSplit wrote ``state.pt``)
LEGACY_STATE_NAMES = ("state.pt",)


@dataclass
class TrainingState:
    """What ``last.pt`` holds: enough to continue a run exactly where it stopped."""

    step: int = 0
    elapsed_s: float = 0.0                       # training time over every invocation
    best: float = -math.inf                      # best checkpoint score so far (higher is better)
    rng: Any = None                              # the trainee's data RNG state
    history: list[dict] = field(default_factory=list)   # one entry per invocation: command, from_step, to_step
    codec_sha256: str | None = None              # the codec whose tokens a token model learns
    modules: dict[str, dict] = field(default_factory=dict)      # state dicts by network name ("model", ...)
    optimisers: dict[str, dict] = field(default_factory=dict)   # their optimisers' state dicts
    extra: dict[str, Any] = field(default_factory=dict)         # the recipe's own records (codec: "config")

    def to_blob(self) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "step": self.step, "elapsed_s": self.elapsed_s, "best": self.best,
                "rng": self.rng, "history": self.history, "codec_sha256": self.codec_sha256,
                "modules": self.modules, "optimisers": self.optimisers, "extra": self.extra}

    @classmethod
    def from_blob(cls, blob: Any, path: Path) -> "TrainingState":
        """The state in ``blob``, whichever version of the loops wrote it."""
        if not isinstance(blob, dict) or "step" not in blob or not ("modules" in blob or "model" in blob):
            raise BenchError(f"{path}: not a resumable training state")
        if "format" in blob:
            if blob["format"] != STATE_FORMAT:
                raise BenchError(f"{path}: training state format {blob['format']!r}, this version reads "
                                 f"{STATE_FORMAT}")
            return cls(**{name: blob[name] for name in cls.__dataclass_fields__ if name in blob})
        # written before the loops were one: the codec's (optimiser, critics, generator, elapsed_s,
        # config, history), the separator's (optimiser, mixer, best) and CodeSep/TokenSplit's
        # (optimizer, rng, elapsed, best, codec_sha256)
        modules = {"model": blob["model"]}
        optimisers = {"model": blob["optimiser"] if "optimiser" in blob else blob["optimizer"]}
        if blob.get("critics") is not None:
            modules["critics"], optimisers["critics"] = blob["critics"], blob["critic_optimiser"]
        rng = next((blob[key] for key in ("generator", "mixer", "rng") if key in blob), None)
        return cls(step=int(blob["step"]), elapsed_s=float(blob.get("elapsed_s", blob.get("elapsed", 0.0))),
                   best=float(blob.get("best", -math.inf)), rng=rng, history=list(blob.get("history", [])),
                   codec_sha256=blob.get("codec_sha256"), modules=modules, optimisers=optimisers,
                   extra={"config": blob["config"]} if "config" in blob else {})


def find_state(path: Path) -> Path | None:
    """``path`` if it exists, else a state file of an earlier name in its folder, else None."""
    for candidate in (path, *(path.with_name(name) for name in LEGACY_STATE_NAMES)):
        if candidate.is_file():
            return candidate
    return None


def read_state(path: Path, map_location: Any = "cpu") -> TrainingState:
    """Load a resumable state safely (``weights_only``: a state file runs no code)."""
    return TrainingState.from_blob(load_checkpoint(path, map_location, "resumable state"), path)


class RunningMeans:
    """Means of the numbers logged per step since the last :meth:`reset`."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, stats: dict[str, float]) -> None:
        for key, value in stats.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def means(self) -> dict[str, float]:
        return {key: value / self.count for key, value in self.sums.items()}

    def reset(self) -> None:
        self.sums, self.count = {}, 0


@dataclass
class StepReport:
    """What the loop tells a trainee after each step."""

    step: int                                    # optimiser steps done
    stats: dict[str, float]                      # the trainee's numbers for this step
    means: dict[str, float]                      # their means since the last checkpoint, this step included
    lr: float
    grad_norm: float
    seconds: float                               # training time over every invocation
    session_seconds: float                       # training time in this invocation
    scores: dict[str, float] | None = None       # the checkpoint's evaluation; None: no checkpoint at this step
    final: bool = False                          # a checkpoint off the ``eval_every`` grid: the run stops here


class Trainee:
    """What a recipe trains, as the loop sees it.

    Subclasses set ``model`` and ``optimiser`` and write :meth:`loss` and :meth:`learning_rate`;
    the other hooks have do-nothing defaults.
    """

    model: torch.nn.Module
    optimiser: torch.optim.Optimizer

    def networks(self) -> dict[str, tuple[torch.nn.Module, torch.optim.Optimizer]]:
        """Every network the state saves, with its optimiser (the loop steps only ``model``'s)."""
        return {"model": (self.model, self.optimiser)}

    def learning_rate(self, step: int, time_fraction: float) -> float:
        """The rate of optimiser step ``step`` (from 0); ``time_fraction``: share of the time budget used."""
        raise NotImplementedError

    def loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """One batch: the loss to minimise and numbers to log (it may first update other networks)."""
        raise NotImplementedError

    def rng_state(self) -> Any:
        """The data RNG's state (a copy), saved with the weights so a resumed run draws the same batches."""
        return None

    def set_rng_state(self, value: Any) -> None:
        pass

    def started(self, state: TrainingState) -> None:
        """Called once the start is known (afresh, resumed or ``--init``), before the first step."""

    def evaluate(self) -> dict[str, float]:
        """Dev scores at a checkpoint ({}: none)."""
        return {}

    def score(self, report: StepReport) -> float | None:
        """Ranks checkpoints (higher is better); None: export at every checkpoint."""
        return None

    def export(self, report: StepReport) -> None:
        """Write the weights of a checkpoint that scores best so far."""

    def log(self, report: StepReport) -> None:
        """Record a step (and, when ``report.scores`` is set, its checkpoint)."""

    def extra_state(self) -> dict[str, Any]:
        """Records of the recipe's own saved with the state."""
        return {}


@dataclass(frozen=True)
class LoopSettings:
    max_steps: int
    eval_every: int
    clip: float = 1.0                            # gradient-norm clipping of ``model``
    minutes: float | None = None                 # time budget
    minutes_span_resumptions: bool = False       # the budget counts the run's time, not this invocation's


@dataclass
class LoopResult:
    step: int
    best: float
    seconds: float                               # training time over every invocation
    scores: dict[str, float] | None              # the last checkpoint's scores in this invocation (None: none)
    history: list[dict]                          # every invocation's entry, this one's included


class _Clock:
    """Training time and the ``--minutes`` budget."""

    def __init__(self, settings: LoopSettings, before: float) -> None:
        self.before, self.started = before, time.monotonic()
        self.budget = None if settings.minutes is None else 60.0 * settings.minutes
        self.spans = settings.minutes_span_resumptions

    def session(self) -> float:
        return time.monotonic() - self.started

    def total(self) -> float:
        return self.before + self.session()

    def fraction(self) -> float:
        """Share of the budget used (0 without one)."""
        return (self.total() if self.spans else self.session()) / self.budget if self.budget else 0.0

    def spent(self) -> bool:
        return self.budget is not None and self.fraction() >= 1.0


class _SigtermStop:
    """SIGTERM asks the loop to stop after the step under way; a second one stops at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: Any = None

    def __enter__(self) -> "_SigtermStop":
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            raise SystemExit(f"stopped by signal {signum}")
        self.signum = signum

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _start(trainee: Trainee, path: Path, resume: bool, init: Callable[[], TrainingState] | None,
           codec_sha256: str | None, log: logging.Logger) -> TrainingState:
    """The state to continue from: ``path`` (or its legacy name), else ``init()``, else a fresh one."""
    found = find_state(path) if resume else None
    if found is None:
        state = init() if init is not None else TrainingState()
        state.codec_sha256 = codec_sha256
        return state
    state = read_state(found, next(trainee.model.parameters()).device)
    if state.codec_sha256 != codec_sha256:
        raise SystemExit(f"{found}: resumable state is for another codec checkpoint; use a new --work")
    for name, (module, optimiser) in trainee.networks().items():
        if name not in state.modules:
            if name == "model":
                raise BenchError(f"{found}: resumable state holds no model weights")
            log.info("%s: no %s in the saved state; they start afresh", found, name)
            continue
        try:
            module.load_state_dict(state.modules[name])
        except RuntimeError as exc:
            raise BenchError(f"{found}: the saved {name} does not fit this configuration "
                             f"({str(exc).splitlines()[0]})") from None
        optimiser.load_state_dict(state.optimisers[name])
    if state.rng is not None:
        trainee.set_rng_state(state.rng)
    log.info("resumed from %s at step %d (%.1f min trained)", found, state.step, state.elapsed_s / 60)
    return state


def train_loop(trainee: Trainee, settings: LoopSettings, state_path: Path, *, command: str = "",
               resume: bool = True, init: Callable[[], TrainingState] | None = None,
               codec_sha256: str | None = None, log: logging.Logger | None = None) -> LoopResult:
    """Train ``trainee`` (resuming from ``state_path`` unless ``resume`` is false) until it stops.

    ``init()`` gives the start when there is no state to resume (it loads exported weights
    into the trainee and returns their step, time and history); ``codec_sha256`` ties the
    state to the codec whose tokens a token model learns.  Raises SystemExit after saving
    when a SIGTERM stopped it.
    """
    log = log or logging.getLogger(__name__)
    state = _start(trainee, state_path, resume, init, codec_sha256, log)
    trainee.started(state)
    earlier = list(state.history)
    session: dict[str, Any] = {"command": command, "from_step": state.step}
    clock = _Clock(settings, state.elapsed_s)
    params = [p for group in trainee.optimiser.param_groups for p in group["params"]]
    means = RunningMeans()
    rng = trainee.rng_state()          # as of the last finished step: what a stop saves
    scores: dict[str, float] | None = None

    def save() -> None:
        networks = trainee.networks()
        state.elapsed_s, state.rng, state.history = clock.total(), rng, [*earlier, dict(session)]
        state.modules = {name: module.state_dict() for name, (module, _) in networks.items()}
        state.optimisers = {name: optimiser.state_dict() for name, (_, optimiser) in networks.items()}
        state.extra = trainee.extra_state()
        atomic_save(state.to_blob(), state_path)

    with _SigtermStop() as stop:
        try:
            while state.step < settings.max_steps and not clock.spent() and stop.signum is None:
                lr = trainee.learning_rate(state.step, clock.fraction())
                for group in trainee.optimiser.param_groups:
                    group["lr"] = lr
                trainee.model.train()
                loss, stats = trainee.loss(state.step)
                trainee.optimiser.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, settings.clip))
                if math.isfinite(float(loss.detach())) and math.isfinite(grad_norm):
                    trainee.optimiser.step()
                else:
                    log.warning("step %d: non-finite loss or gradient, update skipped", state.step)
                state.step += 1
                rng = trainee.rng_state()
                means.add(stats)
                report = StepReport(state.step, stats, means.means(), lr, grad_norm, clock.total(), clock.session())
                on_grid = state.step % settings.eval_every == 0
                if stop.signum is None and (on_grid or state.step >= settings.max_steps or clock.spent()):
                    report.scores = scores = trainee.evaluate()
                    report.final = not on_grid
                    score = trainee.score(report)
                    if score is None or score >= state.best:
                        state.best = state.best if score is None else score
                        trainee.export(report)
                    save()
                trainee.log(report)
                if report.scores is not None:
                    means.reset()
            if clock.spent():
                log.info("time budget of %g min reached at step %d", settings.minutes, state.step)
        finally:
            session["to_step"] = state.step
            save()
    if stop.signum is not None:
        raise SystemExit(f"stopped by signal {stop.signum} at step {state.step}; rerun the command to continue")
    return LoopResult(state.step, state.best, state.elapsed_s, scores, state.history)
