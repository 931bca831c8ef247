"""Residual vector quantiser (RVQ) with EMA codebooks, dead-code restarts and quantiser dropout.

Notation (CodeSep/MDCTCodec): N VQs, the n-th with codebook
W_n = {w_{n,m} in R^K | m = 1..M}.  Stage n quantises the residual left by stages
1..n-1:  r_1 = z,  d_n = argmin_m ||r_n - w_{n,m}||,  r_{n+1} = r_n - w_{n,d_n},
and the decoder sees  z_q = sum_{n<=N'} w_{n,d_n}  for the N' stages transmitted.
Training with quantiser dropout (N' drawn per item) makes every prefix 1..N a
usable codec, so one model serves 0.5 ... N * 0.5 kbps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class EMAVectorQuantizer(nn.Module):
    """One VQ stage: codebook W_n [M, K] updated by exponential moving averages (k-means online).

    EMA updates need no codebook loss and are robust on small batches; codes unused
    for long are restarted on random residuals of the current batch so the whole
    codebook (all 10 bits) stays in use.

    "Unused for long" is *relative*: a code is dead when its EMA count falls below
    ``dead_ratio`` times the mean count. An absolute threshold (the previous 0.5)
    silently broke small-batch training: with ~400 vectors per step over M = 1024
    codes the mean count itself is ~0.4, so almost every code was "dead" and
    re-drawn at every step, and the codebooks never converged (the reason the
    first codec stopped improving after 2-4 stages).
    """

    def __init__(self, codebook_size: int, dim: int, decay: float = 0.99, dead_ratio: float = 0.03,
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.codebook_size, self.dim, self.decay, self.dead_ratio, self.eps = (
            codebook_size, dim, decay, dead_ratio, eps)
        self.register_buffer("codebook", torch.randn(codebook_size, dim) * 0.01)
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("embed_sum", self.codebook.clone())
        self.register_buffer("initialised", torch.tensor(False))

    @torch.no_grad()
    def restore_embed_sum(self) -> None:
        """Rebuild the EMA sums from codebook and counts (the inverse of the normalisation in :meth:`update`)."""
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.codebook_size * self.eps) * total
        self.embed_sum.copy_(self.codebook * smoothed[:, None])

    def encode(self, r: torch.Tensor) -> torch.Tensor:
        """d = argmin_m ||r - w_m||^2 for r [..., K] -> [...] (int64)."""
        flat = r.reshape(-1, self.dim)
        dist = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t()
                + self.codebook.pow(2).sum(1)[None, :])
        return dist.argmin(dim=1).reshape(r.shape[:-1])

    def lookup(self, d: torch.Tensor) -> torch.Tensor:
        """w_{d}: [...] -> [..., K]."""
        return F.embedding(d, self.codebook)

    @torch.no_grad()
    def initialise(self, r: torch.Tensor) -> None:
        """Data-dependent start: codevectors are random residuals of the first batch."""
        if bool(self.initialised) or r.shape[0] == 0:
            return
        picks = r[torch.randint(0, r.shape[0], (self.codebook_size,), device=r.device)]
        self.codebook.copy_(picks)
        self.embed_sum.copy_(picks)
        self.cluster_size.fill_(1.0)
        self.initialised.fill_(True)

    @torch.no_grad()
    def update(self, r: torch.Tensor, d: torch.Tensor) -> None:
        """One EMA step on the residual vectors r [P, K] assigned to codes d [P]."""
        if r.shape[0] == 0:
            return
        onehot = F.one_hot(d, self.codebook_size).type(r.dtype)                     # [P, M]
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)  # n_m
        self.embed_sum.mul_(self.decay).add_(onehot.t() @ r, alpha=1 - self.decay)    # sum of r assigned to m
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.codebook_size * self.eps) * total
        self.codebook.copy_(self.embed_sum / smoothed[:, None])
        mean_count = total / self.codebook_size
        dead = self.cluster_size < self.dead_ratio * mean_count
        n_dead = int(dead.sum())
        if n_dead:
            picks = r[torch.randint(0, r.shape[0], (n_dead,), device=r.device)]
            self.codebook[dead] = picks
            self.embed_sum[dead] = picks * mean_count
            self.cluster_size[dead] = mean_count


class ResidualVQ(nn.Module):
    """N stages of :class:`EMAVectorQuantizer`; ``forward`` is the training path."""

    def __init__(self, num_stages: int, codebook_size: int, dim: int, decay: float = 0.99,
                 dropout_prob: float = 0.5) -> None:
        super().__init__()
        self.num_stages, self.codebook_size, self.dim = num_stages, codebook_size, dim
        self.dropout_prob = dropout_prob
        self.stages = nn.ModuleList(EMAVectorQuantizer(codebook_size, dim, decay) for _ in range(num_stages))

    @torch.no_grad()
    def encode(self, z: torch.Tensor, num_stages: int | None = None) -> torch.Tensor:
        """z [B, T, K] -> tokens d [B, N', T] for the first N' stages."""
        r, tokens = z, []
        for vq in self.stages[: num_stages or self.num_stages]:
            d = vq.encode(r)
            r = r - vq.lookup(d)
            tokens.append(d)
        return torch.stack(tokens, dim=1)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, N', T] -> z_q = sum_n w_{n, d_n}: [B, T, K]."""
        return sum(self.stages[n].lookup(tokens[:, n]) for n in range(tokens.shape[1]))

    def forward(self, z: torch.Tensor, num_stages: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantise z [B, T, K] with per-item stage counts N'_b (quantiser dropout in training).

        Returns the straight-through z_q [B, T, K], tokens [B, N, T] and the
        commitment loss  mean_n ||r_n - sg(w_{n,d_n})||^2  over the stages each item used.
        """
        batch = z.shape[0]
        if num_stages is None:
            num_stages = torch.full((batch,), self.num_stages, device=z.device)
        r = z
        quantised = torch.zeros_like(z)
        commit = z.new_zeros(())
        tokens = []
        for n, vq in enumerate(self.stages):
            active = (num_stages > n)                                      # [B]
            mask = active[:, None, None].type(z.dtype)
            if self.training:
                vq.initialise(r.detach()[active].reshape(-1, self.dim))
            d = vq.encode(r.detach())
            if self.training:
                vq.update(r.detach()[active].reshape(-1, self.dim), d[active].reshape(-1))
            q = vq.lookup(d)                         # after the EMA step: the vectors the decoder will use
            # averaged (not summed) over stages: a summed loss pressures the encoder into latents
            # that stage 1 alone already quantises well, leaving nothing for later stages to add
            commit = commit + (mask * (r - q.detach()).pow(2)).sum() / (mask.sum() * z.shape[1] * self.dim + 1e-8) \
                / self.num_stages
            quantised = quantised + mask * q
            r = r - q.detach()
            tokens.append(d)
        z_q = z + (quantised - z).detach()                                 # straight-through estimator
        return z_q, torch.stack(tokens, dim=1), commit

    def sample_stages(self, batch: int, device: torch.device, generator: torch.Generator | None = None
                      ) -> torch.Tensor:
        """Quantiser dropout: N'_b ~ U{1..N} with probability p, else N."""
        drawn = torch.randint(1, self.num_stages + 1, (batch,), generator=generator).to(device)
        keep_all = torch.rand(batch, generator=generator).to(device) >= self.dropout_prob
        return torch.where(keep_all, torch.full_like(drawn, self.num_stages), drawn)
