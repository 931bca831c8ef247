"""TokenSplit's single vocabulary and the fixed layouts of its input and output sequences.

Section 3.2: every kind of token is shifted into its own range of one vocabulary
("made separate and unique") and a separator token sits between streams.  Ranges:

    0 mask | 1 separator | 2 BOS | 3 EOS | transcript bytes (256) | semantic (K) |
    acoustic level 1 (M) | acoustic level 2 (M) | ...

Acoustic tokens [Q, F] are flattened frame-major (all levels of frame 1, then of
frame 2, ...), as coarse-token streams are in AudioLM.  Because the blocks are a
fixed 3 s, every sequence has a fixed layout (:class:`SequenceLayout`): each
position's stream and level is known, which gives exact parsing of the output
order (A1, A2, [S1, S2,] W1, W2 for TokenSplit; A for TokenSplitRefine) and the
set of tokens the decoder may emit at each position.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MASK, SEP, BOS, EOS = 0, 1, 2, 3
NUM_SPECIAL = 4
#: byte values a predicted transcript may use (printable ASCII; ASR text is lower-cased ASCII)
PRINTABLE = (32, 127)


@dataclass(frozen=True)
class Vocabulary:
    """Offsets of each token kind; ``levels`` acoustic ranges of ``codebook_size`` each."""

    transcript_vocab: int = 256
    semantic_vocab: int = 0
    codebook_size: int = 1024
    levels: int = 2

    @property
    def transcript_offset(self) -> int:
        return NUM_SPECIAL

    @property
    def semantic_offset(self) -> int:
        return self.transcript_offset + self.transcript_vocab

    @property
    def acoustic_offset(self) -> int:
        return self.semantic_offset + self.semantic_vocab

    @property
    def size(self) -> int:
        return self.acoustic_offset + self.levels * self.codebook_size

    # -- transcripts ----------------------------------------------------------------------------
    def transcript(self, text: str | None, length: int) -> torch.Tensor:
        """Characters (bytes of the lower-cased ASCII text) shifted into range, padded with mask to ``length``."""
        data = (text or "").lower().encode("ascii", "ignore")[:length]
        out = torch.full((length,), MASK, dtype=torch.long)
        if data:
            out[: len(data)] = torch.tensor(list(data), dtype=torch.long) + self.transcript_offset
        return out

    def text(self, tokens: torch.Tensor) -> str:
        """Inverse of :meth:`transcript`: tokens outside the transcript range (mask, separators) are dropped."""
        values = [int(t) - self.transcript_offset for t in tokens.tolist()]
        chars = bytes(v for v in values if 0 <= v < min(self.transcript_vocab, 128))
        return " ".join(chars.decode("ascii").split())

    # -- semantic tokens --------------------------------------------------------------------------
    def semantic(self, clusters: torch.Tensor) -> torch.Tensor:
        if self.semantic_vocab <= 0:
            raise ValueError("this vocabulary has no semantic range")
        return clusters.long() + self.semantic_offset

    def semantic_clusters(self, tokens: torch.Tensor) -> torch.Tensor:
        return (tokens - self.semantic_offset).clamp(0, max(0, self.semantic_vocab - 1))

    # -- acoustic tokens --------------------------------------------------------------------------
    def acoustic(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes [Q, F] (level q in 0..levels-1) -> frame-major shifted tokens [F * Q]."""
        q = codes.shape[0]
        if q > self.levels:
            raise ValueError(f"{q} acoustic levels given, the vocabulary has {self.levels}")
        shift = self.acoustic_offset + torch.arange(q, device=codes.device)[:, None] * self.codebook_size
        return (codes.long() + shift).t().reshape(-1)

    def codes(self, tokens: torch.Tensor, levels: int) -> torch.Tensor:
        """Inverse of :meth:`acoustic`: [F * Q] -> codes [Q, F] (out-of-range tokens clamp into the level)."""
        grid = tokens.reshape(-1, levels).t()
        shift = self.acoustic_offset + torch.arange(levels, device=tokens.device)[:, None] * self.codebook_size
        return (grid - shift).clamp(0, self.codebook_size - 1)


@dataclass(frozen=True)
class Stream:
    """One stream of a sequence: ``kind`` is transcript | semantic | acoustic | sep | eos."""

    name: str
    kind: str
    length: int
    levels: int = 1


