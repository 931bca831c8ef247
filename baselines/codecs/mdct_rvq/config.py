"""Model and training configurations of the MDCT-RVQ codec (``tiny`` and ``paper``).

The quantiser is fixed by the benchmark's bitrate grid: 50 token frames/s,
M = 1024 (10 bits) and K = 32 as in CodeSep's MDCTCodec, N = 16 stages, so stage
n adds 500 bit/s and N' stages cost N' * 0.5 kbps.  Only the backbone size,
losses and training budget differ between configurations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bench.dataclass_dict import dataclass_from_dict


@dataclass(frozen=True)
class ModelConfig:
    """Architecture: MDCT hop N_mdct=160 (100 frames/s), downsampled x2 to 50 token frames/s."""

    sample_rate: int = 16000
    hop: int = 160                  # MDCT hop: 160 coefficients per 10 ms frame
    downsample: int = 2             # 100 MDCT frames/s -> 50 token frames/s
    channels: int = 96              # backbone width at the MDCT frame rate
    latent_channels: int = 192      # backbone width at the token frame rate
    encoder_depth: tuple[int, int] = (2, 4)   # ConvNeXt v2 blocks before / after downsampling
    decoder_depth: tuple[int, int] = (4, 2)   # blocks before / after upsampling
    num_stages: int = 16            # N VQs
    codebook_size: int = 1024       # M
    codebook_dim: int = 32          # K
    ema_decay: float = 0.99
    dropout_prob: float = 0.5       # quantiser dropout: P(N' ~ U{1..N}) per item
    linear_path: bool = False       # a linear projection beside each backbone (see model.py)
    stage_conditioning: bool = False  # the decoder is told N' (a learned per-rate offset, see model.py)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / (self.hop * self.downsample)

    @property
    def samples_per_frame(self) -> int:
        return self.hop * self.downsample

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        return dataclass_from_dict(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and loss weights."""

    model: ModelConfig = field(default_factory=ModelConfig)
    segment_seconds: float = 1.0
    batch_size: int = 12
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    max_steps: int = 200_000
    warmup_steps: int = 200
    mel_weight: float = 15.0        # multi-resolution log-mel L1
    spec_weight: float = 1.0        # multi-resolution log-magnitude L1
    mdct_weight: float = 5.0        # MDCT-domain L1 on compressed coefficients
    snr_weight: float = 0.0         # waveform SNR term (dB): the MDCT is orthogonal, so this is also the
                                    # signed-coefficient MSE; without it the signs are never learned
    waveform_full_stages: int = 0   # >1: waveform terms (SNR, MDCT L1) ramp in with N', full from here on
    waveform_zero_stages: int = 1   # ... and weigh 0 up to this many stages (1: the ramp starts at N' = 1)
    commit_weight: float = 0.25
    decoder_only: bool = False      # encoder and codebooks frozen: a fine-tune that keeps every token
    adversarial: bool = False       # multi-period + multi-resolution discriminators
    adv_weight: float = 1.0
    feature_weight: float = 2.0
    adv_start_step: int = 0
    critic_width: int = 32          # channels of the critics' first layers (HiFi-GAN: 32)
    log_every: int = 25
    checkpoint_every: int = 250

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CONFIGS: dict[str, TrainConfig] = {
    # trains on a 2-core CPU within about an hour (~1 M parameters besides the 16 codebooks)
    "tiny": TrainConfig(
        model=ModelConfig(channels=64, latent_channels=160, encoder_depth=(1, 3), decoder_depth=(3, 1)),
        batch_size=8, max_steps=3000, warmup_steps=100, log_every=20, checkpoint_every=100,
    ),
    # the shipped codec: wider than tiny, linear paths beside the backbones, the signed-coefficient
    # (SNR) term at weight 5 and larger batches for the 1024-entry EMA codebooks. Ablation at step 250
    # (validation, 16 stages): without linear paths and at SNR weight 1 the SNR stayed at -0.2 dB
    # (and -0.1 dB after 1250 steps); with both, +2.0 dB and a lower mel loss (1.24 vs 1.30)
    "small": TrainConfig(
        model=ModelConfig(channels=96, latent_channels=256, encoder_depth=(1, 3), decoder_depth=(3, 1),
                          codebook_dim=64, linear_path=True),
        batch_size=12, learning_rate=1e-3, max_steps=30_000, warmup_steps=300, snr_weight=5.0,
        log_every=25, checkpoint_every=250,
    ),
    # MDCTCodec-sized backbone with the adversarial loss; needs a GPU and days
    "paper": TrainConfig(
        model=ModelConfig(channels=256, latent_channels=512, encoder_depth=(4, 8), decoder_depth=(8, 4)),
        segment_seconds=2.0, batch_size=32, learning_rate=2e-4, max_steps=1_000_000, warmup_steps=1000,
        adversarial=True, adv_start_step=10_000, log_every=100, checkpoint_every=5000,
    ),
}
