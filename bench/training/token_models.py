"""What CodeSep's and TokenSplit's trainers share on top of the loop: both model a codec's tokens.

The learning rate warms up linearly, then decays along a cosine to 10 % at ``max_steps`` or
at the end of the ``--minutes`` budget, whichever comes first (the budget counts every
invocation of the run); checkpoints are ranked by the dev accuracy (the training accuracy
without a dev split); ``<work>/log.jsonl`` gets one line per ``log_every`` steps (means
since the last checkpoint) and one per checkpoint; the state is tied to the codec's hash.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.training import console_logger, warmup_cosine
from bench.training.loop import LoopSettings, StepReport, Trainee, train_loop


class TokenModelTrainee(Trainee):
    """A token model; subclasses set ``model`` and ``optimiser``, write :meth:`loss` and :meth:`export_weights`."""

    def __init__(self, schedule: Any, work: Path, logger: logging.Logger) -> None:
        """``schedule`` has ``learning_rate``, ``warmup_steps``, ``max_steps``, ``eval_every`` and ``log_every``."""
        self.schedule, self.log_path, self.logger = schedule, work / "log.jsonl", logger
        self.last_record: dict[str, Any] = {}

    def learning_rate(self, step: int, time_fraction: float) -> float:
        s = self.schedule
        return s.learning_rate * warmup_cosine(step, s.warmup_steps, s.max_steps, time_fraction)

    def record(self, report: StepReport) -> dict[str, Any]:
        """A checkpoint's line: step, minutes trained, training means since the last one, dev scores."""
        return {"step": report.step, "minutes": round(report.seconds / 60, 2),
                **{k: round(v, 4) for k, v in report.means.items()}, **(report.scores or {})}

    def score(self, report: StepReport) -> float:
        return (report.scores or {}).get("dev_acc", self.record(report).get("acc", 0.0))

    def export(self, report: StepReport) -> None:
        self.export_weights(self.record(report))

    def export_weights(self, record: dict[str, Any]) -> None:
        """Write the weights, with ``record`` as the best checkpoint's scores."""
        raise NotImplementedError

    def log(self, report: StepReport) -> None:
        if report.step % self.schedule.log_every == 0:
            line = {"step": report.step, "minutes": round(report.seconds / 60, 2),
                    **{k: round(v, 4) for k, v in report.means.items()}}
            self._write(line)
            self.logger.info("train %s", json.dumps(line))
        if report.scores is not None:
            self.last_record = record = self.record(report)
            self._write({"eval": True, "final": report.final, **record})
            self.logger.info("eval %s", json.dumps(record))

    def _write(self, line: dict[str, Any]) -> None:
        with open(self.log_path, "a") as handle:
            handle.write(json.dumps(line) + "\n")


def train_token_model(opts: Any, build: Callable[[Any, str], TokenModelTrainee],
                      logger: logging.Logger) -> dict[str, Any]:
    """Set up (console log, threads, seed, work folder, the codec and its hash), ``build(codec, codec_sha256)``
    the trainee and run (or resume) the loop over ``<work>/last.pt``; returns the last checkpoint's record.

    ``opts`` has ``threads``, ``seed``, ``work``, ``codec_checkpoint``, ``device``, ``minutes`` and ``command``.
    """
    import torch

    from bench.baselines.codecs.mdct_rvq.checkpoint import codec_sha256
    from bench.baselines.codecs.mdct_rvq.codec import MDCTRVQCodec

    console_logger(logger.name)
    torch.set_num_threads(max(1, opts.threads))
    torch.manual_seed(opts.seed)
    opts.work.mkdir(parents=True, exist_ok=True)
    codec = MDCTRVQCodec(opts.codec_checkpoint, device=opts.device)
    digest = codec_sha256(codec.checkpoint)
    trainee = build(codec, digest)
    s = trainee.schedule
    settings = LoopSettings(max_steps=s.max_steps, eval_every=s.eval_every, clip=1.0, minutes=opts.minutes,
                            minutes_span_resumptions=True)
    result = train_loop(trainee, settings, opts.work / "last.pt", command=opts.command, codec_sha256=digest,
                        log=trainee.logger)
    return trainee.last_record or {"step": result.step}
