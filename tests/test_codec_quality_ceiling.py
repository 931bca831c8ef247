"""``benchmarks/codec_quality.py --ceiling``: the no-quantiser row and the RVQ residual energy per stage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark_scripts import load_script


def load_benchmark():
    return load_script("codec_quality.py")


def random_model(seed: int = 0):
    """A randomly initialised tiny MDCT-RVQ model with data-like codebooks (16 stages, M = 1024) and a
    decoder that depends on N' (random stage offsets e[N'], a post-filter G[N', k])."""
    from dataclasses import replace

    from bench.baselines.codecs.mdct_rvq.config import CONFIGS
    from bench.baselines.codecs.mdct_rvq.model import MDCTRVQModel

    torch.manual_seed(seed)
    cfg = replace(CONFIGS["tiny"].model, stage_conditioning=True)
    model = MDCTRVQModel(cfg).eval()
    with torch.no_grad():
        model.decoder.stage_embedding.weight.normal_()
    model.post_gain = 0.5 + torch.rand(cfg.num_stages, cfg.hop)
    scale = 0.5
    for vq in model.quantizer.stages:                   # shrinking codebooks, like trained residual stages
        vq.codebook.copy_(torch.randn_like(vq.codebook) * scale)
        scale *= 0.8
    return model


def clip(seed: int, seconds: float = 0.7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def test_residual_energy_matches_a_brute_force_nearest_neighbour_rvq():
    cq = load_benchmark()
    model = random_model()
    clips = [clip(1), clip(2, 0.4)]
    got = cq.rvq_residual_energy(model, cq.encoder_latents(model, clips))

    energy = np.zeros(len(model.quantizer.stages) + 1)
    for c in clips:
        with torch.no_grad():
            residual = model.latent(torch.from_numpy(c)[None])[0].T.double().numpy()    # [frames, K]
        energy[0] += np.sum(residual ** 2)
        for n, vq in enumerate(model.quantizer.stages):
            book = vq.codebook.double().numpy()
            nearest = np.argmin(((residual[:, None, :] - book[None]) ** 2).sum(-1), axis=1)
            residual = residual - book[nearest]
            energy[n + 1] += np.sum(residual ** 2)
    np.testing.assert_allclose(got, energy / energy[0], rtol=1e-4)
    assert got[0] == 1.0 and np.all(np.diff(got) <= 1e-9)       # RVQ never adds energy back


def test_gaussian_bound_is_shannons_distortion_rate_line():
    cq = load_benchmark()
    assert cq.gaussian_bound_db(16, 10, 64) == pytest.approx(10 * np.log10(2.0 ** (-2 * 160 / 64)))   # -15.05 dB
    assert cq.gaussian_bound_db(1, 10, 64) == pytest.approx(-0.9408, abs=1e-4)
    table = cq.energy_table(np.array([1.0, 0.5, 0.25]), 10, 64, 0.5)
    assert "| 2 | 1 | -6.02 | -1.88 |" in table


def test_no_quantiser_row_is_a_16_stage_decoding_whose_codebooks_hold_the_latent_exactly():
    """The ceiling decodes z itself as N stages: equal to real token decoding once stage 1's codebook
    contains every latent frame and the other stages contain the zero vector."""
    cq = load_benchmark()
    model = random_model()
    source = clip(3)
    with torch.no_grad():
        frames = model.latent(torch.from_numpy(source)[None])[0].T                      # [frames, K]
        model.quantizer.stages[0].codebook[: frames.shape[0]] = frames
        for vq in model.quantizer.stages[1:]:
            vq.codebook[0] = 0.0
        tokens = model.encode_tokens(torch.from_numpy(source)[None])
        coded = model.decode_tokens(tokens, source.size)[0].numpy()
    assert tokens[0, 0].tolist() == list(range(frames.shape[0])) and int(tokens[0, 1:].max()) == 0
    (ceiling,) = cq.unquantised_decodes(model, cq.encoder_latents(model, [source]), [source])
    assert ceiling.shape == source.shape
    np.testing.assert_allclose(ceiling, coded, atol=1e-5)
    with torch.no_grad():                                                           # the decoder depends on N'
        told_two = model.decode_from_latent(frames.T[None], source.size, 2)[0].numpy()
    assert np.abs(told_two - ceiling).max() > 1e-3
