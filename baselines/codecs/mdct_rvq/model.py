"""The MDCT-RVQ codec network (MDCTCodec-style, CodeSep's "plain neural speech codec").

x --MDCT--> X [160, F] --compress--> encoder (ConvNeXt v2, /2 in time) --> z [K, F/2]
  --RVQ (N stages, M codes)--> z_q = sum_n w_{n,d_n} --> decoder (ConvNeXt v2, x2)
  --> compressed X^ --expand--> iMDCT --> x^

Coefficients are power-law compressed, c = sign(X)|X|^(1/2), so quiet
high-frequency bins are not drowned by the low-frequency ones at the input and
in the MDCT-domain loss; the decoder predicts c^ and X^ = c^ |c^|.

With ``linear_path`` each side also has a linear map beside its ConvNeXt backbone:
z = E(c) + P c_2 (P projects the two MDCT frames of a token frame to K dims) and
c^ = D(z_q) + P' z_q.  Why: the backbones start with a per-frame channel LayerNorm,
which discards each frame's scale and sign pattern as a whole; a waveform-faithful
codec needs exactly that information, and a linear path (a learned transform code,
like a KLT of the MDCT frames) carries it from the first steps on, leaving the
backbones the nonlinear part.

With ``stage_conditioning`` the decoder also knows how many stages N' coded the latent:
a learned vector e[N'] is added to its first normalised feature map, h = LN(conv(z_q)) + e[N'].
Why: z_q from 2 stages is a coarse sketch whose best reconstruction is smoother than the
one for 16 stages; a decoder shared across rates without knowing N' must compromise
between them.  e is zero at initialisation, so a rate-blind decoder is the starting point
and a decoder-only fine-tune (encoder and codebooks frozen) keeps every token unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.baselines.codecs.mdct_rvq.config import ModelConfig
from bench.baselines.codecs.mdct_rvq.convnext import stack
from bench.baselines.codecs.mdct_rvq.mdct import MDCT
from bench.baselines.codecs.mdct_rvq.rvq import ResidualVQ


class ChannelNorm(nn.Module):
    """LayerNorm over channels of a [B, C, T] tensor."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


def compress(coeffs: torch.Tensor) -> torch.Tensor:
    return coeffs.sign() * coeffs.abs().clamp_min(1e-12).sqrt()


def expand(compressed: torch.Tensor) -> torch.Tensor:
    return compressed * compressed.abs()


class Encoder(nn.Module):
    """Compressed MDCT [B, hop, F] -> latent z [B, K, F / downsample]."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c, c2 = cfg.channels, cfg.latent_channels
        self.net = nn.Sequential(
            nn.Conv1d(cfg.hop, c, 7, padding=3), ChannelNorm(c), stack(c, cfg.encoder_depth[0]),
            ChannelNorm(c), nn.Conv1d(c, c2, 2 * cfg.downsample, stride=cfg.downsample,
                                      padding=cfg.downsample // 2),
            stack(c2, cfg.encoder_depth[1]), ChannelNorm(c2), nn.Conv1d(c2, cfg.codebook_dim, 1),
        )
        self.linear = (nn.Conv1d(cfg.hop, cfg.codebook_dim, cfg.downsample, stride=cfg.downsample, bias=False)
                       if cfg.linear_path else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)
        return z if self.linear is None else z + self.linear(x)


class Decoder(nn.Module):
    """Latent z_q [B, K, F'] -> compressed MDCT [B, hop, F' * downsample]."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c, c2 = cfg.channels, cfg.latent_channels
        self.cfg_num_stages = cfg.num_stages
        self.net = nn.Sequential(
            nn.Conv1d(cfg.codebook_dim, c2, 7, padding=3), ChannelNorm(c2), stack(c2, cfg.decoder_depth[0]),
            ChannelNorm(c2), nn.ConvTranspose1d(c2, c, cfg.downsample, stride=cfg.downsample),
            stack(c, cfg.decoder_depth[1]), ChannelNorm(c), nn.Conv1d(c, cfg.hop, 1),
        )
        self.linear = (nn.ConvTranspose1d(cfg.codebook_dim, cfg.hop, cfg.downsample, stride=cfg.downsample,
                                          bias=False) if cfg.linear_path else None)
        self.stage_embedding = None
        if cfg.stage_conditioning:
            # e[N'-1] [c2]; zero-initialised so that conditioning starts as a no-op
            self.stage_embedding = nn.Embedding(cfg.num_stages, c2)
            nn.init.zeros_(self.stage_embedding.weight)

    def forward(self, z: torch.Tensor, num_stages: torch.Tensor | int | None = None) -> torch.Tensor:
        """c^ for z_q; ``num_stages`` (N', an int or one per item) feeds the stage embedding."""
        if self.stage_embedding is None:
            c = self.net(z)
        else:
            count = self.cfg_num_stages if num_stages is None else num_stages
            stages = torch.as_tensor(count, device=z.device).long().reshape(-1).expand(z.shape[0])
            h = self.net[1](self.net[0](z)) + self.stage_embedding(stages - 1)[:, :, None]
            c = self.net[2:](h)
        return c if self.linear is None else c + self.linear(z)


