"""Building TokenSplit's input and target sequences from tokens and transcripts (eq. 5, Section 3.4)."""

from __future__ import annotations

import torch

from bench.systems.tokensplit.config import TokenSplitConfig
from bench.systems.tokensplit.vocab import SequenceLayout, Vocabulary, refine_layouts, tokensplit_layouts


class SequenceBuilder:
    """Vocabulary + the two layouts of one model, for blocks of ``frames`` codec frames."""

    def __init__(self, cfg: TokenSplitConfig, frames: int) -> None:
        self.cfg, self.frames = cfg, frames
        self.vocab = Vocabulary(cfg.transcript_vocab, cfg.semantic_vocab, cfg.codebook_size,
                                max(cfg.input_levels, cfg.output_levels))
        if cfg.refine:
            self.input_layout, self.output_layout = refine_layouts(
                frames, cfg.input_levels, cfg.output_levels, cfg.transcript_length)
        else:
            self.input_layout, self.output_layout = tokensplit_layouts(
                frames, cfg.input_levels, cfg.output_levels, cfg.transcript_length,
                cfg.semantic_frames if cfg.semantic_vocab > 0 else 0)

    @property
    def layouts(self) -> tuple[SequenceLayout, SequenceLayout]:
        return self.input_layout, self.output_layout

    def _w(self, text: str | None) -> torch.Tensor:
        return self.vocab.transcript(text, self.cfg.transcript_length)

    def _a(self, codes: torch.Tensor, levels: int) -> torch.Tensor:
        return self.vocab.acoustic(codes[:levels])

    # -- TokenSplit ---------------------------------------------------------------------------------
    def tokensplit_input(self, w1: str | None, w2: str | None, mixture_codes: torch.Tensor,
                         semantic_mixture: torch.Tensor | None = None) -> torch.Tensor:
        """[Mask(W1), Mask(W2), (S_mix,) A_mix^{<=Q'}]; a ``None`` transcript is masked."""
        parts = {"W1": self._w(w1), "W2": self._w(w2), "A_mix": self._a(mixture_codes, self.cfg.input_levels)}
        if "S_mix" in self.input_layout.slices:
            parts["S_mix"] = self.vocab.semantic(semantic_mixture)
        return self.input_layout.assemble(parts)

    def tokensplit_target(self, codes1: torch.Tensor, codes2: torch.Tensor, w1: str | None, w2: str | None,
                          semantic1: torch.Tensor | None = None, semantic2: torch.Tensor | None = None) -> torch.Tensor:
        """[A_1^{<=Q''}, A_2, (S_1, S_2,) W_1, W_2] - the paper's best output order."""
        q = self.cfg.output_levels
        parts = {"A1": self._a(codes1, q), "A2": self._a(codes2, q), "W1": self._w(w1), "W2": self._w(w2)}
        if "S1" in self.output_layout.slices:
            parts["S1"], parts["S2"] = self.vocab.semantic(semantic1), self.vocab.semantic(semantic2)
        return self.output_layout.assemble(parts)

    # -- TokenSplitRefine -----------------------------------------------------------------------------
    def refine_input(self, w: str | None, mixture_codes: torch.Tensor, estimate_codes: torch.Tensor) -> torch.Tensor:
        q = self.cfg.input_levels
        return self.input_layout.assemble({"W": self._w(w), "A_mix": self._a(mixture_codes, q),
                                           "A_est": self._a(estimate_codes, q)})

    def refine_target(self, codes: torch.Tensor) -> torch.Tensor:
        return self.output_layout.assemble({"A": self._a(codes, self.cfg.output_levels)})

    # -- parsing ------------------------------------------------------------------------------------------
    def parse_output(self, sequence: torch.Tensor) -> dict[str, object]:
        """Codes [Q'', F] per acoustic stream, clusters per semantic stream and text per transcript stream."""
        out: dict[str, object] = {}
        for stream in self.output_layout.streams:
            if stream.name not in self.output_layout.slices:
                continue
            tokens = sequence[self.output_layout.slices[stream.name]]
            if stream.kind == "acoustic":
                out[stream.name] = self.vocab.codes(tokens, stream.levels)
            elif stream.kind == "semantic":
                out[stream.name] = self.vocab.semantic_clusters(tokens)
            else:
                out[stream.name] = self.vocab.text(tokens)
        return out
