"""Sizes of the CodeSep networks and their training schedules (``tiny`` and ``paper``).

``paper`` follows Section 4.1 of the CodeSep paper (K_mela = 256, N_intra = N_inter = 4,
N_lstm = 2, N_con = 3, N = 4 RVQ stages of M = 1024 codes).  ``tiny`` keeps every
component but shrinks widths and depths so one stage trains on a shared 2-core CPU in
about an hour and the shipped weights stay a few MB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bench.dataclass_dict import dataclass_from_dict


@dataclass(frozen=True)
class BTDMConfig:
    """Base-token disentanglement module (Section 3.2)."""

    sample_rate: int = 16000
    n_mels: int = 80
    n_fft: int = 1024
    win_length: int = 320
    mel_hop: int = 80               # frame shift 80 samples (200 mel frames/s) as in the paper
    #: strides of phi_mela.  The paper's 3 x stride 2 from a shift of 80 gives 25 Hz, not the
    #: codec's 50 Hz; (2, 2, 1) lands exactly on 50 Hz = 16000 / (80 * 4) with N_mela = 3 layers.
    mela_strides: tuple[int, ...] = (2, 2, 1)
    dim: int = 256                  # K_mela
    heads: int = 4
    ffn_dim: int = 1024
    n_intra: int = 4                # N_intra self-attention blocks
    n_inter: int = 4                # N_inter cross-attention blocks
    dropout: float = 0.1
    codebook_size: int = 1024       # M
    max_position_offset: int = 400  # random start of the position code in training (frames)
    acbg: bool = True               # anti-consistency bias generator (False: the Table 4 ablation)
    num_sources: int = 2

    @property
    def downsample(self) -> int:
        total = 1
        for s in self.mela_strides:
            total *= s
        return total

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BTDMConfig":
        return dataclass_from_dict(cls, data)


@dataclass(frozen=True)
class ATSPConfig:
    """Auxiliary-token serial prediction branch (Section 3.3); weights shared by both speakers."""

    num_stages: int = 4             # N: base + N - 1 auxiliary tokens
    codebook_size: int = 1024       # M
    codebook_dim: int = 32          # K
    dim: int = 256
    n_lstm: int = 2                 # N_lstm
    n_con: int = 3                  # N_con
    heads: int = 4
    ffn_dim: int = 1024
    conv_kernel: int = 15
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ATSPConfig":
        return dataclass_from_dict(cls, data)


@dataclass(frozen=True)
class Schedule:
    """Optimisation settings of one stage."""

    batch_size: int = 16
    segment_frames: int = 100       # codec frames per training example (2 s)
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 200
    max_steps: int = 1_000_000
    eval_every: int = 250
    log_every: int = 25
    gain_db: float = 3.0            # dynamic mixing: relative gain range of the two sources (BTDM)
    original_fraction: float = 0.2  # dynamic mixing: share of examples that keep the original pairing


@dataclass(frozen=True)
class CodeSepPreset:
    btdm: BTDMConfig = field(default_factory=BTDMConfig)
    atsp: ATSPConfig = field(default_factory=ATSPConfig)
    btdm_schedule: Schedule = field(default_factory=Schedule)
    atsp_schedule: Schedule = field(default_factory=Schedule)


PRESETS: dict[str, CodeSepPreset] = {
    "tiny": CodeSepPreset(
        btdm=BTDMConfig(dim=128, heads=4, ffn_dim=384, n_intra=2, n_inter=2, dropout=0.05),
        atsp=ATSPConfig(dim=96, n_lstm=2, n_con=1, heads=4, ffn_dim=192, dropout=0.05),
        btdm_schedule=Schedule(batch_size=8, segment_frames=100, learning_rate=1e-3, warmup_steps=100,
                               max_steps=20_000, eval_every=200, log_every=25),
        atsp_schedule=Schedule(batch_size=8, segment_frames=100, learning_rate=1e-3, warmup_steps=100,
                               max_steps=20_000, eval_every=200, log_every=25),
    ),
    "paper": CodeSepPreset(
        btdm_schedule=Schedule(batch_size=16, segment_frames=150, learning_rate=2e-4, warmup_steps=2000,
                               max_steps=1_000_000, eval_every=5000, log_every=100),
        atsp_schedule=Schedule(batch_size=16, segment_frames=150, learning_rate=2e-4, warmup_steps=2000,
                               max_steps=1_000_000, eval_every=5000, log_every=100),
    ),
}
