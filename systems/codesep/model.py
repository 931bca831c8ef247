"""The CodeSep networks in the paper's notation (Section 3, equations (1)-(5)).

* :class:`BTDM` — base-token disentanglement: mixture y -> mel -> phi_mela -> phi_intra
  -> ACBG (z_intra + delta^(1), z_intra + delta^(2)) -> phi_inter -> two linear heads ->
  p_base^(i) over M codes, d_base^(i) = argmax (eqs. 1-2).
* :class:`ATSP` — one auxiliary-token serial prediction branch (shared by both
  speakers): N - 1 sub-predictors (N_lstm LSTM layers + N_con Conformer blocks each),
  the n-th fed with the codebook look-ups of the base token and the auxiliary tokens
  before it (eq. 5), predicting d_aux,n (eq. 4).

The codebooks W_1..W_N are the codec's (frozen); the ATSP keeps them as a
non-persistent buffer filled from the codec, so weights files never carry a second,
possibly stale, copy.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

from bench.systems.codesep.config import ATSPConfig, BTDMConfig


# -- BTDM -----------------------------------------------------------------------------------------
class LogMel(nn.Module):
    """80-band log-mel of the mixture with a shift of 80 samples (200 frames/s at 16 kHz)."""

    def __init__(self, cfg: BTDMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, win_length=cfg.win_length, hop_length=cfg.mel_hop,
            f_min=0.0, f_max=cfg.sample_rate / 2, n_mels=cfg.n_mels, power=2.0, center=True)

    @property
    def samples_per_token_frame(self) -> int:
        return self.cfg.mel_hop * self.cfg.downsample

    def forward(self, wave: torch.Tensor, frames: int) -> torch.Tensor:
        """Waves [B, T] -> log-mel [B, n_mels, frames * downsample], aligned to ``frames`` codec frames.

        The wave is zero-padded to ``frames`` whole token frames (the codec pads the same
        way), so mel frame 4f starts where token frame f does; the one extra frame of the
        centred STFT is dropped.  Training crops and full test utterances thus see identical
        framing.
        """
        need = frames * self.samples_per_token_frame
        if wave.shape[-1] < need:
            wave = F.pad(wave, (0, need - wave.shape[-1]))
        else:
            wave = wave[..., :need]
        mel = self.mel(wave)[..., : frames * self.cfg.downsample]
        return torch.log(mel.clamp_min(1e-5))


class MelDownsample(nn.Module):
    """phi_mela: N_mela strided 1-D convolutions, mel frame rate -> codec token rate, 80 -> K_mela.

    Kernel 2s+1 with padding s maps L frames to exactly L / s (L a multiple of s).
    """

    def __init__(self, cfg: BTDMConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = cfg.n_mels
        for i, stride in enumerate(cfg.mela_strides):
            layers.append(nn.Conv1d(channels, cfg.dim, 2 * stride + 1, stride=stride, padding=stride))
            if i < len(cfg.mela_strides) - 1:
                layers.append(nn.GELU())
            channels = cfg.dim
        self.net = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """[B, n_mels, 4F] -> z_mela [B, F, K_mela]."""
        return self.norm(self.net(mel).transpose(1, 2))


def sinusoidal_positions(frames: int, dim: int, device: torch.device) -> torch.Tensor:
    """[frames, dim] sine/cosine position code (transformers have no notion of order otherwise)."""
    pos = torch.arange(frames, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    out = torch.zeros(frames, dim, device=device)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return out


class ACBG(nn.Module):
    """Anti-consistency bias generator: trainable delta^(1), delta^(2) in R^{K_mela} (eq. 1).

    Initialised far apart (unit-variance draws) so the two copies of z_intra differ from
    the first step; without them (``enabled=False``, the ablation) both copies are equal.
    """

    def __init__(self, dim: int, num_sources: int, enabled: bool) -> None:
        super().__init__()
        self.enabled = enabled
        self.delta = nn.Parameter(torch.randn(num_sources, dim)) if enabled else None
        self.num_sources = num_sources

    def forward(self, z_intra: torch.Tensor) -> torch.Tensor:
        """z_intra [B, F, K] -> [B, S, F, K] = z_intra + delta^(i)."""
        copies = z_intra[:, None].expand(-1, self.num_sources, -1, -1)
        if self.delta is None:
            return copies
        return copies + self.delta[None, :, None, :]


class SourceInter(nn.Module):
    """phi_inter: N_inter blocks; each source attends to itself, then (cross-attention) to the other.

    One ``TransformerDecoderLayer`` per block, shared by both sources, with the other
    source's current features as the memory: z^(1) <- block(z^(1), z^(2)), z^(2) <- block(z^(2), z^(1)).
    """

    def __init__(self, cfg: BTDMConfig) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.TransformerDecoderLayer(cfg.dim, cfg.heads, cfg.ffn_dim, cfg.dropout, activation="gelu",
                                       batch_first=True, norm_first=True)
            for _ in range(cfg.n_inter))
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """[B, 2, F, K] -> z_inter [B, 2, F, K]."""
        b, s, f, k = z.shape
        assert s == 2, "source-inter cross-attention is defined for two sources"
        for block in self.blocks:
            x = z.reshape(b * s, f, k)
            other = z.flip(1).reshape(b * s, f, k)          # source i attends to source 3 - i
            z = block(x, other).reshape(b, s, f, k)
        return self.norm(z)


class BTDM(nn.Module):
    """Mixture mel -> base-token logits of two speakers [B, 2, F, M] (eqs. 1-2)."""

    def __init__(self, cfg: BTDMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.logmel = LogMel(cfg)
        self.mela = MelDownsample(cfg)                                   # phi_mela
        layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, cfg.ffn_dim, cfg.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.intra = nn.TransformerEncoder(layer, cfg.n_intra, enable_nested_tensor=False)  # phi_intra
        self.intra_norm = nn.LayerNorm(cfg.dim)
        self.acbg = ACBG(cfg.dim, cfg.num_sources, cfg.acbg)            # phi_ac
        self.inter = SourceInter(cfg)                                    # phi_inter
        self.heads = nn.ModuleList(nn.Linear(cfg.dim, cfg.codebook_size) for _ in range(cfg.num_sources))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel [B, n_mels, 4F] -> logits of p_base^(i) [B, 2, F, M]."""
        z_mela = self.mela(mel)
        # training crops are short (2 s) and test utterances longer: in training the positions
        # start at a random offset, so every position a test utterance reaches has been seen
        offset = int(torch.randint(0, self.cfg.max_position_offset + 1, ())) if self.training else 0
        positions = sinusoidal_positions(offset + z_mela.shape[1], z_mela.shape[2], z_mela.device)[offset:]
        z_mela = z_mela + positions
        z_intra = self.intra_norm(self.intra(z_mela))                   # z_intra = phi_intra(z_mela)
        z_inter = self.inter(self.acbg(z_intra))                        # eq. (1)
        return torch.stack([head(z_inter[:, i]) for i, head in enumerate(self.heads)], dim=1)

    def logits_from_wave(self, wave: torch.Tensor, frames: int) -> torch.Tensor:
        """Waves [B, T] -> logits [B, 2, frames, M] on the codec's frame grid."""
        return self(self.logmel(wave, frames))

    @torch.no_grad()
    def base_tokens(self, wave: torch.Tensor, frames: int) -> torch.Tensor:
        """d_base^(i) = argmax_m p_base^(i)[m] (eq. 2): [B, 2, frames] int64."""
        return self.logits_from_wave(wave, frames).argmax(dim=-1)


