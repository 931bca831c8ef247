"""Inference for TokenSplit and TokenSplitRefine: tokens in, sampled tokens out, codec decoder to waves.

Any input length runs as 3 s blocks with partial-overlap decoding (:mod:`blocks`):
each block's acoustic (and semantic) output streams are prompted with the previous
block's last second; transcripts are not prompted (Section 4.4).  Several
"conditions" (the two passes of target / non-target transcript conditioning, or the
two sources of TokenSplitRefine) run as one batch through the sampler.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from bench.systems.tokensplit.blocks import make_plan, prompt, stitch
from bench.systems.tokensplit.model import TokenSplitModel
from bench.systems.tokensplit.sequences import SequenceBuilder

#: the transcripts (W1, W2) a condition puts in the input for the block starting at a given sample
Slots = Callable[[int], tuple["str | None", "str | None"]]


class TokenSplitInference:
    """A trained TokenSplit(Refine) model with the codec that made its tokens."""

    def __init__(self, model: TokenSplitModel, frames: int, codec, device: str = "cpu", temperature: float = 1.0,
                 top_k: int = 0, semantic=None) -> None:
        self.model, self.codec, self.device = model.to(device).eval(), codec, torch.device(device)
        self.cfg = model.cfg
        self.temperature, self.top_k, self.semantic = temperature, top_k, semantic
        self.builder = SequenceBuilder(self.cfg, frames)
        self.allowed = self.builder.output_layout.allowed(self.builder.vocab).to(self.device)
        rate = self.cfg.sample_rate
        block = int(round(self.cfg.block_seconds * rate))
        hop = int(round((self.cfg.block_seconds - self.cfg.overlap_seconds) * rate))
        self.plan = make_plan(block, hop, codec.model.cfg.samples_per_frame, frames)
        if self.cfg.semantic_vocab > 0 and semantic is None:
            raise ValueError("this TokenSplit model was trained with semantic tokens: give its semantic tokenizer")

    def _codes(self, wave: np.ndarray, levels: int) -> torch.Tensor:
        return self.codec.encode_tokens(np.asarray(wave, dtype=np.float32), levels).cpu()

    def _sample(self, inputs: torch.Tensor, forced: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.model.generate(inputs.to(self.device), self.allowed, forced.to(self.device),
                                   temperature=self.temperature, top_k=self.top_k, generator=generator).cpu()

    def _decode(self, codes: list[torch.Tensor], num_samples: int) -> np.ndarray:
        """Waves [len(codes), T] from stitched codes [Q'', F] (the codec's first Q'' stages)."""
        tokens = torch.stack(codes).to(self.codec.device)
        with torch.no_grad():
            waves = self.codec.model.decode_tokens(tokens, num_samples)
        out = np.zeros((len(codes), num_samples), dtype=np.float32)
        out[:, : waves.shape[-1]] = waves.cpu().numpy()[:, :num_samples]
        return out

    def separate(self, mixture: np.ndarray, conditions: Sequence[Slots], generator: torch.Generator
                 ) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[str, str]]]:
        """Per condition: (wave of A1, wave of A2) and the predicted transcripts (W1, W2)."""
        n = len(conditions)
        layout = self.builder.output_layout
        streams = [s for s in layout.streams if s.kind in ("acoustic", "semantic")]
        previous: dict[str, torch.Tensor] | None = None
        blocks: dict[str, list[torch.Tensor]] = {"A1": [], "A2": []}
        texts = [["", ""] for _ in range(n)]
        for start in self.plan.starts(len(mixture)):
            piece = self.plan.cut(mixture, start)
            mix_codes = self._codes(piece, self.cfg.input_levels)
            s_mix = self.semantic(torch.from_numpy(piece)[None])[0] if self.semantic is not None else None
            inputs = torch.stack([self.builder.tokensplit_input(*slots(start), mix_codes, s_mix) for slots in conditions])
            forced = torch.full((n, layout.length), -1, dtype=torch.long)
            if previous is not None:                            # eq. (5) outputs prompted with the last 1 s
                for s in streams:
                    sl = layout.slices[s.name]
                    frames_per_block = s.length // s.levels
                    overlap = self._overlap(frames_per_block)
                    hop = frames_per_block - overlap
                    forced[:, sl.start:sl.start + overlap * s.levels] = previous[s.name][:, hop * s.levels:]
            out = self._sample(inputs, forced, generator)
            previous = {s.name: out[:, layout.slices[s.name]] for s in streams}
            parsed = [self.builder.parse_output(out[c]) for c in range(n)]
            for c in range(n):
                for k, name in enumerate(("W1", "W2")):
                    texts[c][k] = " ".join(t for t in (texts[c][k], parsed[c][name]) if t)
            for name in ("A1", "A2"):
                blocks[name].append(torch.stack([parsed[c][name] for c in range(n)]))
        codes = {name: stitch(per_block, self.plan) for name, per_block in blocks.items()}   # [n, Q'', F]
        waves1 = self._decode(list(codes["A1"]), len(mixture))
        waves2 = self._decode(list(codes["A2"]), len(mixture))
        return [(waves1[c], waves2[c]) for c in range(n)], [tuple(t) for t in texts]

    def _overlap(self, frames_per_block: int) -> int:
        """Prompt length of a stream: the acoustic plan's overlap, scaled for semantic frame rates."""
        if frames_per_block == self.plan.block_frames:
            return self.plan.overlap_frames
        return int(round(frames_per_block * self.cfg.overlap_seconds / self.cfg.block_seconds))

    def refine(self, mixture: np.ndarray, estimates: np.ndarray, transcripts: Callable[[int, int], "str | None"],
               generator: torch.Generator) -> np.ndarray:
        """TokenSplitRefine: refined waves [S, T] of a separator's estimates [S, T] (one condition per source)."""
        layout = self.builder.output_layout
        n = estimates.shape[0]
        previous = None
        per_block: list[torch.Tensor] = []
        sl = layout.slices["A"]
        q = self.cfg.output_levels
        for start in self.plan.starts(len(mixture)):
            mix_codes = self._codes(self.plan.cut(mixture, start), self.cfg.input_levels)
            inputs = torch.stack([
                self.builder.refine_input(transcripts(i, start), mix_codes,
                                          self._codes(self.plan.cut(estimates[i], start), self.cfg.input_levels))
                for i in range(n)])
            forced = torch.full((n, layout.length), -1, dtype=torch.long)
            if previous is not None:
                forced[:, sl] = prompt(previous, self.plan, q)
            out = self._sample(inputs, forced, generator)
            previous = out[:, sl]
            per_block.append(torch.stack([self.builder.vocab.codes(out[i, sl], q) for i in range(n)]))
        return self._decode(list(stitch(per_block, self.plan)), len(mixture))
