"""Fixed 3 s blocks and partial-overlap decoding (Section 4.4) for inputs of any length.

Blocks of ``block`` samples start every ``hop`` = block - overlap samples (3 s and
2 s by default); the last block is zero-padded.  Each block's output streams are
prompted with the previous block's tokens over the overlap ("the last 1 s of the
previous block's output"), so the sources keep their order and their voice across
blocks; stitching keeps the first block whole and appends the new part of each
later block.  With the codec's frame rate, ``hop`` must be a whole number of codec
frames, so token frame f of block k+1 is frame f + hop_frames of block k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class BlockPlan:
    """Where the blocks of one input lie, in samples and in token frames."""

    block_samples: int
    hop_samples: int
    block_frames: int            # tokens per block and level (the codec's frames for one block)
    hop_frames: int              # token frames per hop

    @property
    def overlap_frames(self) -> int:
        """Frames of a block that repeat the previous block (the prompt)."""
        return self.block_frames - self.hop_frames

    def starts(self, num_samples: int) -> list[int]:
        """Block start samples: at least one block; the last one reaches the end."""
        count = 1 + max(0, math.ceil((num_samples - self.block_samples) / self.hop_samples))
        return [k * self.hop_samples for k in range(count)]

    def cut(self, wave: np.ndarray, start: int) -> np.ndarray:
        """Samples [start, start + block) of ``wave``, zero-padded at the end."""
        piece = np.zeros(self.block_samples, dtype=np.float32)
        chunk = np.asarray(wave[start:start + self.block_samples], dtype=np.float32)
        piece[: chunk.shape[-1]] = chunk
        return piece


def make_plan(block_samples: int, hop_samples: int, samples_per_frame: int, block_frames: int) -> BlockPlan:
    if hop_samples % samples_per_frame:
        raise ValueError(f"block hop of {hop_samples} samples is not a whole number of "
                         f"{samples_per_frame}-sample codec frames")
    hop_frames = hop_samples // samples_per_frame
    if not 0 < hop_frames <= block_frames:
        raise ValueError("block hop must be positive and no longer than the block")
    return BlockPlan(block_samples, hop_samples, block_frames, hop_frames)


def prompt(previous: torch.Tensor, plan: BlockPlan, levels: int = 1) -> torch.Tensor:
    """Forced tokens [..., block_frames * levels] (-1 = free): the previous block's last ``overlap`` frames first."""
    forced = torch.full((*previous.shape[:-1], plan.block_frames * levels), -1, dtype=torch.long)
    overlap = plan.overlap_frames * levels
    forced[..., :overlap] = previous[..., plan.hop_frames * levels:]
    return forced


def stitch(blocks: list[torch.Tensor], plan: BlockPlan) -> torch.Tensor:
    """Codes [Q, F_total] from per-block codes [Q, block_frames]: block 0 whole, then each block's new frames."""
    if not blocks:
        raise ValueError("nothing to stitch")
    parts = [blocks[0]] + [b[..., plan.overlap_frames:] for b in blocks[1:]]
    return torch.cat(parts, dim=-1)
