"""Hub separators by name: ``model_dir = "speechbrain/sepformer-libri2mix"`` (or the system
``sepformer-libri2mix``) read from a Hugging Face cache laid out as huggingface_hub lays it out,
with the upstream repositories' ``hyperparams.yaml`` layouts (``tests/upstream_hparams``)
and random weights of the published size, compared with speechbrain's own ``SepformerSeparation``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bench import hub
from bench.baselines.separators.sepformer import build_separator, load_separator, save_separator
from bench.baselines.separators.system import locate
from bench.catalog import build_system, run_hint
from bench.config import BenchConfig, resolve_system_spec
from bench.errors import BenchError

sys.path.insert(0, str(Path(__file__).parent))
from hub_cache import cache_pinned_models, put_in_hub_cache  # noqa: E402

UPSTREAM = Path(__file__).parent / "upstream_hparams"
REPOS = {"sepformer-libri2mix": 8000, "sepformer-whamr16k": 16000}


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory, torch_one_thread) -> Path:
    """Both public Sepformers in a hub cache: one set of random full-size weights, each repo's yaml layout."""
    root = tmp_path_factory.mktemp("hubsep")
    torch.manual_seed(0)
    first = (UPSTREAM / "sepformer-libri2mix.yaml").read_text()
    model = build_separator(first)          # the restricted reader builds the published architecture
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return cache_pinned_models(
        root, lambda name, folder: save_separator(model, folder, (UPSTREAM / f"{name}.yaml").read_text()), REPOS)


@pytest.fixture
def cache(hub_dir: Path, monkeypatch) -> Path:
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_dir / "hub"))
    return hub_dir / "hub"


def _mix(n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("name", list(REPOS))
def test_upstream_yaml_from_the_hub_cache_matches_speechbrain(cache: Path, name: str, tmp_path: Path,
                                                            torch_one_thread):
    spec = hub.HUB_MODELS[name]
    snapshot = locate(spec.repo)
    assert snapshot.repo == spec.repo and snapshot.revision == spec.revision
    assert snapshot.path.parent.name == "snapshots" and (snapshot.path / "masknet.ckpt").is_symlink()
    model = load_separator(snapshot.path)
    assert model.sample_rate == REPOS[name] and model.num_spks == 2
    mix = _mix(REPOS[name] // 4)
    ours = model.separate_many([mix], rate=REPOS[name])[0]
    from speechbrain.inference.separation import SepformerSeparation

    reference = SepformerSeparation.from_hparams(source=str(snapshot.path), savedir=str(tmp_path / "sb"))
    with torch.no_grad():
        theirs = reference.separate_batch(torch.from_numpy(mix)[None])[0].T.numpy()
    assert ours.shape == theirs.shape == (2, mix.size)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_named_system_and_model_dir_record_repo_commit_and_resampling(cache: Path, torch_one_thread):
    system = build_system(resolve_system_spec("sepformer-libri2mix", BenchConfig()))
    pin = hub.HUB_MODELS["sepformer-libri2mix"].revision
    assert system.config()["separator"] == {"model": "speechbrain/sepformer-libri2mix", "revision": pin,
                                            "model_sample_rate": 8000, "resampling": "16000->8000->16000 Hz"}
    config = BenchConfig(systems={"sf": {"family": "sepformer", "model_dir": "speechbrain/sepformer-libri2mix"}})
    assert build_system(resolve_system_spec("sf", config)).key() == system.key()  # the same system by either name
    from bench.records import LoadedMixture, Mixture

    item = LoadedMixture(Mixture("m", Path("m.wav"), (Path("a"), Path("b")), 16000, 4000), _mix(4000), None)
    [sep] = system.separate([item])
    assert sep.estimates.shape == (2, 4000) and np.isfinite(sep.estimates).all()
    whamr = build_system(resolve_system_spec("sepformer-whamr16k", BenchConfig()))
    assert whamr.config()["separator"]["resampling"] == "none"
    fstc = BenchConfig(systems={"fstc-whamr@2": {"family": "fstc", "model_dir": "speechbrain/sepformer-whamr16k"}})
    assert build_system(resolve_system_spec("fstc-whamr@2", fstc)).config()["separator"]["model"] == \
        "speechbrain/sepformer-whamr16k"


def test_absent_hub_separator_is_one_line_naming_the_fetch_command(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("JSAC_BENCH_CACHE", str(tmp_path / "jsac"))
    with pytest.raises(BenchError, match=r"^system 'sepformer-libri2mix': separator weights "
                                         r"speechbrain/sepformer-libri2mix@eb43c5bfbb2a are not in the Hugging Face "
                                         r"cache .*; get them with: bench assets fetch sepformer-libri2mix$"):
        build_system(resolve_system_spec("sepformer-libri2mix", BenchConfig()))
    config = BenchConfig(systems={"fstc-w@2": {"family": "fstc", "model_dir": "speechbrain/sepformer-whamr16k"}})
    assert run_hint(resolve_system_spec("fstc-w@2", config)) == \
        "bench assets fetch sepformer-whamr16k, then bench run --systems fstc-w@2"
    with pytest.raises(BenchError, match="huggingface-cli download someone/sepformer-x"):
        locate("someone/sepformer-x")


def test_hostile_yaml_in_a_hub_snapshot_is_refused(tmp_path: Path, monkeypatch, hub_dir: Path):
    folder = tmp_path / "evil"
    folder.mkdir()
    for name in ("encoder.ckpt", "masknet.ckpt", "decoder.ckpt"):
        os.link(hub_dir / "plain" / "sepformer-whamr16k" / name, folder / name)
    text = (UPSTREAM / "sepformer-whamr16k.yaml").read_text() + "boom: !apply:os.system [touch x]\n"
    (folder / "hyperparams.yaml").write_text(text)
    put_in_hub_cache(tmp_path / "hub", "someone/sepformer-evil", "e" * 40, folder)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    config = BenchConfig(systems={"evil": {"family": "sepformer", "model_dir": "someone/sepformer-evil"}})
    with pytest.raises(BenchError, match=r"hyperparams.yaml: refused tag !apply:os.system"):
        build_system(resolve_system_spec("evil", config))
