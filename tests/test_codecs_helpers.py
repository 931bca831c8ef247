"""Helpers for the codec tests (no tests here): tiny random-weight MDCT-RVQ codecs, speech-like signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.baselines.codecs.mdct_rvq.checkpoint import export_weights
from bench.baselines.codecs.mdct_rvq.config import ModelConfig
from bench.baselines.codecs.mdct_rvq.model import MDCTRVQModel

TINY = ModelConfig(channels=16, latent_channels=24, encoder_depth=(1, 1), decoder_depth=(1, 1), num_stages=6)


def random_model(seed: int = 0, cfg: ModelConfig = TINY) -> MDCTRVQModel:
    """A model whose codebooks are spread over the encoder's output range (so tokens vary)."""
    torch.manual_seed(seed)
    model = MDCTRVQModel(cfg)
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 16000) * 0.1)          # data-dependent codebook initialisation
        for stage in model.quantizer.stages:         # 204 picks for 1024 codes repeat: make codevectors distinct
            stage.codebook.add_(0.05 * torch.randn_like(stage.codebook))
    return model.eval()


def random_checkpoint(path: Path, seed: int = 0) -> Path:
    export_weights(random_model(seed), path, {"command": "tests"})
    return path


def speech_like(seconds: float = 1.0, seed: int = 0, rate: int = 16000) -> np.ndarray:
    """A harmonic signal with a syllable-rate envelope: enough structure for codec round trips."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    return (0.05 * envelope * voiced + 0.002 * rng.standard_normal(t.size)).astype(np.float32)
