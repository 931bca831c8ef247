"""CodeSep's training objectives: PI-CE for the BTDM (eq. 3), TF-CE for the ATSP (eq. 6)."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F


def pairwise_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """ce[b, i, j] = mean over frames of -ln p_base^(i)[d_1^(j)]:  logits [B, S, F, M], targets [B, S, F]."""
    b, s, f, m = logits.shape
    logp = F.log_softmax(logits.float(), dim=-1)                                   # [B, S, F, M]
    idx = targets[:, None, :, :, None].expand(b, s, s, f, 1)                       # [B, i, j, F, 1]
    picked = logp[:, :, None].expand(b, s, s, f, m).gather(-1, idx)[..., 0]        # [B, i, j, F]
    return -picked.mean(dim=-1)


def pi_ce(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Permutation-invariant cross-entropy (eq. 3) and the best permutation per example.

    L = mean_b min_{pi in S_2} sum_i ce[b, i, pi(i)]; the minimum is taken per utterance
    (one speaker assignment for all its frames).  Returns (loss, perms [B, S]) where
    perms[b, i] = pi(i) is the target index matched to output i.
    """
    ce = pairwise_ce(logits, targets)                                              # [B, S, S]
    s = ce.shape[1]
    perms = torch.tensor(list(itertools.permutations(range(s))), device=ce.device)  # [P, S]
    rows = torch.arange(s, device=ce.device)
    totals = torch.stack([ce[:, rows, p].sum(dim=1) for p in perms], dim=1)        # [B, P]
    best, which = totals.min(dim=1)
    return best.mean(), perms[which]


def permuted_targets(targets: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """Targets reordered so target[b, i] belongs to output i under ``perms`` [B, S]."""
    return targets.gather(1, perms[:, :, None].expand_as(targets))


def tf_ce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Teacher-forcing cross-entropy (eq. 6): sum over n of mean -ln p~_aux,n[d_{n+1}].

    logits [B, N-1, F, M], targets d_2..d_N [B, N-1, F].
    """
    ce = F.cross_entropy(logits.float().flatten(0, 1).transpose(1, 2), targets.flatten(0, 1),
                         reduction="none")                                         # [B (N-1), F]
    return ce.mean(dim=-1).view(logits.shape[0], logits.shape[1]).mean(dim=0).sum()


def token_accuracy(predicted: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Share of equal tokens along the last axis, averaged over everything before it -> [...]."""
    return (predicted == targets).float().mean(dim=-1)