class SequenceLayout:
    """Fixed order and lengths of the streams in one sequence, separators included."""

    def __init__(self, streams: list[Stream]) -> None:
        self.streams = streams
        self.slices: dict[str, slice] = {}
        start = 0
        for s in streams:
            if s.kind not in ("sep", "eos"):
                self.slices[s.name] = slice(start, start + s.length)
            start += s.length
        self.length = start

    def names(self) -> list[str]:
        return list(self.slices)

    def assemble(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate the named streams [..., length] with separator / EOS tokens in between."""
        pieces = []
        lead = next(iter(parts.values())).shape[:-1]
        device = next(iter(parts.values())).device
        for s in self.streams:
            if s.kind == "sep":
                pieces.append(torch.full((*lead, 1), SEP, dtype=torch.long, device=device))
            elif s.kind == "eos":
                pieces.append(torch.full((*lead, 1), EOS, dtype=torch.long, device=device))
            else:
                part = parts[s.name]
                if part.shape[-1] != s.length:
                    raise ValueError(f"stream {s.name} has {part.shape[-1]} tokens, the layout expects {s.length}")
                pieces.append(part.long())
        return torch.cat(pieces, dim=-1)

    def split(self, sequence: torch.Tensor) -> dict[str, torch.Tensor]:
        """The named streams of a sequence [..., length] (the output-order parsing)."""
        if sequence.shape[-1] != self.length:
            raise ValueError(f"sequence of {sequence.shape[-1]} tokens, the layout has {self.length}")
        return {name: sequence[..., sl] for name, sl in self.slices.items()}

    def allowed(self, vocab: Vocabulary) -> torch.Tensor:
        """[length, vocab.size] bool: which tokens may stand at each position (constrained decoding)."""
        table = torch.zeros(self.length, vocab.size, dtype=torch.bool)
        start = 0
        for s in self.streams:
            rows = slice(start, start + s.length)
            if s.kind == "sep":
                table[rows, SEP] = True
            elif s.kind == "eos":
                table[rows, EOS] = True
            elif s.kind == "transcript":
                table[rows, MASK] = True                       # padding
                lo, hi = PRINTABLE
                table[rows, vocab.transcript_offset + lo:vocab.transcript_offset + min(hi, vocab.transcript_vocab)] = True
            elif s.kind == "semantic":
                table[rows, vocab.semantic_offset:vocab.semantic_offset + vocab.semantic_vocab] = True
            elif s.kind == "acoustic":
                for q in range(s.levels):
                    lo = vocab.acoustic_offset + q * vocab.codebook_size
                    table[start + q:start + s.length:s.levels, lo:lo + vocab.codebook_size] = True
            start += s.length
        return table


def _sep() -> Stream:
    return Stream("sep", "sep", 1)


def tokensplit_layouts(frames: int, input_levels: int, output_levels: int, transcript_length: int,
                       semantic_frames: int = 0) -> tuple[SequenceLayout, SequenceLayout]:
    """Eq. (5): input [W1, W2, S_mix, A_mix^{<=Q'}] -> output [A_1^{<=Q''}, A_2, S_1, S_2, W_1, W_2]."""
    semantic = semantic_frames > 0
    inp = [Stream("W1", "transcript", transcript_length), _sep(), Stream("W2", "transcript", transcript_length), _sep()]
    if semantic:
        inp += [Stream("S_mix", "semantic", semantic_frames), _sep()]
    inp += [Stream("A_mix", "acoustic", frames * input_levels, input_levels)]
    out = [Stream("A1", "acoustic", frames * output_levels, output_levels), _sep(),
           Stream("A2", "acoustic", frames * output_levels, output_levels), _sep()]
    if semantic:
        out += [Stream("S1", "semantic", semantic_frames), _sep(), Stream("S2", "semantic", semantic_frames), _sep()]
    out += [Stream("W1", "transcript", transcript_length), _sep(), Stream("W2", "transcript", transcript_length),
            Stream("eos", "eos", 1)]
    return SequenceLayout(inp), SequenceLayout(out)


def refine_layouts(frames: int, input_levels: int, output_levels: int, transcript_length: int
                   ) -> tuple[SequenceLayout, SequenceLayout]:
    """Section 3.4, per source: [W, A_mix, A_est] -> [A] (no semantic tokens, as in the paper)."""
    inp = [Stream("W", "transcript", transcript_length), _sep(),
           Stream("A_mix", "acoustic", frames * input_levels, input_levels), _sep(),
           Stream("A_est", "acoustic", frames * input_levels, input_levels)]
    out = [Stream("A", "acoustic", frames * output_levels, output_levels), Stream("eos", "eos", 1)]
    return SequenceLayout(inp), SequenceLayout(out)
