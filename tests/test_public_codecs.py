"""DAC, EnCodec and Mimi as FSTC/FCTS codecs, offline: tiny random models built from the real config
classes of ``transformers``, saved with ``save_pretrained`` into a Hugging Face cache laid out as
``huggingface_hub`` lays it out, and loaded back by hub id at the pinned commit."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the public codecs need the 'public' extra (transformers)")

import torch  # noqa: E402

from bench import hub  # noqa: E402
from bench.baselines.codecs import CODECS, canonical_name, get_codec, static_modes  # noqa: E402
from bench.cli import main  # noqa: E402
from bench.config import BenchConfig, resolve_system_spec  # noqa: E402
from bench.errors import BenchError  # noqa: E402
from bench.records import TokenStream  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from hub_cache import cache_pinned_models, put_in_hub_cache  # noqa: E402

CODEC_NAMES = ("dac16k", "encodec24k", "mimi")


def tiny_models() -> dict[str, "torch.nn.Module"]:
    """The real model classes at a few thousand parameters; frame rates and codebooks as the official ones."""
    from transformers import DacConfig, DacModel, EncodecConfig, EncodecModel, MimiConfig, MimiModel

    torch.manual_seed(0)
    return {
        # hop 2*4*5*8 = 320 at 16 kHz: 50 Hz, 12 x 1024 like descript/dac_16khz
        "dac16k": DacModel(DacConfig(encoder_hidden_size=8, downsampling_ratios=[2, 4, 5, 8], decoder_hidden_size=32,
                                     n_codebooks=12, codebook_size=1024, codebook_dim=4, sampling_rate=16000)),
        # hop 320 at 24 kHz: 75 Hz, 32 x 1024, target bandwidths 1.5 ... 24 kbps like facebook/encodec_24khz
        "encodec24k": EncodecModel(EncodecConfig(num_filters=4, hidden_size=16, codebook_dim=16, num_lstm_layers=1,
                                                 upsampling_ratios=[8, 5, 4, 2], codebook_size=1024,
                                                 sampling_rate=24000)),
        # 24 kHz, 12.5 Hz, 32 x 2048 like kyutai/mimi
        "mimi": MimiModel(MimiConfig(hidden_size=16, num_filters=4, codebook_dim=16,
                                     vector_quantization_hidden_dimension=16, num_hidden_layers=1,
                                     intermediate_size=32, num_attention_heads=2, num_key_value_heads=2, head_dim=8,
                                     upsample_groups=16, upsampling_ratios=[8, 6, 5, 4], codebook_size=2048,
                                     num_quantizers=32)),
    }


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory) -> Path:
    """A hub cache holding the three tiny codecs at the pinned commits (plus their plain folders)."""
    root = tmp_path_factory.mktemp("hf")
    models = tiny_models()
    return cache_pinned_models(root, lambda name, folder: models[name].save_pretrained(folder), models)


@pytest.fixture
def cache(hub_dir: Path, monkeypatch) -> Path:
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_dir / "hub"))
    monkeypatch.setenv("JSAC_BENCH_CACHE", str(hub_dir / "jsac"))
    return hub_dir / "hub"


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("JSAC_BENCH_CACHE", str(tmp_path / "jsac"))
    return tmp_path / "empty-hub"


def _wave(n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def test_registry_lists_the_public_codecs_and_their_short_names():
    assert set(CODEC_NAMES) <= set(CODECS.names())
    assert canonical_name("dac") == "dac16k" and canonical_name("encodec") == "encodec24k"
    with pytest.raises(BenchError, match="unknown codec 'dac8k'. Available: .*dac16k"):
        canonical_name("dac8k")
    assert static_modes("dac16k") == {0.5 * n: n for n in range(1, 13)}
    assert static_modes("encodec24k") == {1.5: 2, 3.0: 4, 6.0: 8, 12.0: 16, 24.0: 32}
    assert static_modes("mimi")[1.1] == 8 and len(static_modes("mimi")) == 32
    assert static_modes("dac16k", {"model": "/somewhere"}) is None  # other weights: their config decides


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_loaded_by_hub_id_at_the_pinned_commit(cache: Path, name: str):
    codec = get_codec(name)
    spec = hub.HUB_MODELS[name]
    assert codec.snapshot.repo == spec.repo and codec.snapshot.revision == spec.revision
    assert codec.snapshot.path == cache / f"models--{spec.repo.replace('/', '--')}" / "snapshots" / spec.revision
    assert codec.modes() == static_modes(name)  # the tiny config has the official rate grid
    desc = codec.describe(codec.bitrate(min(codec.modes())))
    assert desc["weights"] == {"source": "hub", "repo": spec.repo, "revision": spec.revision}
    assert desc["resampling"] == ("none" if name == "dac16k" else "16000->24000->16000 Hz")


@pytest.mark.parametrize("name", CODEC_NAMES)
@pytest.mark.parametrize("length", [16000, 12345])
def test_round_trip_lengths_and_exact_payload_bits(cache: Path, name: str, length: int):
    codec = get_codec(name)
    wave = _wave(length)
    rates = sorted(codec.modes())
    for kbps in (rates[0], rates[len(rates) // 2], rates[-1]):
        mode = codec.bitrate(kbps)
        payload = codec.encode(wave, mode)
        frames = codec.num_frames(length, mode)
        assert isinstance(payload, TokenStream) and payload.tokens.shape == (mode, frames)
        # stages x bits x frames, and that is kbps x duration up to the last partial frame
        assert payload.bits == mode * codec.bits_per_token * frames == codec.bits_per_frame(mode) * frames
        assert payload.bits == pytest.approx(kbps * 1000 * frames / codec.frame_rate(mode))
        assert frames == math.ceil(length / codec.sample_rate * codec.frame_rate(mode))
        out = codec.decode(payload, mode, length)
        assert out.shape == (length,) and out.dtype == np.float32 and np.isfinite(out).all()


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_adapter_codes_and_decodes_as_the_library_does(cache: Path, name: str):
    """Tokens and decoded waves equal the library's own calls on the same (resampled) input."""
    from bench.audio import resample

    codec = get_codec(name)
    model, wave = codec.model, _wave(16000 * 2 // 3 * 3)
    mode = sorted(codec.modes().values())[1]
    payload = codec.encode(wave, mode)
    inner = torch.from_numpy(resample(wave, 16000, codec.native_rate))[None, None]
    with torch.no_grad():
        if name == "dac16k":
            out = model.encode(inner, n_quantizers=mode)
            codes = out.audio_codes
            ref = model.decode(out.quantized_representation).audio_values
        elif name == "encodec24k":
            out = model.encode(inner, bandwidth=codec.kbps(mode))
            codes = out.audio_codes[0]
            ref = model.decode(out.audio_codes, out.audio_scales).audio_values
        else:
            codes = model.encode(inner, num_quantizers=mode).audio_codes
            ref = model.decode(codes).audio_values
    np.testing.assert_array_equal(payload.tokens, codes[0].numpy())
    expected = resample(ref.reshape(-1).numpy(), codec.native_rate, 16000)[: wave.size]
    expected = np.pad(expected, (0, wave.size - expected.size))
    np.testing.assert_allclose(codec.decode(payload, mode, wave.size), expected, atol=1e-5)


def test_unrealisable_rates_list_the_valid_ones(cache: Path):
    codec = get_codec("encodec24k")
    with pytest.raises(BenchError, match=r"cannot run at 2 kbps; valid rates \(kbps\): 1.5, 3, 6, 12, 24"):
        codec.bitrate(2)
    for name, message in (("fstc-dac@13", "valid rates .*0.5, 1, 1.5.* 6 \\(b/2 = 6.5 kbps per estimate\\)"),
                          ("fcts-encodec@2", "valid rates .*1.5, 3, 6, 12, 24"),
                          ("codec-mimi@1", "valid totals .*1.1, ")):
        with pytest.raises(BenchError, match=message):
            _build(name)


def test_local_directory_and_bench_toml_codec_option(cache: Path, hub_dir: Path):
    codec = get_codec("dac", model=str(hub_dir / "plain" / "dac16k"))
    assert codec.snapshot.describe() == {"source": "local", "path": str(hub_dir / "plain" / "dac16k")}
    config = BenchConfig(systems={"fstc-d@2": {"family": "fstc", "codec": "dac16k"}})
    assert resolve_system_spec("fstc-d@2", config).options == {"codec": "dac16k"}
    assert resolve_system_spec("fstc-dac@2", BenchConfig()).options == {"codec": "dac16k"}
    assert resolve_system_spec("fcts-encodec@6", BenchConfig()).family == "fcts"


def _build(name: str, **options):
    from bench.catalog import build_system

    spec = resolve_system_spec(name, BenchConfig())
    if options:
        spec = type(spec)(name=spec.name, family=spec.family, kbps=spec.kbps, options={**spec.options, **options})
    return build_system(spec)


def _item(n: int = 8000):
    from bench.records import LoadedMixture, Mixture

    sources = np.stack([_wave(n, 1), _wave(n, 2)])
    record = Mixture("m", Path("m.wav"), (Path("s1.wav"), Path("s2.wav")), 16000, n)
    return LoadedMixture(record, sources.sum(axis=0), sources)


def test_fstc_fcts_and_codec_systems_send_what_they_claim(cache: Path):
    from test_separators import make_model_dir

    model_dir = str(make_model_dir(cache.parent / "sep"))
    fstc = _build("fstc-dac@2", model_dir=model_dir)
    [sep] = fstc.separate([_item()])
    assert sep.estimates.shape == (2, 8000) and len(sep.payload) == 2
    assert all(p.tokens.shape == (2, 25) and p.bits == 2 * 10 * 25 for p in sep.payload)  # 1 kbps each, 0.5 s
    cfg = fstc.config()
    assert cfg["codec"]["weights"]["revision"] == hub.HUB_MODELS["dac16k"].revision
    assert cfg["codec"]["kbps_per_stream"] == 1.0 and cfg["options"]["codec"] == "dac16k"
    assert any(Path(f).name == "model.safetensors" for f in fstc.checkpoint_files())
    fcts = _build("fcts-encodec@6", model_dir=model_dir)
    [sep] = fcts.separate([_item()])
    assert len(sep.payload) == 1 and sep.payload[0].tokens.shape == (8, 38)  # ceil(0.5 s * 75)
    assert fcts.config()["codec"]["resampling"] == "16000->24000->16000 Hz"
    oracle = _build("codec-mimi@1.1")
    [sep] = oracle.separate([_item()])
    assert [p.tokens.shape for p in sep.payload] == [(4, 7), (4, 7)]  # 0.55 kbps per source at 12.5 Hz
    assert fstc.key() != _build("fstc-dac@4", model_dir=model_dir).key()


def test_missing_weights_stop_the_run_with_one_line(empty_cache: Path, small_tree: Path, capsys, tmp_path: Path,
                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--systems", "fstc-dac@2", "--metrics", "bitrate", "--data", str(small_tree), "--limit", "1",
                 "--results", str(tmp_path / "results"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("bench: error: system 'fstc-dac@2'")
    assert "descript/dac_16khz" in err and "bench assets fetch dac16k" in err
    assert not list((tmp_path / "results").glob("runs/*/manifest.json"))  # stopped before anything ran


def test_bench_systems_shows_whether_weights_are_present(hub_dir: Path, empty_cache: Path, capsys, monkeypatch):
    assert main(["systems"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    for name in ("fstc-dac@2", "fcts-encodec@6", "codec-mimi@1.1", "sepformer-libri2mix"):
        assert "missing:" in lines[name] and "bench assets fetch" in lines[name]
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_dir / "hub"))
    assert main(["systems"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines["fstc-dac@2"].endswith("present") and lines["codec-mimi@1.1"].endswith("present")


def test_assets_fetch_downloads_the_pinned_commit_only(empty_cache: Path, hub_dir: Path, capsys, monkeypatch):
    """``bench assets fetch dac16k`` asks huggingface_hub for the pinned commit and the listed files."""
    import huggingface_hub

    calls = []

    def fake_download(repo_id, revision, allow_patterns, cache_dir):
        calls.append((repo_id, revision, tuple(allow_patterns)))
        return str(put_in_hub_cache(Path(cache_dir), repo_id, revision, hub_dir / "plain" / "dac16k"))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    assert main(["assets", "fetch", "dac16k"]) == 0
    pin = hub.HUB_MODELS["dac16k"].revision
    assert calls == [("descript/dac_16khz", pin, hub.CODEC_FILES)]
    assert f"descript/dac_16khz@{pin}" in capsys.readouterr().out
    assert hub.status(hub.HUB_MODELS["dac16k"]) == "present"
    assert main(["assets", "status"]) == 0
    assert any(line.startswith("dac16k") and "present" in line for line in capsys.readouterr().out.splitlines())


def test_unpinned_hub_model_is_trust_on_first_use(empty_cache: Path, hub_dir: Path, monkeypatch):
    import huggingface_hub

    model = hub.HubModel("dac-unpinned", "someone/dac", None, hub.CODEC_FILES, "test")
    monkeypatch.setitem(hub.HUB_MODELS, model.name, model)
    with pytest.raises(BenchError, match="no hub revision pinned .*--allow-unpinned"):
        hub.fetch(model)
    commit = "c" * 40
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, revision, allow_patterns, cache_dir:
                        str(put_in_hub_cache(Path(cache_dir), repo_id, commit, hub_dir / "plain" / "dac16k")))
    assert hub.fetch(model, allow_unpinned=True).revision == commit
    assert hub.pinned_revision(model) == commit  # recorded: the pin from now on
    assert hub.resolve("someone/dac", hub.CODEC_FILES).revision == commit


def test_report_row_of_a_public_model_names_the_fetch_command(empty_cache: Path, small_tree: Path, tmp_path):
    from bench.data.libri2mix import DatasetSpec, open_dataset
    from bench.report.layouts import BITRATE, TableLayout
    from bench.report.render import to_markdown
    from bench.report.tables import build_table
    from bench.run.runner import RunRequest, run
    from bench.store import Store

    store = Store(tmp_path / "results")
    run(RunRequest(systems=["mixture"], metrics=["bitrate"]), open_dataset(DatasetSpec(root=small_tree)), store)
    layout = TableLayout("2", "t", (BITRATE,), ("mixture", "fstc-dac@2", "fstc@2"), reference="mixture")
    md = to_markdown(build_table(store, layout, store.latest_dataset_key(), config=BenchConfig()))
    assert "bench assets fetch dac16k, then bench run --systems fstc-dac@2" in md
    assert "not run on this dataset: bench run --systems fstc@2" in md
