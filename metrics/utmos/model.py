"""The UTMOS22 strong learner at inference (Saeki et al., 2022), without phoneme encoder.

SSL features (wav2vec 2.0 base) of 16 kHz audio are concatenated frame by frame with
a data-domain embedding (the ``main`` domain, id 0) and a listener embedding (the
mean-listener id 288 used by the authors' demo), a BLSTM (512 per direction) and a
two-layer projection (2048, ReLU) give one score per frame; the utterance score is
the frame mean, times 2, plus 3.  Parameter names follow the single-file converted
checkpoint (tarepan/SpeechMOS ``utmos22_strong``); :mod:`.checkpoint` maps the
official Lightning checkpoint onto the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from bench.metrics.utmos.wav2vec2 import Wav2Vec2, Wav2Vec2Config

DOMAIN_ID = 0
JUDGE_ID = 288


@dataclass(frozen=True)
class UtmosConfig:
    ssl: Wav2Vec2Config = field(default_factory=Wav2Vec2Config)
    domain_dim: int = 128
    judge_dim: int = 128
    rnn_hidden: int = 512
    proj_hidden: int = 2048


class UTMOS22Strong(nn.Module):
    """wave [B, T] at 16 kHz -> MOS [B]."""

    def __init__(self, cfg: UtmosConfig = UtmosConfig()) -> None:
        super().__init__()
        self.wav2vec2 = Wav2Vec2(cfg.ssl)
        self.domain_emb = nn.Parameter(torch.zeros(1, cfg.domain_dim), requires_grad=False)
        self.judge_emb = nn.Parameter(torch.zeros(1, cfg.judge_dim), requires_grad=False)
        width = cfg.ssl.embed_dim + cfg.domain_dim + cfg.judge_dim
        self.blstm = nn.LSTM(width, cfg.rnn_hidden, batch_first=True, bidirectional=True)
        self.projection = nn.Sequential(nn.Linear(2 * cfg.rnn_hidden, cfg.proj_hidden), nn.ReLU(),
                                        nn.Linear(cfg.proj_hidden, 1))

    def forward(self, wave: Tensor) -> Tensor:
        units = self.wav2vec2(wave)
        b, t, _ = units.shape
        features = torch.cat([units, self.domain_emb.expand(b, t, -1), self.judge_emb.expand(b, t, -1)], dim=2)
        frame_scores = self.projection(self.blstm(features)[0])
        return frame_scores.mean(dim=1).squeeze(1) * 2 + 3
