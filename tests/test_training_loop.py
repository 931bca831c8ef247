"""The one training loop (``bench.training.loop``): stops, resumes and old state files continue exactly."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.training.loop import LoopSettings, Trainee, TrainingState, read_state, train_loop


def legacy_blob(state: TrainingState, layout: str) -> dict:
    """``state`` as the loops wrote it before there was one: ``codec``, ``separator`` or ``token`` (CodeSep/TokenSplit)."""
    model, optimiser = state.modules["model"], state.optimisers["model"]
    if layout == "codec":
        return {"model": model, "optimiser": optimiser, "critics": None, "critic_optimiser": None,
                "generator": state.rng, "step": state.step, "elapsed_s": state.elapsed_s,
                "config": state.extra.get("config", {}), "history": state.history}
    if layout == "separator":
        return {"model": model, "optimiser": optimiser, "mixer": state.rng, "step": state.step, "best": state.best}
    assert layout == "token"
    return {"model": model, "optimizer": optimiser, "step": state.step, "elapsed": state.elapsed_s,
            "best": state.best, "codec_sha256": state.codec_sha256, "rng": state.rng}


def same_state(a: TrainingState, b: TrainingState) -> bool:
    """Equal weights, optimiser states and RNG, tensor by tensor."""
    def same(x, y) -> bool:
        if isinstance(x, torch.Tensor):
            return isinstance(y, torch.Tensor) and x.shape == y.shape and torch.equal(x, y)
        if isinstance(x, dict):
            return isinstance(y, dict) and x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        if isinstance(x, (list, tuple)):
            return isinstance(y, (list, tuple)) and len(x) == len(y) and all(map(same, x, y))
        return x == y

    return a.step == b.step and same([a.modules, a.optimisers, a.rng], [b.modules, b.optimisers, b.rng])


class Interrupted(Exception):
    """Stands for a crash in the middle of a step."""


class Toy(Trainee):
    """A linear regression on batches from a seeded numpy RNG."""

    def __init__(self, crash_at: int | None = None, sigterm_at: int | None = None) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Linear(4, 1)
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=0.1)
        self.rng = np.random.default_rng(0)
        self.calls, self.crash_at, self.sigterm_at = 0, crash_at, sigterm_at
        self.logged: list[tuple[int, bool, bool]] = []
        self.exported: list[int] = []

    def learning_rate(self, step: int, time_fraction: float) -> float:
        return 0.05 * (1 - step / 100)

    def loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        self.calls += 1
        x = torch.as_tensor(self.rng.standard_normal((8, 4)), dtype=torch.float32)
        if self.calls == self.crash_at:
            raise Interrupted                      # after the draw: the RNG has moved past the last finished step
        if self.calls == self.sigterm_at:
            os.kill(os.getpid(), signal.SIGTERM)   # arrives during the step
        loss = ((self.model(x) - x.sum(dim=1, keepdim=True)) ** 2).mean()
        return loss, {"loss": float(loss.detach())}

    def rng_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_rng_state(self, value: dict) -> None:
        self.rng.bit_generator.state = value

    def evaluate(self) -> dict[str, float]:
        return {"dev": float(self.model.weight.detach().sum())}

    def score(self, report) -> float:
        return report.scores["dev"]

    def export(self, report) -> None:
        self.exported.append(report.step)

    def log(self, report) -> None:
        self.logged.append((report.step, report.scores is not None, report.final))


SETTINGS = LoopSettings(max_steps=6, eval_every=2)


def weights(trainee: Toy) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainee.model.state_dict().items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, torch.Tensor]:
    trainee = Toy()
    result = train_loop(trainee, SETTINGS, tmp_path_factory.mktemp("whole") / "last.pt", command="once")
    assert result.step == 6 and [h["command"] for h in result.history] == ["once"]
    assert [entry for entry in trainee.logged if entry[1]] == [(2, True, False), (4, True, False), (6, True, False)]
    return weights(trainee)


def test_a_crash_mid_step_saves_the_last_finished_step_and_resuming_continues_exactly(tmp_path: Path, uninterrupted):
    path = tmp_path / "last.pt"
    with pytest.raises(Interrupted):
        train_loop(Toy(crash_at=4), SETTINGS, path, command="first")
    assert read_state(path).step == 3                       # not the checkpoint of step 2: the last finished step
    resumed = Toy()
    assert train_loop(resumed, SETTINGS, path, command="second").step == 6
    assert resumed.calls == 3
    assert_same(weights(resumed), uninterrupted)
    history = read_state(path).history
    assert [(h["command"], h["from_step"], h["to_step"]) for h in history] == [("first", 0, 3), ("second", 3, 6)]


def test_sigterm_finishes_the_step_saves_and_exits(tmp_path: Path, uninterrupted):
    path = tmp_path / "last.pt"
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit, match="stopped by signal 15 at step 4"):
        train_loop(Toy(sigterm_at=4), SETTINGS, path)
    assert signal.getsignal(signal.SIGTERM) == before       # the handler is the loop's only while it runs
    assert read_state(path).step == 4
    resumed = Toy()
    train_loop(resumed, SETTINGS, path)
    assert_same(weights(resumed), uninterrupted)


@pytest.mark.parametrize("layout", ["codec", "separator", "token"])
def test_a_state_file_in_an_earlier_layout_resumes_exactly(layout: str, tmp_path: Path, uninterrupted):
    """The codec's, the separator's and CodeSep/TokenSplit's own ``last.pt``/``state.pt`` from before the loops
    were one: a run folder of the old code continues with this one as it would have with the old."""
    first = tmp_path / "first" / "last.pt"
    digest = "ab" * 32 if layout == "token" else None
    train_loop(Toy(), LoopSettings(max_steps=3, eval_every=2), first, codec_sha256=digest)
    old = tmp_path / "old" / ("state.pt" if layout == "token" else "last.pt")
    old.parent.mkdir()
    torch.save(legacy_blob(read_state(first), layout), old)
    state = read_state(old)
    assert state.step == 3 and state.codec_sha256 == digest
    assert state.best == (-math.inf if layout == "codec" else read_state(first).best)   # the codec kept no best
    resumed = Toy()
    assert train_loop(resumed, SETTINGS, old.with_name("last.pt"), codec_sha256=digest).step == 6
    assert resumed.calls == 3
    assert_same(weights(resumed), uninterrupted)
    assert read_state(old.with_name("last.pt")).history[-1]["from_step"] == 3   # saved in today's format


def test_checkpoints_on_the_grid_and_where_it_stops(tmp_path: Path):
    trainee = Toy()
    train_loop(trainee, LoopSettings(max_steps=5, eval_every=2), tmp_path / "last.pt")
    assert [entry for entry in trainee.logged if entry[1]] == [(2, True, False), (4, True, False), (5, True, True)]
    assert len(trainee.logged) == 5 and trainee.exported and set(trainee.exported) <= {2, 4, 5}


def test_time_budget_of_this_invocation_or_of_the_run(tmp_path: Path):
    path = tmp_path / "last.pt"
    train_loop(Toy(), LoopSettings(max_steps=2, eval_every=2), path)
    state = read_state(path)
    state.elapsed_s = 120.0                                  # two minutes trained so far
    torch.save(state.to_blob(), path)
    spans = LoopSettings(max_steps=6, eval_every=2, minutes=1.0, minutes_span_resumptions=True)
    assert train_loop(Toy(), spans, path).step == 2          # the run's budget is spent: no step
    per_call = LoopSettings(max_steps=6, eval_every=2, minutes=1.0)
    assert train_loop(Toy(), per_call, path).step == 6       # this invocation's minute is not


def test_a_state_for_another_codec_is_refused(tmp_path: Path):
    path = tmp_path / "last.pt"
    train_loop(Toy(), LoopSettings(max_steps=1, eval_every=1), path, codec_sha256="a" * 64)
    with pytest.raises(SystemExit, match="another codec checkpoint"):
        train_loop(Toy(), SETTINGS, path, codec_sha256="b" * 64)


def test_not_a_state_is_one_line(tmp_path: Path):
    path = tmp_path / "last.pt"
    torch.save({"weights": 1}, path)
    with pytest.raises(BenchError, match="not a resumable training state"):
        train_loop(Toy(), SETTINGS, path)


def test_the_separator_rate_decays_by_whichever_budget_runs_out_first():
    """A clock-stopped run (a GPU lease) must end at the floor rate, not be cut off at its peak."""
    from bench.baselines.separators.trainer import SCHEDULES, lr_at

    schedule = SCHEDULES["small"]
    peak, floor = schedule.lr, 0.05 * schedule.lr
    # far from its step budget, the clock alone sets the cosine: half-way -> the mid rate, spent -> the floor
    assert lr_at(schedule.warmup, schedule, time_fraction=0.0) == pytest.approx(peak)
    assert lr_at(schedule.warmup, schedule, time_fraction=0.5) == pytest.approx((peak + floor) / 2)
    assert lr_at(schedule.warmup, schedule, time_fraction=1.0) == pytest.approx(floor)
    # steps further along than the clock still win
    late = schedule.warmup + (schedule.steps - schedule.warmup) // 2
    assert lr_at(late, schedule, time_fraction=0.1) == pytest.approx((peak + floor) / 2, rel=1e-3)
