"""TokenSplit's encoder-decoder Transformer (Section 4.1) with cached autoregressive sampling.

Pre-LN Transformer layers; learned absolute position embeddings on both sides plus
learned relative position biases added to every self-attention matrix (T5-style
log-spaced distance buckets, one bias table per stack shared by its layers); the
token embedding is shared by encoder input, decoder input and the output softmax.

Inference (Section 4.1) samples autoregressively, the first token included ("the
model is clued about the target source to decode from the previous sampled
tokens"), restricted at each position to the tokens the output layout allows
there, and with optional forced tokens: the prompts of partial-overlap decoding
(Section 4.4) fix outputs "at certain positions in the output sequence".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bench.systems.tokensplit.config import TokenSplitConfig
from bench.systems.tokensplit.vocab import BOS


def relative_bucket(distance: torch.Tensor, bidirectional: bool, num_buckets: int, max_distance: int) -> torch.Tensor:
    """Bucket of key-minus-query offsets: exact for small |d|, log-spaced up to ``max_distance``."""
    buckets = torch.zeros_like(distance)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (distance > 0).long() * num_buckets
        magnitude = distance.abs()
    else:
        magnitude = (-distance).clamp_min(0)          # causal: only keys at or before the query
    exact = num_buckets // 2
    log_bucket = exact + (torch.log(magnitude.float().clamp_min(1) / exact) / math.log(max_distance / exact)
                          * (num_buckets - exact)).long()
    log_bucket = log_bucket.clamp_max(num_buckets - 1)
    return buckets + torch.where(magnitude < exact, magnitude, log_bucket)


class RelativePositionBias(nn.Module):
    """Learned bias b[h, bucket(k - q)] added to the attention logits of every layer of one stack."""

    def __init__(self, heads: int, num_buckets: int, max_distance: int, bidirectional: bool) -> None:
        super().__init__()
        self.num_buckets, self.max_distance, self.bidirectional = num_buckets, max_distance, bidirectional
        self.table = nn.Embedding(num_buckets, heads)

    def forward(self, query_positions: torch.Tensor, key_positions: torch.Tensor) -> torch.Tensor:
        """[1, H, Lq, Lk] bias."""
        distance = key_positions[None, :] - query_positions[:, None]
        buckets = relative_bucket(distance, self.bidirectional, self.num_buckets, self.max_distance)
        return self.table(buckets).permute(2, 0, 1)[None]


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.kv(x).chunk(2, dim=-1)
        return self._split(k), self._split(v)

    def forward(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        q = self._split(self.q(x))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                           dropout_p=self.dropout if self.training else 0.0)
        b, h, n, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, n, h * dh))


class FeedForward(nn.Sequential):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: TokenSplitConfig) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.attn = Attention(cfg.dim, cfg.heads, cfg.attention_dropout)
        self.ffn = FeedForward(cfg.dim, cfg.ffn_dim, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.drop(self.attn(h, *self.attn.keys_values(h), bias))
        return x + self.drop(self.ffn(self.norm2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: TokenSplitConfig) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.self_attn = Attention(cfg.dim, cfg.heads, cfg.attention_dropout)
        self.cross_attn = Attention(cfg.dim, cfg.heads, cfg.attention_dropout)
        self.ffn = FeedForward(cfg.dim, cfg.ffn_dim, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, memory_kv: tuple[torch.Tensor, torch.Tensor], bias: torch.Tensor,
                cache: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        h = self.norm1(x)
        k, v = self.self_attn.keys_values(h)
        if cache is not None:                       # incremental decoding: append this step's keys
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        x = x + self.drop(self.self_attn(h, k, v, bias))
        x = x + self.drop(self.cross_attn(self.norm2(x), *memory_kv, None))
        return x + self.drop(self.ffn(self.norm3(x)))


class TokenSplitModel(nn.Module):
    """EncDec[input tokens] -> output tokens (eq. 5), sizes from :class:`TokenSplitConfig`."""

    def __init__(self, cfg: TokenSplitConfig, vocab_size: int, max_input: int, max_output: int) -> None:
        super().__init__()
        self.cfg, self.vocab_size, self.max_input, self.max_output = cfg, vocab_size, max_input, max_output
        self.embed = nn.Embedding(vocab_size, cfg.dim)
        self.enc_pos = nn.Embedding(max_input, cfg.dim)
        self.dec_pos = nn.Embedding(max_output, cfg.dim)
        self.enc_bias = RelativePositionBias(cfg.heads, cfg.relative_buckets, cfg.relative_max_distance, True)
        self.dec_bias = RelativePositionBias(cfg.heads, cfg.relative_buckets, cfg.relative_max_distance, False)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.decoder_layers))
        self.enc_norm, self.dec_norm = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)
        nn.init.normal_(self.embed.weight, std=cfg.dim ** -0.5)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Encoder states [B, Lin, d] of input tokens [B, Lin]."""
        positions = torch.arange(inputs.shape[1], device=inputs.device)
        x = self.drop(self.embed(inputs) * math.sqrt(self.cfg.dim) + self.enc_pos(positions))
        bias = self.enc_bias(positions, positions)
        for layer in self.encoder:
            x = layer(x, bias)
        return self.enc_norm(x)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec_norm(x) @ self.embed.weight.t()

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits [B, Lout, V] predicting ``targets`` [B, Lout] from BOS + targets[:-1]."""
        memory = self.encode(inputs)
        prev = torch.cat([torch.full_like(targets[:, :1], BOS), targets[:, :-1]], dim=1)
        positions = torch.arange(prev.shape[1], device=prev.device)
        causal = torch.full((prev.shape[1], prev.shape[1]), float("-inf"), device=prev.device).triu(1)
        bias = self.dec_bias(positions, positions) + causal
        x = self.drop(self.embed(prev) * math.sqrt(self.cfg.dim) + self.dec_pos(positions))
        for layer in self.decoder:
            x = layer(x, layer.cross_attn.keys_values(memory), bias)
        return self._logits(x)

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor, allowed: torch.Tensor, forced: torch.Tensor | None = None,
                 temperature: float = 1.0, top_k: int = 0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample output tokens [B, Lout] for inputs [B, Lin].

        ``allowed`` [Lout, V] (bool) restricts each position to its stream's range;
        ``forced`` [B, Lout] (-1 = free) fixes prompted positions.  ``temperature`` 0
        is greedy.  Keys and values of past steps are cached, so a step costs one
        position's worth of compute.
        """
        batch, length = inputs.shape[0], allowed.shape[0]
        device = inputs.device
        memory = self.encode(inputs)
        memory_kv = [layer.cross_attn.keys_values(memory) for layer in self.decoder]
        caches: list[dict[str, torch.Tensor]] = [{} for _ in self.decoder]
        out = torch.empty(batch, length, dtype=torch.long, device=device)
        prev = torch.full((batch, 1), BOS, dtype=torch.long, device=device)
        all_positions = torch.arange(length, device=device)
        allowed = allowed.to(device)
        for t in range(length):
            pos = all_positions[t:t + 1]
            x = self.embed(prev) * math.sqrt(self.cfg.dim) + self.dec_pos(pos)
            bias = self.dec_bias(pos, all_positions[: t + 1])
            for layer, kv, cache in zip(self.decoder, memory_kv, caches):
                x = layer(x, kv, bias, cache)
            logits = self._logits(x)[:, 0].float().masked_fill(~allowed[t], float("-inf"))
            if temperature <= 0:
                token = logits.argmax(dim=-1)
            else:
                logits = logits / temperature
                if top_k > 0:
                    kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                token = torch.multinomial(logits.softmax(dim=-1).cpu(), 1, generator=generator)[:, 0].to(device)
            if forced is not None:
                fixed = forced[:, t]
                token = torch.where(fixed >= 0, fixed.to(device), token)
            out[:, t] = token
            prev = token[:, None]
        return out
