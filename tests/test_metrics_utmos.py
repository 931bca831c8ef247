"""UTMOS22 strong: both checkpoint forms load (tiny random weights) and agree; SSL matches fairseq's.

Real weights are never present here (no model hub offline), so the metric itself must
report itself unavailable with the reason; the loaders are tested on checkpoints the
test writes in both published layouts.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from bench.metrics.base import MetricInput
from bench.metrics.utmos import UTMOS, find_weights
from bench.metrics.utmos.checkpoint import load_converted, load_official
from bench.metrics.utmos.model import JUDGE_ID, UtmosConfig, UTMOS22Strong
from bench.metrics.utmos.wav2vec2 import Wav2Vec2, Wav2Vec2Config

CONV = ((16, 10, 5),) + ((16, 3, 2),) * 4 + ((16, 2, 2),) * 2
SSL = Wav2Vec2Config(conv_layers=CONV, embed_dim=128, ffn_dim=64, num_layers=2, num_heads=2,
                     pos_conv_kernel=8, pos_conv_groups=4)
CFG = UtmosConfig(ssl=SSL, domain_dim=8, judge_dim=8, rnn_hidden=16, proj_hidden=32)


class DictConfig:
    """Stands for the omegaconf object a real Lightning checkpoint pickles (under omegaconf's own name)."""

    def __init__(self) -> None:
        self.lr = 1e-4


DictConfig.__module__ = "omegaconf.dictconfig"


def _save_with_omegaconf_names(blob, path) -> None:
    """``torch.save`` with :class:`DictConfig` findable as ``omegaconf.dictconfig.DictConfig`` (not installed here)."""
    import sys
    import types

    added = [name for name in ("omegaconf", "omegaconf.dictconfig") if name not in sys.modules]
    for name in added:
        sys.modules[name] = types.ModuleType(name)
    sys.modules["omegaconf.dictconfig"].DictConfig = DictConfig
    try:
        torch.save(blob, path)
    finally:
        for name in added:
            del sys.modules[name]


def _random_model(seed: int = 0) -> UTMOS22Strong:
    torch.manual_seed(seed)
    model = UTMOS22Strong(CFG)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return model.eval()


def _write_official(model: UTMOS22Strong, tmp_path):
    """The Lightning checkpoint + fairseq file layout of the official release, from ``model``'s weights."""
    state = model.state_dict()
    ssl = {k[len("wav2vec2."):]: v for k, v in state.items() if k.startswith("wav2vec2.")}
    lightning = {f"feature_extractors.0.ssl_model.{k}": v for k, v in ssl.items()}
    domains = torch.randn(3, CFG.domain_dim)
    domains[0] = state["domain_emb"][0]
    judges = torch.randn(JUDGE_ID + 12, CFG.judge_dim)
    judges[JUDGE_ID] = state["judge_emb"][0]
    lightning["feature_extractors.1.embedding.weight"] = domains
    lightning["output_layers.0.judge_embedding.weight"] = judges
    lightning.update({f"output_layers.0.decoder_rnn.{k[len('blstm.'):]}": v
                      for k, v in state.items() if k.startswith("blstm.")})
    for ours, theirs in (("projection.0", "net.0"), ("projection.2", "net.3")):
        for part in ("weight", "bias"):
            lightning[f"output_layers.1.{theirs}.{part}"] = state[f"{ours}.{part}"]
    ckpt = tmp_path / "epoch=3-step=7459.ckpt"
    _save_with_omegaconf_names({"state_dict": lightning, "hyper_parameters": {"cfg": DictConfig()}, "epoch": 3}, ckpt)
    args = argparse.Namespace(conv_feature_layers="[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16, 2, 2)] * 2",
                              encoder_attention_heads=2, extractor_mode="default", layer_norm_first=False)
    fairseq_state = dict(ssl)
    fairseq_state["quantizer.vars"] = torch.zeros(1, 4, 8)  # pre-training modules the loader must ignore
    w2v = tmp_path / "wav2vec_small.pt"
    torch.save({"args": args, "model": fairseq_state}, w2v)
    return ckpt, w2v


def test_converted_and_official_forms_give_identical_scores(tmp_path):
    model = _random_model()
    converted = tmp_path / "utmos22_strong_step7459_v1.pt"
    torch.save(model.state_dict(), converted)
    ckpt, w2v = _write_official(model, tmp_path)
    a = load_converted(converted)
    b = load_official(ckpt, w2v)
    wave = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 16000 + 333)).astype(np.float32) * 0.1)
    with torch.inference_mode():
        expected, got_a, got_b = model(wave), a(wave), b(wave)
    assert got_a.shape == (2,)
    torch.testing.assert_close(got_a, expected, rtol=0, atol=0)
    torch.testing.assert_close(got_b, got_a, rtol=0, atol=0)


def test_wav2vec2_matches_torchaudio_port_of_fairseq():
    """Our SSL encoder against torchaudio's independent fairseq port, same weights (fairseq names)."""
    ta = pytest.importorskip("torchaudio.models.wav2vec2.utils.import_fairseq")
    torch.manual_seed(1)
    ours = Wav2Vec2(SSL).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    theirs = torchaudio_model()
    theirs.load_state_dict(ta._convert_state_dict({k: v for k, v in ours.state_dict().items() if k != "mask_emb"}))
    theirs.eval()
    # an even number of frames (fairseq pads odd lengths by one masked frame; torchaudio does not)
    wave = torch.randn(1, 16000 + 80) * 0.1
    with torch.inference_mode():
        mine = ours(wave)
        ref = theirs.extract_features(wave)[0][-1]
    assert mine.shape[1] % 2 == 0
    torch.testing.assert_close(mine, ref, rtol=1e-4, atol=1e-4)


def torchaudio_model():
    from torchaudio.models import wav2vec2_model

    return wav2vec2_model(
        extractor_mode="group_norm", extractor_conv_layer_config=list(CONV), extractor_conv_bias=False,
        encoder_embed_dim=128, encoder_projection_dropout=0.0, encoder_pos_conv_kernel=8,
        encoder_pos_conv_groups=4, encoder_num_layers=2, encoder_num_heads=2, encoder_attention_dropout=0.0,
        encoder_ff_interm_features=64, encoder_ff_interm_dropout=0.0, encoder_dropout=0.0,
        encoder_layer_norm_first=False, encoder_layer_drop=0.0, aux_num_out=None)


def test_unavailable_without_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("JSAC_BENCH_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("JSAC_BENCH_UTMOS", raising=False)
    reason = UTMOS().unavailable_reason()
    assert reason is not None and reason.startswith("weights not found") and "bench assets fetch utmos" in reason


def test_metric_uses_weights_from_env(tmp_path, monkeypatch):
    model = _random_model(3)
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    monkeypatch.setenv("JSAC_BENCH_UTMOS", str(path))
    assert find_weights() == ("converted", (path,))
    metric = UTMOS()
    assert metric.unavailable_reason() is None
    audio = (np.random.default_rng(2).standard_normal(8000) * 0.1).astype(np.float32)
    value = metric.compute(MetricInput(audio, audio, audio, 16000, "m", 0))[""]
    with torch.inference_mode():
        assert value == pytest.approx(float(model(torch.from_numpy(audio)[None])[0]), abs=1e-6)