class MDCTRVQModel(nn.Module):
    """Encoder + residual VQ + decoder around a fixed MDCT; waves are [B, T] at 16 kHz."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mdct = MDCT(cfg.hop)
        self.encoder = Encoder(cfg)
        self.quantizer = ResidualVQ(cfg.num_stages, cfg.codebook_size, cfg.codebook_dim, cfg.ema_decay,
                                    cfg.dropout_prob)
        self.decoder = Decoder(cfg)
        # G [N, hop]: the rate-dependent post-filter of :mod:`...mdct_rvq.postfilter` (None = none);
        # not persistent, so training states never carry it: an export does, under "post_gain"
        self.register_buffer("post_gain", None, persistent=False)
        # SHA-256s of earlier codec files whose tokens this model reproduces exactly (a decoder-only
        # fine-tune keeps the encoder and codebooks): token models trained on those still fit it
        self.tokens_of: tuple[str, ...] = ()

    # -- framing ----------------------------------------------------------------------------------
    def num_frames(self, num_samples: int) -> int:
        """Token frames for a wave of ``num_samples`` (MDCT frames ceil(T/hop)+1, rounded up to even)."""
        mdct_frames = self.mdct.num_frames(num_samples)
        return -(-mdct_frames // self.cfg.downsample)

    def padded_length(self, num_samples: int) -> int:
        """Samples to pad to so the MDCT frame count is a multiple of the downsampling factor."""
        return (self.num_frames(num_samples) * self.cfg.downsample - 1) * self.cfg.hop

    # -- coding path --------------------------------------------------------------------------------
    def latent(self, wave: torch.Tensor) -> torch.Tensor:
        """Encoder output z [B, K, frames] for waves [B, T]."""
        padded = nn.functional.pad(wave, (0, self.padded_length(wave.shape[-1]) - wave.shape[-1]))
        return self.encoder(compress(self.mdct(padded)))

    def decode_from_latent(self, z_q: torch.Tensor, num_samples: int | None = None,
                           num_stages: int | None = None) -> torch.Tensor:
        """x^ for a quantised latent z_q [B, K, frames] (a sum of ``num_stages`` codevectors).

        With a post-filter and a known ``num_stages`` N', bin k of X^ is scaled by G[N', k].
        """
        coeffs = expand(self.decoder(z_q, num_stages))
        if self.post_gain is not None and num_stages is not None:
            coeffs = coeffs * self.post_gain[num_stages - 1][None, :, None]
        return self.mdct.inverse(coeffs, num_samples)

    @torch.no_grad()
    def encode_tokens(self, wave: torch.Tensor, num_stages: int | None = None) -> torch.Tensor:
        """Tokens d [B, N', frames] (int64) of waves [B, T]."""
        return self.quantizer.encode(self.latent(wave).transpose(1, 2), num_stages)

    @torch.no_grad()
    def decode_tokens(self, tokens: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """Waves [B, T] from tokens [B, N', frames]."""
        return self.decode_from_latent(self.quantizer.decode(tokens).transpose(1, 2), num_samples,
                                       tokens.shape[1])

    def codebook(self, stage: int) -> torch.Tensor:
        """W_n [M, K] of the 0-based ``stage``."""
        return self.quantizer.stages[stage].codebook

    def forward(self, wave: torch.Tensor, num_stages: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training pass: (x^ [B, T], compressed MDCT prediction, its target, commitment loss)."""
        padded = nn.functional.pad(wave, (0, self.padded_length(wave.shape[-1]) - wave.shape[-1]))
        target = compress(self.mdct(padded))
        z = self.encoder(target)
        z_q, _, commit = self.quantizer(z.transpose(1, 2), num_stages)
        predicted = self.decoder(z_q.transpose(1, 2), num_stages)
        wave_hat = self.mdct.inverse(expand(predicted), wave.shape[-1])
        return wave_hat, predicted, target, commit
