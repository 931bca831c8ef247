"""MDCT analysis/synthesis in torch (the transform domain MDCTCodec codes in).

The MDCT of hop ``N`` maps 2N windowed samples to N coefficients; with a sine
window (Princen-Bradley condition w[n]^2 + w[n+N]^2 = 1) overlap-added inverse
frames cancel each other's time-domain aliasing (TDAC), so ``imdct(mdct(x)) == x``
up to float rounding.  Both directions are strided convolutions with a fixed
cosine basis, so they run batched on CPU or CUDA and are differentiable.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def mdct_basis(hop: int) -> torch.Tensor:
    """[N, 2N] windowed cosine basis, scaled so analysis and synthesis share it.

    X[k] = sqrt(2/N) * sum_n w[n] x[n] cos(pi/N (n + 1/2 + N/2)(k + 1/2)),  w[n] = sin(pi (n + 1/2) / 2N)
    """
    n = torch.arange(2 * hop, dtype=torch.float64)
    k = torch.arange(hop, dtype=torch.float64)
    window = torch.sin(math.pi * (n + 0.5) / (2 * hop))
    cosine = torch.cos(math.pi / hop * (n[None, :] + 0.5 + hop / 2) * (k[:, None] + 0.5))
    return (math.sqrt(2.0 / hop) * window[None, :] * cosine).float()


class MDCT(torch.nn.Module):
    """Sine-window MDCT with hop ``N``: wave [B, T] <-> coefficients [B, N, frames].

    ``frames = ceil(T / N) + 1``: the signal is padded by N zeros in front (so the
    first frame's aliasing is cancelled) and to a whole number of hops behind.
    """

    def __init__(self, hop: int) -> None:
        super().__init__()
        self.hop = hop
        self.register_buffer("basis", mdct_basis(hop)[:, None, :], persistent=False)

    def num_frames(self, num_samples: int) -> int:
        return math.ceil(num_samples / self.hop) + 1

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """[B, T] -> [B, N, ceil(T/N) + 1]."""
        hop = self.hop
        total = hop * self.num_frames(wave.shape[-1]) + hop  # front pad + whole hops + tail
        padded = F.pad(wave[:, None, :], (hop, total - hop - wave.shape[-1]))
        return F.conv1d(padded, self.basis, stride=hop)

    def inverse(self, coeffs: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """[B, N, frames] -> [B, T]; overlap-add of windowed frames cancels the aliasing."""
        wave = F.conv_transpose1d(coeffs, self.basis, stride=self.hop)[:, 0, self.hop:]
        if num_samples is not None:
            wave = wave[:, :num_samples]
        return wave
