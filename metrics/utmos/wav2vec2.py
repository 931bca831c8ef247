"""wav2vec 2.0 (base) as fairseq defines it, for inference only: UTMOS22's SSL front end.

Written from the fairseq architecture (Baevski et al. 2020; fairseq ``Wav2Vec2Model``
with ``extractor_mode="default"``, post-norm transformer, ``features_only``) so that
fairseq checkpoints and their converted copies load by parameter name:

* feature encoder: 7 bias-free 1-D convolutions (512 channels; kernels 10,3,3,3,3,2,2;
  strides 5,2,2,2,2,2,2), GroupNorm (one group per channel) after the first, GELU;
* LayerNorm, linear projection 512 -> 768;
* relative positional convolution (kernel 128, 16 groups, weight norm over dim 2,
  last frame dropped), added, then LayerNorm (post-norm variant);
* the sequence padded to an even length with the pad frame masked as a key, 12
  post-norm transformer layers (12 heads, FFN 3072, GELU), padding removed.

Sizes are constructor arguments so tests can build tiny models with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BASE_CONV_LAYERS: tuple[tuple[int, int, int], ...] = ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2


@dataclass(frozen=True)
class Wav2Vec2Config:
    conv_layers: tuple[tuple[int, int, int], ...] = BASE_CONV_LAYERS  # (channels, kernel, stride)
    embed_dim: int = 768
    ffn_dim: int = 3072
    num_layers: int = 12
    num_heads: int = 12
    pos_conv_kernel: int = 128
    pos_conv_groups: int = 16


class _ConvBlock(nn.Sequential):
    """conv, (dropout placeholder), [GroupNorm], GELU: indices match fairseq's parameter names."""

    def __init__(self, n_in: int, n_out: int, kernel: int, stride: int, group_norm: bool) -> None:
        layers: list[nn.Module] = [nn.Conv1d(n_in, n_out, kernel, stride=stride, bias=False), nn.Identity()]
        if group_norm:
            layers.append(nn.GroupNorm(n_out, n_out, affine=True))
        layers.append(nn.GELU())
        super().__init__(*layers)


class FeatureEncoder(nn.Module):
    def __init__(self, conv_layers: Sequence[tuple[int, int, int]]) -> None:
        super().__init__()
        blocks, n_in = [], 1
        for i, (dim, kernel, stride) in enumerate(conv_layers):
            blocks.append(_ConvBlock(n_in, dim, kernel, stride, group_norm=i == 0))
            n_in = dim
        self.conv_layers = nn.ModuleList(blocks)

    def forward(self, wave: Tensor) -> Tensor:
        """[B, T] -> [B, C, frames]"""
        x = wave.unsqueeze(1)
        for block in self.conv_layers:
            x = block(x)
        return x


class WeightNormConv1d(nn.Module):
    """Conv1d with weight = g * v / ||v|| (norm over all dims but 2), stored as fairseq stores it."""

    def __init__(self, dim: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.empty(dim, dim // groups, kernel))
        self.bias = nn.Parameter(torch.zeros(dim))
        nn.init.normal_(self.weight_v, std=0.02)
        self.padding = kernel // 2
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        norm = self.weight_v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
        weight = self.weight_g * self.weight_v / norm
        return F.conv1d(x, weight, self.bias, padding=self.padding, groups=self.groups)


class _PosConv(nn.Module):
    """Indexed like fairseq's ``Sequential(conv, SamePad, GELU)``: parameters under ``0.``."""

    def __init__(self, dim: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.add_module("0", WeightNormConv1d(dim, kernel, groups))
        self.trim = 1 if kernel % 2 == 0 else 0

    def forward(self, x: Tensor) -> Tensor:
        x = getattr(self, "0")(x)
        if self.trim:
            x = x[:, :, :-self.trim]
        return F.gelu(x)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.num_heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, key_padding: Tensor | None) -> Tensor:
        """[B, T, C] -> [B, T, C]; ``key_padding`` [B, T] is True where a frame is padding."""
        b, t, c = x.shape
        h = self.num_heads

        def split(y: Tensor) -> Tensor:
            return y.view(b, t, h, c // h).transpose(1, 2)

        mask = None
        if key_padding is not None:
            mask = torch.zeros(b, 1, 1, t, dtype=x.dtype, device=x.device)
            mask = mask.masked_fill(key_padding[:, None, None, :], float("-inf"))
        y = F.scaled_dot_product_attention(split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x)),
                                           attn_mask=mask)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, c))


class EncoderLayer(nn.Module):
    """Post-norm transformer layer (``layer_norm_first=False``)."""

    def __init__(self, dim: int, ffn_dim: int, heads: int) -> None:
        super().__init__()
        self.self_attn = SelfAttention(dim, heads)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, key_padding: Tensor | None) -> Tensor:
        x = self.self_attn_layer_norm(x + self.self_attn(x, key_padding))
        return self.final_layer_norm(x + self.fc2(F.gelu(self.fc1(x))))


class TransformerEncoder(nn.Module):
    def __init__(self, cfg: Wav2Vec2Config) -> None:
        super().__init__()
        self.pos_conv = _PosConv(cfg.embed_dim, cfg.pos_conv_kernel, cfg.pos_conv_groups)
        self.layer_norm = nn.LayerNorm(cfg.embed_dim)
        self.layers = nn.ModuleList(EncoderLayer(cfg.embed_dim, cfg.ffn_dim, cfg.num_heads)
                                    for _ in range(cfg.num_layers))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.pos_conv(x.transpose(1, 2)).transpose(1, 2)
        x = self.layer_norm(x)
        # fairseq pads to a multiple of 2 frames and masks the pad as a key
        pad = x.shape[1] % 2
        key_padding = None
        if pad:
            x = F.pad(x, (0, 0, 0, pad))
            key_padding = torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)
            key_padding[:, -pad:] = True
        for layer in self.layers:
            x = layer(x, key_padding)
        return x[:, :x.shape[1] - pad]


class Wav2Vec2(nn.Module):
    """wav2vec 2.0 context features [B, frames, embed_dim] of 16 kHz audio [B, T] (no masking)."""

    def __init__(self, cfg: Wav2Vec2Config = Wav2Vec2Config()) -> None:
        super().__init__()
        conv_dim = cfg.conv_layers[-1][0]
        self.feature_extractor = FeatureEncoder(cfg.conv_layers)
        self.layer_norm = nn.LayerNorm(conv_dim)
        self.post_extract_proj = nn.Linear(conv_dim, cfg.embed_dim)
        self.encoder = TransformerEncoder(cfg)
        self.mask_emb = nn.Parameter(torch.zeros(cfg.embed_dim))  # unused at inference; kept for loading

    def forward(self, wave: Tensor) -> Tensor:
        features = self.feature_extractor(wave).transpose(1, 2)
        features = self.post_extract_proj(self.layer_norm(features))
        return self.encoder(features)
