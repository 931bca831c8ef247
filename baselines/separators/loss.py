"""Permutation-invariant SI-SNR, the Sepformer's training objective.

Separation outputs come in arbitrary order, so the loss takes the best assignment
of estimates to references per example (utterance-level PIT).
"""

from __future__ import annotations

from itertools import permutations

import torch

EPS = 1e-8


def si_snr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """SI-SNR in dB along the last axis, after removing each signal's mean."""
    estimate = estimate - estimate.mean(dim=-1, keepdim=True)
    reference = reference - reference.mean(dim=-1, keepdim=True)
    scale = (estimate * reference).sum(-1, keepdim=True) / (reference.pow(2).sum(-1, keepdim=True) + EPS)
    target = scale * reference
    noise = estimate - target
    return 10 * torch.log10((target.pow(2).sum(-1) + EPS) / (noise.pow(2).sum(-1) + EPS))


def pit_si_snr_loss(estimates: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Negative PIT SI-SNR averaged over the batch; ``estimates``/``references`` are [B, S, T]."""
    num = estimates.shape[1]
    scores = torch.stack([si_snr(estimates[:, list(perm)], references).mean(dim=1)
                          for perm in permutations(range(num))], dim=1)     # [B, S!]
    return -scores.max(dim=1).values.mean()
