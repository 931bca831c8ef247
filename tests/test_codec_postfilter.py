"""The codec's rate-dependent post-filter: fitted gains, where they apply, export and hostile files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from bench.baselines.codecs.mdct_rvq.checkpoint import export_weights, load_model
from bench.baselines.codecs.mdct_rvq.codec import MDCTRVQCodec
from bench.baselines.codecs.mdct_rvq.model import expand
from bench.baselines.codecs.mdct_rvq.postfilter import fit_post_gain
from bench.errors import BenchError
from test_codecs_helpers import random_model, speech_like


def coefficient_energy(model, wave: torch.Tensor, stages: int, clean: bool) -> torch.Tensor:
    """Per-bin energy of the clean MDCT or of the decoder's (post-filtered) output, computed directly."""
    padded = torch.nn.functional.pad(wave[None], (0, model.padded_length(wave.numel()) - wave.numel()))
    if clean:
        return model.mdct(padded)[0].double().pow(2).sum(-1)
    tokens = model.encode_tokens(wave[None], stages)
    coeffs = expand(model.decoder(model.quantizer.decode(tokens).transpose(1, 2)))[0].double()
    if model.post_gain is not None:
        coeffs = coeffs * model.post_gain[stages - 1][:, None].double()
    return coeffs.pow(2).sum(-1)


def test_fitted_gain_restores_each_bins_energy_at_every_stage_count() -> None:
    model = random_model(seed=3).eval()
    waves = [torch.as_tensor(speech_like(seed=s, seconds=1.0)) for s in range(3)]
    gain = fit_post_gain(model, waves, min_gain=1e-6, max_gain=1e6)
    assert gain.shape == (model.cfg.num_stages, model.cfg.hop)
    model.post_gain = gain
    with torch.no_grad():
        for stages in (1, 4, model.cfg.num_stages):
            clean = sum(coefficient_energy(model, w, stages, clean=True) for w in waves)
            decoded = sum(coefficient_energy(model, w, stages, clean=False) for w in waves)
            np.testing.assert_allclose(decoded.numpy(), clean.numpy(), rtol=1e-3)


def test_gain_is_clamped() -> None:
    model = random_model(seed=3).eval()
    gain = fit_post_gain(model, [torch.as_tensor(speech_like(seed=1, seconds=0.5))], min_gain=0.9, max_gain=1.1)
    assert float(gain.min()) == pytest.approx(0.9) and float(gain.max()) == pytest.approx(1.1)
    assert bool(((gain >= 0.9 - 1e-6) & (gain <= 1.1 + 1e-6)).all())


def test_codec_applies_the_row_of_its_stage_count_and_tokens_do_not_change() -> None:
    """The iMDCT is linear: a gain of 2 on every bin of row N' doubles the decoded wave at N' stages only."""
    model = random_model(seed=4).eval()
    codec = MDCTRVQCodec(model=model)
    wave = speech_like(seed=2, seconds=1.0)
    before = {n: codec.decode(codec.encode(wave, n), n, wave.size) for n in (2, 3)}
    tokens_before = codec.encode(wave, 3).tokens
    gain = torch.ones(model.cfg.num_stages, model.cfg.hop)
    gain[2] = 2.0                                                  # row of N' = 3
    model.post_gain = gain
    assert np.array_equal(codec.encode(wave, 3).tokens, tokens_before)
    np.testing.assert_allclose(codec.decode(codec.encode(wave, 3), 3, wave.size), 2 * before[3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(codec.decode(codec.encode(wave, 2), 2, wave.size), before[2], rtol=1e-6, atol=1e-7)
    z_q = codec.latent_from_tokens(torch.as_tensor(codec.encode(wave, 3).tokens.astype(np.int64))[None])
    via_latent = codec.decode_from_latent(z_q, wave.size, 3)[0].numpy()
    np.testing.assert_allclose(via_latent, 2 * before[3], rtol=1e-5, atol=1e-6)


def test_export_round_trip_keeps_the_gain_and_a_training_state_never_holds_it(tmp_path) -> None:
    model = random_model(seed=5)
    gain = torch.rand(model.cfg.num_stages, model.cfg.hop) + 0.5
    model.post_gain = gain
    assert "post_gain" not in model.state_dict()
    path = tmp_path / "c.pt"
    export_weights(model, path, {})
    torch.testing.assert_close(load_model(path).post_gain, gain)
    model.post_gain = None
    export_weights(model, path, {})
    assert load_model(path).post_gain is None


@pytest.mark.parametrize("bad", [torch.ones(3, 3), -torch.ones(16, 160), torch.full((16, 160), float("nan"))])
def test_hostile_gain_is_refused_naming_the_file(tmp_path, bad: torch.Tensor) -> None:
    model = random_model(seed=5)
    path = tmp_path / "c.pt"
    export_weights(model, path, {})
    blob = torch.load(path, weights_only=True)
    blob["post_gain"] = bad if bad.shape != (16, 160) else bad[: model.cfg.num_stages, : model.cfg.hop]
    torch.save(blob, path)
    with pytest.raises(BenchError, match=f"{path}.*post_gain"):
        load_model(path)


def test_recipe_writes_a_loadable_codec_with_its_command(tmp_path) -> None:
    import json

    from bench.cli import main

    model = random_model(seed=6)
    source = tmp_path / "codec.pt"
    export_weights(model, source, {"steps": 7})
    data = tmp_path / "data" / "s1"
    data.mkdir(parents=True)
    for k in range(2):
        sf.write(data / f"u{k}.wav", speech_like(seed=k, seconds=0.6), 16000)
    out = tmp_path / "pf.pt"
    argv = ["train", "codec-postfilter", "--checkpoint", str(source), "--data", str(tmp_path / "data"),
            "--out", str(out), "--utterances", "2"]
    assert main(argv) == 0
    loaded = load_model(out)
    assert loaded.post_gain is not None and loaded.post_gain.shape == (model.cfg.num_stages, model.cfg.hop)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["steps"] == 7 and meta["post_filter"]["utterances"] == 2
    assert meta["post_filter"]["command"] == "bench " + " ".join(argv)


@pytest.mark.parametrize("twin", ["{not json", "[1, 2]", "\udcff"])
def test_a_malformed_json_twin_is_one_line_naming_it_and_nothing_is_written(tmp_path, capsys, twin) -> None:
    from bench.cli import main

    source = tmp_path / "codec.pt"
    export_weights(random_model(seed=6), source, {"steps": 7})
    source.with_suffix(".json").write_bytes(twin.encode("utf-8", "surrogateescape"))
    data = tmp_path / "data" / "s1"
    data.mkdir(parents=True)
    sf.write(data / "u0.wav", speech_like(seed=0, seconds=0.6), 16000)
    out = tmp_path / "pf.pt"
    code = main(["train", "codec-postfilter", "--checkpoint", str(source), "--data", str(tmp_path / "data"),
                 "--out", str(out), "--utterances", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and not out.exists()
    assert str(source.with_suffix(".json")) in err[-1] and "Traceback" not in "\n".join(err)
