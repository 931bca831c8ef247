"""Registry lookups, lazy loading, entry points, and the system-name grammar."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.catalog import METRICS, SYSTEMS, build_system
from bench.config import BenchConfig, SystemSpec, load_config, resolve_system_spec, split_names
from bench.errors import BenchError
from bench.registry import Registry


def test_unknown_name_lists_what_exists():
    with pytest.raises(BenchError) as info:
        SYSTEMS.entry("nonesuch")
    message = str(info.value)
    assert "unknown system 'nonesuch'" in message and "clean" in message and "mixture" in message


def test_entries_are_lazy_strings_until_loaded():
    registry = Registry("thing", "jsac_bench.test-none")
    registry.register("late", "bench.metrics.sisnr:SISNRi")
    entry = registry.entry("late")
    assert isinstance(entry.target, str)
    assert entry.load().name == "sisnri"
    registry.register("broken", "bench.no_such_module:Thing")
    with pytest.raises(BenchError, match="cannot load 'broken'"):
        registry.entry("broken").load()


def test_decorator_registration():
    registry = Registry("thing", "jsac_bench.test-none")

    @registry.register("deco", kind="x")
    class Thing:
        pass

    assert registry.entry("deco").load() is Thing
    assert registry.entry("deco").meta == {"kind": "x"}


def test_entry_point_plugins_are_found(monkeypatch):
    class FakeEP:
        name = "plugin-metric"
        value = "bench.metrics.sisnr:SISNRi"
        dist = None

    monkeypatch.setattr("bench.registry.entry_points", lambda group: [FakeEP()] if group == "g" else [])
    registry = Registry("metric", "g")
    assert "plugin-metric" in registry.names()
    assert registry.entry("plugin-metric").load().name == "sisnri"


def test_builtin_metric_registered():
    assert "sisnri" in METRICS.names()


@pytest.mark.parametrize("name, family, kbps", [
    ("fstc@2", "fstc", 2.0), ("fcts@0.5", "fcts", 0.5), ("mixture", "mixture", None), ("codec@8", "codec", 8.0),
])
def test_family_at_kbps_grammar(name, family, kbps):
    assert resolve_system_spec(name, BenchConfig()) == SystemSpec(name, family, kbps)


def test_bad_bitrates_are_clear():
    with pytest.raises(BenchError, match="not a number"):
        resolve_system_spec("fstc@two", BenchConfig())
    with pytest.raises(BenchError, match="must be positive"):
        resolve_system_spec("fstc@0", BenchConfig())


def test_toml_variants(tmp_path: Path):
    path = tmp_path / "bench.toml"
    path.write_text('[systems."fstc-opus@12"]\nfamily = "fstc"\ncodec = "opus"\nkbps = 12\n'
                    '[systems."plain-mix"]\nfamily = "mixture"\n')
    config = load_config(path)
    assert resolve_system_spec("fstc-opus@12", config) == SystemSpec("fstc-opus@12", "fstc", 12.0, {"codec": "opus"})
    assert resolve_system_spec("plain-mix", config).family == "mixture"


@pytest.mark.parametrize("text, message", [
    ("[systems.x]\ncodec = 1\n", "needs a 'family' key"),
    ("[systems\n", "invalid TOML"),
    ("systems = 3\n", "must be tables"),
])
def test_bad_toml_names_the_file(tmp_path: Path, text, message):
    path = tmp_path / "bench.toml"
    path.write_text(text)
    with pytest.raises(BenchError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_split_names():
    assert split_names("a, b,c") == ["a", "b", "c"]
    with pytest.raises(BenchError, match="duplicate"):
        split_names("a,a")
    with pytest.raises(BenchError, match="empty"):
        split_names("a,,b")


def test_reference_systems_take_no_bitrate():
    with pytest.raises(BenchError, match="takes no bitrate"):
        build_system(SystemSpec("mixture@2", "mixture", 2.0))


def test_system_key_depends_on_config_and_checkpoints(tmp_path: Path):
    from bench.baselines.reference import MixtureSystem

    ckpt = tmp_path / "w.ckpt"
    ckpt.write_bytes(b"one")

    class WithWeights(MixtureSystem):
        def checkpoint_files(self):
            return [ckpt]

    a = WithWeights("a").key()
    assert WithWeights("renamed").key() == a  # the display name is not configuration
    ckpt.write_bytes(b"two!")
    assert WithWeights("a").key() != a
    assert MixtureSystem("m").key() != MixtureSystem("m", foo=1).key()


def test_dataclass_from_dict_rebuilds_nested_configs_from_json() -> None:
    """Checkpoint configs come back as JSON: nested dicts, lists for tuples, extra keys."""
    import json

    from bench.dataclass_dict import dataclass_from_dict
    from bench.systems.tokensplit.config import MaskingConfig, TokenSplitConfig

    original = TokenSplitConfig()
    data = json.loads(json.dumps(original.to_dict()))
    data["added_by_a_newer_version"] = 1
    rebuilt = dataclass_from_dict(TokenSplitConfig, data)
    assert rebuilt == original
    assert isinstance(rebuilt.masking, MaskingConfig)
    assert rebuilt.masking.region_fraction == (0.05, 0.3)