# -- ATSP -----------------------------------------------------------------------------------------
class SubPredictor(nn.Module):
    """One sub-predictor: K -> dim, N_lstm LSTM layers, N_con Conformer blocks, linear to M logits.

    The LSTM is bidirectional (half the width each way): the system is offline, so
    every frame may see the whole utterance.
    """

    def __init__(self, cfg: ATSPConfig) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.Linear(cfg.codebook_dim, cfg.dim), nn.LayerNorm(cfg.dim))
        self.lstm = nn.LSTM(cfg.dim, cfg.dim // 2, num_layers=cfg.n_lstm, batch_first=True, bidirectional=True)
        self.conformer = torchaudio.models.Conformer(
            input_dim=cfg.dim, num_heads=cfg.heads, ffn_dim=cfg.ffn_dim, num_layers=cfg.n_con,
            depthwise_conv_kernel_size=cfg.conv_kernel, dropout=cfg.dropout)
        self.out = nn.Sequential(nn.LayerNorm(cfg.dim), nn.Linear(cfg.dim, cfg.codebook_size))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z_aux,n [B, F, K] -> logits of p_aux,n [B, F, M]."""
        h, _ = self.lstm(self.inp(z))
        lengths = torch.full((h.shape[0],), h.shape[1], device=h.device, dtype=torch.long)
        h, _ = self.conformer(h, lengths)
        return self.out(h)


class ATSP(nn.Module):
    """N - 1 serial sub-predictors over the codec's frozen codebooks W_1..W_N (eqs. 4-5)."""

    def __init__(self, cfg: ATSPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.predictors = nn.ModuleList(SubPredictor(cfg) for _ in range(cfg.num_stages - 1))
        self.register_buffer("codebooks", torch.zeros(cfg.num_stages, cfg.codebook_size, cfg.codebook_dim),
                             persistent=False)

    def set_codebooks(self, codebooks: torch.Tensor) -> None:
        """Install W_1..W_N [N, M, K] from the codec (not trained, not saved)."""
        if tuple(codebooks.shape) != tuple(self.codebooks.shape):
            raise ValueError(f"codebooks of shape {tuple(codebooks.shape)}, expected {tuple(self.codebooks.shape)}")
        self.codebooks.copy_(codebooks.detach())

    def lookup(self, tokens: torch.Tensor, stage: int) -> torch.Tensor:
        """L(d, W_stage) for 0-based ``stage``: [B, F] -> [B, F, K]."""
        return F.embedding(tokens, self.codebooks[stage])

    def stage_input(self, base: torch.Tensor, aux: list[torch.Tensor]) -> torch.Tensor:
        """z_aux,n = L(d_base, W_1) + 1{n>=2} sum_{n'<n} L(d_aux,n', W_{n'+1})   (eq. 5), n = len(aux) + 1."""
        z = self.lookup(base, 0)
        for n_prev, d in enumerate(aux, start=1):
            z = z + self.lookup(d, n_prev)
        return z

    def forward_teacher(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: tokens d_1..d_N [B, N, F] of the codec -> logits p~_aux,n [B, N-1, F, M].

        Sub-predictor n sees the codec's own d_2..d_n (the red dashed arrows of Fig. 1).
        """
        base = tokens[:, 0]
        logits = [pred(self.stage_input(base, [tokens[:, m] for m in range(1, n)]))
                  for n, pred in enumerate(self.predictors, start=1)]
        return torch.stack(logits, dim=1)

    def forward_free(self, base: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Serial prediction from the base tokens alone: (logits [B, N-1, F, M], tokens [B, N-1, F]).

        Each d_aux,n = argmax p_aux,n feeds the next sub-predictor (eq. 4); the argmax
        is not differentiable, so every sub-predictor learns only from its own loss.
        """
        aux: list[torch.Tensor] = []
        logits = []
        for pred in self.predictors:
            out = pred(self.stage_input(base, aux))
            logits.append(out)
            aux.append(out.argmax(dim=-1))
        return torch.stack(logits, dim=1), torch.stack(aux, dim=1)

    @torch.no_grad()
    def predict(self, base: torch.Tensor) -> torch.Tensor:
        """Auxiliary tokens d_aux,1..N-1 [B, N-1, F] by serial argmax from base tokens [B, F]."""
        return self.forward_free(base)[1]
