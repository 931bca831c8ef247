"""ConvNeXt v2 blocks over time (1-D), the backbone of MDCTCodec's encoder and decoder.

A block is: depthwise conv (k=7) -> LayerNorm -> pointwise expand (x4) -> GELU ->
GRN -> pointwise project, added to the input.  GRN (global response
normalisation, ConvNeXt v2) rescales each channel by its L2 energy over time
relative to the channel mean, which keeps expanded channels from collapsing.
"""

from __future__ import annotations

import torch
from torch import nn


class GRN(nn.Module):
    """Global response normalisation on [B, T, C]: x + gamma * x * (G(x) / mean_c G(x)) + beta."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, channels))
        self.beta = nn.Parameter(torch.zeros(1, 1, channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        energy = x.norm(p=2, dim=1, keepdim=True)                  # G(x): per channel, over time
        relative = energy / (energy.mean(dim=-1, keepdim=True) + self.eps)
        return x + self.gamma * (x * relative) + self.beta


class ConvNeXtV2Block(nn.Module):
    """One residual ConvNeXt v2 block on [B, C, T]."""

    def __init__(self, channels: int, expansion: int = 4, kernel_size: int = 7) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.pw1 = nn.Linear(channels, expansion * channels)
        self.act = nn.GELU()
        self.grn = GRN(expansion * channels)
        self.pw2 = nn.Linear(expansion * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x).transpose(1, 2)                            # [B, T, C]
        h = self.pw2(self.grn(self.act(self.pw1(self.norm(h)))))
        return x + h.transpose(1, 2)


def stack(channels: int, depth: int) -> nn.Sequential:
    return nn.Sequential(*[ConvNeXtV2Block(channels) for _ in range(depth)])
