"""``codec@b``: the oracle that codes each clean source at b/2 kbps, and its bit accounting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.catalog import build_system
from bench.config import BenchConfig, resolve_system_spec
from bench.errors import BenchError
from bench.records import LoadedMixture, Mixture, stream_bits
from test_codecs_helpers import random_checkpoint, speech_like


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return random_checkpoint(tmp_path_factory.mktemp("codec") / "random.pt")


def item(seconds: float = 1.0, seed: int = 0) -> LoadedMixture:
    sources = np.stack([speech_like(seconds, seed=seed), speech_like(seconds, seed=seed + 1)])
    n = sources.shape[1]
    record = Mixture(f"m{seed}", Path("m.wav"), (Path("a"), Path("b")), 16000, n)
    return LoadedMixture(record, sources.sum(0), sources)


def build(name: str, **options):
    config = BenchConfig(systems={name: {"family": "codec", **options}} if options else {})
    return build_system(resolve_system_spec(name, config))


def test_codec_at_2_sends_one_1kbps_stream_per_source(checkpoint: Path) -> None:
    system = build("codec@2", checkpoint=str(checkpoint))
    assert system.needs_references and system.mode == 2
    result = system.separate([item(3.0)])[0]
    assert result.estimates.shape == (2, 48000)
    assert len(result.payload) == 2
    frames = system.codec.num_frames(48000, 2)
    assert [stream_bits(s) for s in result.payload] == [2 * 10 * frames] * 2
    assert abs(sum(stream_bits(s) for s in result.payload) / 3.0 - 2000) <= 2 * 2 * 10 * 1.5 / 3.0


def test_key_follows_checkpoint(checkpoint: Path, tmp_path: Path) -> None:
    other = random_checkpoint(tmp_path / "other.pt", seed=7)
    assert build("codec@1", checkpoint=str(checkpoint)).key() != build("codec@1", checkpoint=str(other)).key()
    assert build("codec@1", checkpoint=str(checkpoint)).checkpoint_files() == (checkpoint,)


def test_codec2_variant_codes_each_source_at_half_the_rate() -> None:
    import pycodec2  # noqa: F401 - a hard dependency: missing is a failure, not a skip
    system = build("codec2@3.2", codec="codec2")
    assert system.mode == "1600" and system.checkpoint_files() == ()
    result = system.separate([item(1.0)])[0]
    bits = [stream_bits(s) for s in result.payload]
    assert all(abs(b - 1600) <= 64 + 64 for b in bits)           # 1 s plus framing and delay compensation


@pytest.mark.parametrize("name, options, message", [
    ("codec@0.7", {}, "codec 'mdct_rvq' cannot code 2 sources at 0.7 kbps in total; valid totals (kbps): 1, 2, 3"),
    ("codec2@3", {"codec": "codec2"}, "valid totals (kbps): 1.4, 2.4, 2.6, 2.8, 3.2, 4.8, 6.4"),
    ("codec", {}, "needs a total bitrate"),
])
def test_invalid_rates_are_named(name: str, options: dict, message: str) -> None:
    with pytest.raises(BenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(name, **options)


def test_one_by_one_equals_repeated_calls(checkpoint: Path) -> None:
    """max_batch_size is 1 and sources are coded singly: a result never depends on its batch."""
    system = build("codec@4", checkpoint=str(checkpoint))
    assert system.max_batch_size == 1
    a, b = item(0.6, seed=3), item(0.4, seed=5)
    together = system.separate([a, b])
    apart = [system.separate([a])[0], system.separate([b])[0]]
    for x, y in zip(together, apart):
        np.testing.assert_array_equal(x.estimates, y.estimates)
        for p, q in zip(x.payload, y.payload):
            np.testing.assert_array_equal(p.tokens, q.tokens)


def test_weights_status_reports_checkpoint(checkpoint: Path, tmp_path: Path) -> None:
    from bench.baselines.codec_only import CodecOnlySystem

    assert CodecOnlySystem.weights_status(checkpoint=str(checkpoint)) == "present"
    assert CodecOnlySystem.weights_status(checkpoint=str(tmp_path / "none.pt")).startswith("missing:")
