"""FCTS/FSTC: bitrate accounting, invalid rates, and what each stage sees (with a fake codec)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.baselines import codecs
from bench.baselines.codecs.base import Codec
from bench.config import BenchConfig, resolve_system_spec
from bench.errors import BenchError
from bench.records import TokenStream, stream_bits

RATE = 16000


class FakeCodec(Codec):
    """Deterministic stand-in: 50 frames/s, 10-bit tokens, ``mode`` tokens per frame.

    Decoding gives back a coarse, mode-dependent version of the input, so tests can
    tell whether a stage saw coded or uncoded audio.
    """

    name = "fake"

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def modes(self) -> dict[float, int]:
        return {0.5: 1, 1.0: 2, 2.0: 4, 4.0: 8}

    def frame_rate(self, mode: int) -> float:
        return 50.0

    def bits_per_frame(self, mode: int) -> int:
        return 10 * mode

    def encode(self, wave: np.ndarray, mode: int) -> TokenStream:
        frames = self.num_frames(wave.shape[-1], mode)
        padded = np.pad(wave, (0, frames * 320 - wave.shape[-1]))
        level = np.abs(padded.reshape(frames, 320)).mean(axis=1)
        tokens = np.clip(np.round(level * 1000), 0, 1023).astype(np.uint16)
        return TokenStream(tokens=np.repeat(tokens[None], mode, axis=0), bits_per_token=10)

    def decode(self, payload: TokenStream, mode: int, num_samples: int) -> np.ndarray:
        level = payload.tokens[0].astype(np.float32) / 1000
        t = np.arange(level.size * 320)
        wave = np.repeat(level, 320) * np.sin(2 * np.pi * 200 * mode * t / RATE)
        return wave[:num_samples].astype(np.float32)


@pytest.fixture
def fake_codec():
    codecs.CODECS.register("fake", f"{__name__}:FakeCodec")
    yield
    codecs.CODECS.unregister("fake")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    from test_separators import make_model_dir

    return make_model_dir(tmp_path_factory.mktemp("pipe") / "model")


def build(name: str, model_dir: Path, **extra):
    from bench.catalog import build_system

    config = BenchConfig(systems={name: {"family": name.partition("@")[0].split("-")[0], "codec": "fake",
                                         "model_dir": str(model_dir), **extra}})
    return build_system(resolve_system_spec(name, config))


def mixture_item(n: int = 8000, seed: int = 0):
    from bench.records import LoadedMixture, Mixture

    rng = np.random.default_rng(seed)
    record = Mixture(f"m{seed}", Path("m.wav"), (Path("a"), Path("b")), RATE, n)
    return LoadedMixture(record, (0.1 * rng.standard_normal(n)).astype(np.float32), None)


def test_fcts_sends_one_stream_of_b_kbps(fake_codec, model_dir: Path) -> None:
    system = build("fcts@1", model_dir)
    item = mixture_item(8000)
    (result,) = system.separate([item])
    assert len(result.payload) == 1 and result.estimates.shape == (2, 8000)
    assert stream_bits(result.payload[0]) == 1000 * 0.5 * 1  # 0.5 s at 1 kbps
    # the separator saw the decoded mixture, not the original
    codec = FakeCodec()
    decoded = codec.decode(codec.encode(item.mixture, 2), 2, 8000)
    expected = system.stage.separate([decoded], 1)[0]
    np.testing.assert_allclose(result.estimates, expected, atol=1e-6)
    assert system.config()["codec"]["kbps_per_stream"] == 1.0


def test_fstc_sends_two_streams_of_half_b(fake_codec, model_dir: Path) -> None:
    fstc = build("fstc@1", model_dir)
    fcts = build("fcts@1", model_dir)
    item = mixture_item(8000, seed=1)
    (result,) = fstc.separate([item])
    assert len(result.payload) == 2 and result.estimates.shape == (2, 8000)
    assert [stream_bits(p) for p in result.payload] == [250, 250]   # 0.5 s at 0.5 kbps each
    assert sum(map(stream_bits, result.payload)) == stream_bits(fcts.separate([item])[0].payload[0])
    separated = fstc.stage.separate([item.mixture], 1)[0]
    codec = FakeCodec()
    for k in range(2):
        coded = codec.decode(codec.encode(separated[k], 1), 1, 8000)
        np.testing.assert_allclose(result.estimates[k], coded, atol=1e-6)


def test_batches_equal_one_by_one(fake_codec, model_dir: Path) -> None:
    system = build("fstc@2", model_dir)
    items = [mixture_item(6000, 2), mixture_item(7000, 3), mixture_item(6000, 4)]
    together = system.separate(items)
    for item, result in zip(items, together):
        np.testing.assert_allclose(result.estimates, system.separate([item])[0].estimates, atol=1e-5)


@pytest.mark.parametrize("name, fragment", [
    ("fstc@3", "system 'fstc@3': codec 'fake' cannot run at 1.5 kbps; valid rates (kbps): 0.5, 1, 2, 4"),
    ("fcts@3", "system 'fcts@3': codec 'fake' cannot run at 3 kbps"),
    ("fcts", "needs a bitrate"),
])
def test_invalid_bitrates_name_the_system(fake_codec, model_dir: Path, name: str, fragment: str) -> None:
    with pytest.raises(BenchError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        build(name, model_dir)


def test_harness_attributes_bits_per_output(fake_codec, model_dir: Path, small_tree: Path, tmp_path: Path) -> None:
    from bench.data import DatasetSpec, open_dataset
    from bench.run.runner import RunRequest, run
    from bench.store import Store

    config = BenchConfig(systems={n: {"family": n[:4], "codec": "fake", "model_dir": str(model_dir)}
                                  for n in ("fcts@1", "fstc@1")})
    dataset = open_dataset(DatasetSpec(root=small_tree, limit=2))
    store = Store(tmp_path / "results")
    run(RunRequest(systems=["fcts@1", "fstc@1"], metrics=["sisnri"]), dataset, store, config)
    keys = store.frame("SELECT name, system_key FROM systems").set_index("name")["system_key"]
    mixture = dataset.mixtures[0]
    fcts = store.separation(dataset.fingerprint, keys["fcts@1"], mixture.mixture_id)
    fstc = store.separation(dataset.fingerprint, keys["fstc@1"], mixture.mixture_id)
    frames = int(np.ceil(mixture.num_samples * 50 / RATE))
    assert fcts.payload_bits == fstc.payload_bits == frames * 20
    assert [e.payload_bits for e in fstc.estimates] == [frames * 10] * 2
    assert [e.payload_bits for e in fcts.estimates] == [None, None]
