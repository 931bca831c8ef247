"""``bench listen export``: folder layout, blinding, loudness, A/B balance, gold items, sampling."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from libri2mix_tree import IDS
from test_listen_support import export_batch, make_store

from bench.cli import main
from bench.errors import BenchError
from bench.listen.blinding import find_leaks
from bench.listen.clips import speaker_of
from bench.listen.hit_page import placeholders

TOKEN_FILE = re.compile(r"^[a-z2-7]{16}\.wav$")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return make_store(tmp_path_factory.mktemp("listen-export"))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def key_of(out: Path) -> dict[str, dict[str, str]]:
    return {r["token"]: r for r in read_csv(out / "secret" / "SECRET_key.csv")}


def token(url: str) -> str:
    return url.rsplit("/", 1)[-1].removesuffix(".wav")


def secrets_in(text: str) -> list[str]:
    """Independent leak check: any system name or ID as a plain substring."""
    low = text.lower()
    words = {"clean", "mixture", "kbps"} | {m.lower() for m in IDS} | {u for m in IDS for u in m.split("_")}
    return sorted(w for w in words if w in low)


def test_nabx_export_from_the_cli(results: Path, tmp_path: Path, capsys):
    out = tmp_path / "abx"
    code = main(["listen", "export", "--test", "nabx", "--pair", "clean:mixture", "--base-url",
                 "https://example.org/abx", "--results", str(results), "--out", str(out),
                 "--samples", "6", "--items-per-hit", "4", "--seed", "1"])
    assert code == 0
    assert "NABX: 2 HITs x 5 items" in capsys.readouterr().out
    # what is uploaded and what is kept live in separate folders: "upload public/" cannot leak the key
    assert sorted(p.name for p in out.iterdir()) == ["README.txt", "public", "secret"]
    assert sorted(p.name for p in (out / "public").iterdir()) == ["audio", "hit.html", "hits.csv"]
    assert sorted(p.name for p in (out / "secret").iterdir()) == ["SECRET_export.json", "SECRET_key.csv"]
    assert not [p for p in (out / "public").rglob("*") if "SECRET" in p.name or "export" in p.name]
    readme = (out / "README.txt").read_text()
    assert "Upload only what is in public/. NEVER upload secret/" in readme and "MaxAssignments" in readme

    hits, key = read_csv(out / "public" / "hits.csv"), key_of(out)
    assert len(hits) == 2
    columns = list(hits[0])
    assert columns == ["hit_ref"] + [f"{f}{i}" for i in range(1, 6) for f in ("a", "b")]
    page = (out / "public" / "hit.html").read_text()
    assert placeholders(page) == set(columns)
    assert "<crowd-form" in page and "https://assets.crowd.aws/crowd-html-elements.js" in page

    # blinding: random names only, every clip in the key, nothing identifying anywhere uploaded
    names = sorted(p.name for p in (out / "public" / "audio").iterdir())
    assert all(TOKEN_FILE.match(n) for n in names)
    assert sorted(f"{t}.wav" for t in key) == names
    urls = [row[c] for row in hits for c in columns[1:]]
    assert all(u.startswith("https://example.org/abx/") and token(u) in key for u in urls)
    assert secrets_in("\n".join(names)) == []
    assert secrets_in((out / "public" / "hits.csv").read_text()) == []
    assert secrets_in(page) == []

    # audio: 16-bit PCM at -26 LUFS (BS.1770 measured here independently)
    for row in key.values():
        info = sf.info(str(out / "public" / row["file"]))
        assert info.subtype == "PCM_16" and info.channels == 1
        audio, rate = sf.read(str(out / "public" / row["file"]))
        if row["peak_limited"] == "0":
            assert pyloudnorm.Meter(rate).integrated_loudness(audio) == pytest.approx(-26.0, abs=0.3)
        assert np.max(np.abs(audio)) <= 10 ** (-1 / 20) + 1e-4

    # pairs: the same utterance on both sides; clean in A for exactly half of the utterances
    test_pairs, gold = set(), []
    for row in hits:
        gold_slots = 0
        for i in range(1, 6):
            a, b = key[token(row[f"a{i}"])], key[token(row[f"b{i}"])]
            if a["role"] == "stimulus":
                assert b["role"] == "stimulus" and {a["system"], b["system"]} == {"clean", "mixture"}
                assert (a["mixture_id"], a["source"]) == (b["mixture_id"], b["source"])
                test_pairs.add((a["system"], a["mixture_id"], a["source"]))
            else:
                assert {a["role"], b["role"]} == {"gold_natural", "gold_anchor"}
                gold.append((a, b))
                gold_slots += 1
        assert gold_slots == 1
    assert len(test_pairs) == 6
    assert Counter(s for s, _, _ in test_pairs) == {"clean": 3, "mixture": 3}
    tested = {m for _, m, _ in test_pairs}
    assert len(tested) == 6  # one source per mixture while mixtures last
    # gold utterances come from mixtures not under test; the natural side alternates between A and B
    assert all(a["mixture_id"] not in tested and b["mixture_id"] not in tested for a, b in gold)
    assert [a["role"] for a, _ in gold] == ["gold_natural", "gold_anchor"]
    settings = json.loads((out / "secret" / "SECRET_export.json").read_text())
    assert settings["pairs"] == [["clean", "mixture"]] and settings["num_hits"] == 2


def test_export_is_reproducible_for_a_seed(results: Path, tmp_path: Path):
    one = export_batch(results, tmp_path / "one", "nabx").out
    two = export_batch(results, tmp_path / "two", "nabx").out
    other = export_batch(results, tmp_path / "three", "nabx", seed=4).out
    assert (one / "public" / "hits.csv").read_text() == (two / "public" / "hits.csv").read_text()
    assert (one / "secret" / "SECRET_key.csv").read_text() == (two / "secret" / "SECRET_key.csv").read_text()
    assert set(key_of(one)).isdisjoint(key_of(other))


def test_mos_exports_have_gold_and_references(results: Path, tmp_path: Path):
    out = export_batch(results, tmp_path / "smos", "smos", samples=5, items_per_hit=4).out
    hits, key = read_csv(out / "public" / "hits.csv"), key_of(out)
    assert len(hits) == 3  # 10 ratings, 4 per HIT, the last HIT topped up
    assert list(hits[0]) == ["hit_ref"] + [f"{f}{i}" for i in range(1, 7) for f in ("ref", "clip")]
    rated = Counter()
    for row in hits:
        roles = Counter()
        for i in range(1, 7):
            ref, clip = key[token(row[f"ref{i}"])], key[token(row[f"clip{i}"])]
            roles[clip["role"]] += 1
            assert ref["role"] == "reference" and ref["system"] == ""
            ref_item = (ref["mixture_id"], int(ref["source"]) - 1)
            clip_item = (clip["mixture_id"], int(clip["source"]) - 1)
            if clip["role"] == "gold_anchor":
                assert speaker_of(ref_item) != speaker_of(clip_item)  # another speaker, degraded
            else:
                # same speaker, another utterance (the tree has several per speaker)
                assert speaker_of(ref_item) == speaker_of(clip_item)
                assert ref["mixture_id"].split("_")[int(ref["source"]) - 1] != \
                    clip["mixture_id"].split("_")[int(clip["source"]) - 1]
            if clip["role"] == "stimulus":
                rated[(clip["system"], clip["mixture_id"], clip["source"])] += 1
        assert roles == {"stimulus": 4, "gold_natural": 1, "gold_anchor": 1}
    assert {s for s, _, _ in rated} == {"clean", "mixture"} and len(rated) == 10
    assert sum(rated.values()) == 12 and max(rated.values()) <= 2
    # all systems rated on the same utterances
    assert {(m, j) for s, m, j in rated if s == "clean"} == {(m, j) for s, m, j in rated if s == "mixture"}


def test_anchor_is_the_degraded_natural_clip(results: Path, tmp_path: Path):
    out = export_batch(results, tmp_path / "nmos", "nmos", systems=["clean"], samples=2, items_per_hit=2).out
    key = key_of(out)
    (anchor,) = [r for r in key.values() if r["role"] == "gold_anchor"]
    # the natural clip of the anchor's utterance, as the clean system stored it
    store = sqlite3.connect(results / "bench.sqlite")
    path, perm = store.execute(
        "SELECT e.path, p.permutation FROM estimates e JOIN separations p USING (dataset_key, system_key, mixture_id) "
        "JOIN systems s USING (system_key) WHERE s.name='clean' AND e.mixture_id=? AND e.output_index=?",
        (anchor["mixture_id"], int(anchor["source"]) - 1)).fetchone()
    assert json.loads(perm) == [0, 1]
    natural, rate = sf.read(str(results / path))
    degraded, _ = sf.read(str(out / "public" / anchor["file"]))
    # correlated with the natural clip but far from it: low-pass plus speech-correlated noise at Q = 5 dB
    corr = np.corrcoef(natural, degraded)[0, 1]
    assert 0.2 < corr < 0.8


def test_natural_speech_from_dataset_files_without_clean(tmp_path: Path):
    results = make_store(tmp_path, systems=("mixture",), seconds=0.5)
    out = export_batch(results, tmp_path / "nmos", "nmos", systems=["mixture"], samples=3, items_per_hit=3).out
    key = key_of(out)
    natural = [r for r in key.values() if r["role"] == "gold_natural"]
    assert natural
    data = tmp_path / "data" / "Libri2Mix" / "wav16k" / "min" / "test"
    for row in natural:
        source, _ = sf.read(str(data / f"s{row['source']}" / f"{row['mixture_id']}.wav"))
        exported, _ = sf.read(str(out / "public" / row["file"]))
        assert np.corrcoef(source, exported)[0, 1] > 0.9999
    assert "the dataset's source files" in (out / "README.txt").read_text()


def test_samples_come_from_items_every_system_has(results: Path, tmp_path: Path):
    copy = tmp_path / "results"
    copy.mkdir()
    with sqlite3.connect(results / "bench.sqlite") as src, sqlite3.connect(copy / "bench.sqlite") as dst:
        src.backup(dst)
    (copy / "audio").symlink_to(results / "audio")
    dropped = IDS[2]
    with sqlite3.connect(copy / "bench.sqlite") as db:
        key = db.execute("SELECT system_key FROM systems WHERE name='mixture'").fetchone()[0]
        db.execute("DELETE FROM estimates WHERE system_key=? AND mixture_id=?", (key, dropped))
        db.execute("DELETE FROM separations WHERE system_key=? AND mixture_id=?", (key, dropped))
    out = export_batch(copy, tmp_path / "abx", "nabx", samples=7, items_per_hit=7).out
    tested = {r["mixture_id"] for r in key_of(out).values() if r["role"] == "stimulus"}
    assert len(tested) == 7 and dropped not in tested
    with pytest.raises(BenchError, match="only 14 .* asked for 15"):
        export_batch(copy, tmp_path / "abx2", "nabx", samples=15)


@pytest.mark.parametrize("options, message", [
    (dict(test="nabx", pairs=[("clean", "codesep")]), "system 'codesep' has no stored estimates"),
    (dict(test="nabx", pairs=[], systems=["clean"]), "--pair first:second"),
    (dict(test="nmos", systems=[], pairs=[("clean", "mixture")]), "--systems"),
    (dict(test="nabx", base_url="example.org/x"), "expected an http"),
    (dict(test="nabx", items_per_hit=0), "items per HIT must be at least 1"),
])
def test_bad_requests_are_one_line_errors(results: Path, tmp_path: Path, options, message):
    test = options.pop("test")
    with pytest.raises(BenchError, match=message):
        export_batch(results, tmp_path / "out", test, **options)


def test_refuses_a_non_empty_output_folder(results: Path, tmp_path: Path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.wav").write_bytes(b"")
    code = main(["listen", "export", "--test", "nabx", "--pair", "clean:mixture", "--base-url", "https://e.org/",
                 "--results", str(results), "--out", str(tmp_path / "out")])
    assert code == 2 and "not empty" in capsys.readouterr().err


def test_leak_scan_finds_names_but_not_parts_of_tokens():
    secrets = ["clean", "fstc@2", "fstc", "1089-134686-0000"]
    assert find_leaks({"hits.csv": "https://x.org/cleanab2cd3.wav"}, secrets) == []
    assert find_leaks({"hits.csv": "https://x.org/clean_s1.wav"}, secrets) == ["hits.csv: contains 'clean'"]
    assert find_leaks({"names": "1089-134686-0000.wav"}, secrets) == ["names: contains '1089-134686-0000'"]
    assert find_leaks({"page": "at 2 kbps"}, secrets) == ["page: mentions a bitrate"]
