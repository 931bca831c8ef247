"""Bad and hostile inputs (issue 16): each ends in one ``bench: error:`` line with exit status 2 (or a
documented warning), loses nothing finished, writes nothing outside the folders given, runs no foreign code.

Every test builds its own small hostile file.  Untrusted *model* files (checkpoints, hyperparams.yaml) are
in ``test_untrusted_files.py``.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bench.cli import main
from bench.data import DatasetSpec, open_dataset
from bench.errors import BenchError
from bench.paths import child, inside, path_component
from bench.run.runner import RunRequest, run
from bench.store import Store

HOSTILE_IDS = ["../../../../x", "/abs/x", "", "..", ".", "a/b", "a\\b", "tab\there"]


def one_error_line(capsys, *fragments: str) -> str:
    """The captured stderr, asserted to be one ``bench: error:`` line containing every fragment."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error:") and "\n" not in err, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


def rewrite_csv(tree: Path, edit) -> Path:
    """Apply ``edit(rows)`` to the mix_clean test CSV of a small tree (rows are dicts)."""
    path = tree / "wav16k" / "min" / "metadata" / "mixture_test_mix_clean.csv"
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    edit(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


# -- paths: nothing outside --results, no two mixtures share a file ---------------------------------------
@pytest.mark.parametrize("bad_id", HOSTILE_IDS)
def test_hostile_mixture_id_is_refused_when_the_csv_is_read(small_tree: Path, tmp_path: Path, capsys, monkeypatch,
                                                            bad_id: str):
    csv_path = rewrite_csv(small_tree, lambda rows: rows[3].update(mixture_ID=bad_id))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = files_under(tmp_path)
    assert main(["run", "--systems", "mixture,clean", "--metrics", "sisnri", "--data", str(small_tree),
                 "--results", str(work / "results"), "--quiet"]) == 2
    one_error_line(capsys, str(csv_path), "row 5")
    written = files_under(tmp_path) - before
    assert all(work / "results" in p.parents for p in written), written
    assert not list((work / "results").glob("audio/**/*.wav"))


def test_estimate_paths_are_inside_and_distinct():
    """The path function itself: every ID and system name, hostile or not, maps inside and injectively."""
    store_root = Path("/results")
    names = HOSTILE_IDS + ["1089-134686-0000_121-121726-0001", "%2E.", "%", "a%2Fb", ".hidden", "é", "x" * 300]
    paths = set()
    for system in ["mixture", "clean", "..", ".", "", "a/b", "%2E%2E"]:
        out = child(store_root / "audio", system, "0123456789ab", "ba9876543210")
        for mid in names:
            for k in range(2):
                path = Store.estimate_path(out, mid, k)
                assert store_root / "audio" in path.parents
                assert ".." not in path.parts and all(part not in ("", ".") for part in path.parts[1:])
                paths.add(path)
    assert len(paths) == 7 * len(names) * 2
    assert path_component("1089-134686-0000_121-121726-0001") == "1089-134686-0000_121-121726-0001"


@pytest.mark.parametrize("stored", ["../outside.wav", "/etc/passwd", "audio/../../x.wav", "", "c:/x.wav"])
def test_stored_paths_that_leave_the_results_folder_are_refused(tmp_path: Path, stored: str):
    with pytest.raises(BenchError, match="leaves the folder"):
        inside(tmp_path, stored)


def test_system_named_dotdot_stays_in_its_folder(small_tree: Path, tmp_path: Path, monkeypatch):
    (tmp_path / "bench.toml").write_text('[systems.".."]\nfamily = "mixture"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--systems", "..", "--metrics", "sisnri", "--data", str(small_tree), "--limit", "2",
                 "--quiet"]) == 0
    results = tmp_path / "results"
    wavs = sorted(results.rglob("*.wav"))
    assert len(wavs) == 4
    assert all(p.relative_to(results).parts[:2] == ("audio", "%2E.") for p in wavs), wavs
    assert not any(p.suffix == ".wav" for p in results.iterdir())


def test_merge_refuses_a_database_whose_paths_leave_the_folder(small_tree: Path, tmp_path: Path, capsys):
    for name in ("r1", "r2"):
        run(RunRequest(systems=["mixture"], metrics=["sisnri"]), open_dataset(DatasetSpec(root=small_tree, limit=2)),
            Store(tmp_path / name))
    with sqlite3.connect(tmp_path / "r1" / "bench.sqlite") as conn:
        conn.execute("UPDATE estimates SET path = '../../escaped.wav' WHERE output_index = 0")
    assert main(["merge", str(tmp_path / "r1"), str(tmp_path / "r2"), "--results", str(tmp_path / "m")]) == 2
    one_error_line(capsys, str(tmp_path / "r1"), "'../../escaped.wav' leaves the folder")
    assert not (tmp_path / "m").exists()  # refused before anything was written
    assert not (tmp_path / "escaped.wav").exists() and not (tmp_path.parent / "escaped.wav").exists()


# -- numbers that are not speech ----------------------------------------------------------------------------
def _victim(tree: Path, index: int, sub: str) -> Path:
    dataset = open_dataset(DatasetSpec(root=tree))
    mixture = dataset.mixtures[index]
    return mixture.mixture_path if sub == "mix" else mixture.source_paths[int(sub[1]) - 1]


@pytest.mark.parametrize("sub, value", [("mix", np.nan), ("s1", np.inf), ("s2", -np.inf)])
def test_non_finite_input_is_named_and_finished_work_is_kept(small_tree: Path, tmp_path: Path, capsys,
                                                             monkeypatch, sub: str, value: float):
    victim = _victim(small_tree, 5, sub)
    audio, rate = sf.read(victim, dtype="float32")
    audio[10] = value
    sf.write(victim, audio, rate, subtype="FLOAT")
    assert main(["data", "check", str(small_tree), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert f"error: {victim}: holds non-finite samples" in out
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--systems", "mixture", "--metrics", "sisnri", "--data", str(small_tree), "--quiet"]) == 2
    err = one_error_line(capsys, str(victim), "non-finite")
    assert "system" not in err.split(":", 2)[1]  # the data is blamed, not the system
    with sqlite3.connect(tmp_path / "results" / "bench.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM separations").fetchone()[0] == 5


@pytest.mark.parametrize("case", ["one-sample", "0.05s", "silent-source", "all-silent"])
def test_too_short_or_silent_inputs_are_data_errors(tmp_path: Path, capsys, monkeypatch, case: str):
    from libri2mix_tree import IDS, build_tree

    lengths = {mid: 4000 for mid in IDS}
    if case in ("one-sample", "0.05s"):
        lengths[IDS[2]] = 1 if case == "one-sample" else 800
    tree = build_tree(tmp_path / "data", lengths=lengths, mix_types=("mix_clean",))
    dataset = open_dataset(DatasetSpec(root=tree))
    mixture = dataset.mixtures[2]
    expected = {"one-sample": "shorter than the 0.25 s minimum", "0.05s": "shorter than the 0.25 s minimum",
                "silent-source": "reference is silent", "all-silent": "reference is silent"}[case]
    if case in ("silent-source", "all-silent"):
        silent = mixture.source_paths if case == "all-silent" else mixture.source_paths[:1]
        for path in silent:
            sf.write(path, np.zeros(4000, dtype=np.float32), 16000)
        s1, s2 = (sf.read(p, dtype="float32")[0] for p in mixture.source_paths)
        sf.write(mixture.mixture_path, s1 + s2, 16000)
    assert main(["data", "check", str(tree), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert expected in out and mixture.mixture_id in out
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--systems", "clean", "--metrics", "sisnri,stoi", "--data", str(tree), "--quiet"]) == 2
    one_error_line(capsys, expected, mixture.mixture_id)
    with sqlite3.connect(tmp_path / "results" / "bench.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM separations").fetchone()[0] == 2
    # the finished mixtures score later; 0.25 s of noise is too little for STOI: failed with the reason, not 1e-5
    assert main(["score", "--metrics", "stoi", "--data", str(tree), "--quiet"]) == 0
    with sqlite3.connect(tmp_path / "results" / "bench.sqlite") as conn:
        rows = conn.execute("SELECT status, value, reason FROM metric_values WHERE metric='stoi'").fetchall()
    assert len(rows) == 4 and all(status == "failed" and "STOI is undefined" in reason for status, _, reason in rows)


def test_stoi_without_enough_speech_is_an_error_not_1e5():
    from bench.metrics.stoi import TooFewFrames, stoi

    rng = np.random.default_rng(0)
    short = rng.standard_normal(4000).astype(np.float32)
    with pytest.raises(TooFewFrames, match="STOI is undefined"):
        stoi(short, short, 16000)
    long = rng.standard_normal(32000).astype(np.float32)
    assert stoi(long, long, 16000) == pytest.approx(1.0, abs=1e-6)


# -- stored estimates are a cache ---------------------------------------------------------------------------
def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_estimate_is_separated_again_on_rerun(small_tree: Path, tmp_path: Path, caplog):
    dataset = open_dataset(DatasetSpec(root=small_tree, limit=3))
    store = Store(tmp_path / "results")
    run(RunRequest(systems=["mixture"], metrics=["sisnri"]), dataset, store)
    values = store.frame("SELECT mixture_id, source_index, value FROM metric_values ORDER BY 1, 2")
    victim = sorted((tmp_path / "results" / "audio").rglob("s2.wav"))[1]
    _truncate(victim)
    again = run(RunRequest(systems=["mixture"], metrics=["sisnri"]), dataset, store)
    assert again.separated == {"mixture": 1}
    assert "1 stored estimate(s) missing or damaged, separating them again" in caplog.text
    assert str(victim) in caplog.text
    assert sf.info(str(victim)).frames == dataset.mixtures[1].num_samples
    assert store.frame("SELECT mixture_id, source_index, value FROM metric_values ORDER BY 1, 2").equals(values)


def test_bench_score_drops_a_damaged_estimate_and_says_which_run_redoes_it(small_tree: Path, tmp_path: Path,
                                                                           capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--data", str(small_tree), "--limit", "3", "--quiet"]
    assert main(["run", "--systems", "mixture", "--no-metrics", *args]) == 0
    victim = sorted((tmp_path / "results" / "audio").rglob("s1.wav"))[0]
    victim.unlink()
    assert main(["score", "--metrics", "sisnri", *args]) == 2
    warning, error = capsys.readouterr().err.strip().splitlines()
    assert warning.startswith("WARNING") and f"{victim.relative_to(tmp_path)}: missing" in warning
    assert error.startswith("bench: error:") and "1 stored estimate(s) of mixture were missing or damaged" in error
    assert "`bench run --systems mixture`" in error
    with sqlite3.connect(tmp_path / "results" / "bench.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM separations").fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM metric_values WHERE status != 'ok'").fetchone()[0] == 0
    assert main(["run", "--systems", "mixture", "--metrics", "sisnri", *args]) == 0
    assert victim.is_file()


# -- configuration --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("toml, system, fragments", [
    ('[systems."fstc-x"]\nfamily = "fstc"\nkbps = "twelve"\n', "fstc-x", ['[systems."fstc-x"]', "kbps", "number"]),
    ('[systems.ts]\nfamily = "tokensplit"\ntemperature = "hot"\n', "ts",
     ['[systems."ts"]', "temperature = 'hot'", "expected a number"]),
    ('[systems.ts]\nfamily = "tokensplit"\ntop_k = 1.5\n', "ts", ["top_k = 1.5", "expected an integer"]),
    ('[systems.m]\nfamily = "mixture"\nfoo = 1\n', "m", ['[systems."m"]', "unknown key 'foo'", "valid keys: none"]),
    ('[systems.c]\nfamily = "codec"\nkbps = 2\ncheckpiont = "/my/model.pt"\n', "c",
     ["unknown key 'checkpiont'", "did you mean 'checkpoint'?"]),
    ('[systems.f]\nfamily = "fstc"\nkbps = 2\ncodec_options = {checkpiont = "/x.pt"}\n', "f",
     ["codec_options", "unknown key 'checkpiont'", "did you mean 'checkpoint'?"]),
    ('[sytems.m]\nfamily = "mixture"\n', "mixture", ["unknown section 'sytems'", "did you mean 'systems'?"]),
    ('[systems.m]\nfamily = 3\n', "m", ["family = 3"]),
])
def test_bad_config_values_and_unknown_keys_are_one_line(tmp_path: Path, capsys, monkeypatch, toml: str,
                                                          system: str, fragments: list[str]):
    (tmp_path / "bench.toml").write_text(toml)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--systems", system, "--metrics", "sisnri", "--limit", "1", "--quiet"]) == 2
    one_error_line(capsys, str(tmp_path / "bench.toml"), *fragments)


def test_valid_variant_options_still_pass(tmp_path: Path):
    from bench.catalog import SYSTEMS, build_system
    from bench.config import load_config, resolve_system_spec
    from bench.options import check_options

    (tmp_path / "bench.toml").write_text('[systems.ts]\nfamily = "tokensplit"\ntemperature = 0\ntop_k = 5\n'
                                         '[systems."codec-x@2"]\nfamily = "codec"\ncodec = "mdct_rvq"\n')
    config = load_config(tmp_path / "bench.toml")
    assert build_system(resolve_system_spec("codec-x@2", config)).kbps == 2
    spec = resolve_system_spec("ts", config)  # an int where a float is expected is fine
    check_options(SYSTEMS.entry(spec.family).load(), spec.options, spec.where)


# -- the results store under contention and permissions -------------------------------------------------
def test_locked_database_is_one_line_and_keeps_rows(small_tree: Path, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["run", "--systems", "mixture", "--metrics", "sisnri", "--data", str(small_tree), "--quiet"]
    assert main([*args, "--limit", "2"]) == 0
    db = tmp_path / "results" / "bench.sqlite"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr("bench.store.database.LOCK_TIMEOUT_S", 0.3)   # the module that reads it
    try:
        assert main(args) == 2
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    one_error_line(capsys, "results/bench.sqlite: database is locked", "another --results")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM separations").fetchone()[0] == 2


def test_results_folder_that_is_not_writable_is_one_line(small_tree: Path, tmp_path: Path, capsys, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: make the folder refuse new files as the kernel would
        import tempfile

        real = tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):
            if dir is not None and Path(dir) == results:
                raise PermissionError(13, "Permission denied", str(results))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    else:
        results.chmod(0o555)
    try:
        assert main(["run", "--systems", "mixture", "--metrics", "sisnri", "--data", str(small_tree),
                     "--results", str(results), "--quiet"]) == 2
    finally:
        results.chmod(0o755)
    one_error_line(capsys, str(results), "not writable")
    assert not (results / "bench.sqlite").exists()


def test_os_errors_become_one_line_naming_the_file(small_tree: Path, tmp_path: Path, capsys, monkeypatch):
    def full_disk(store):
        raise OSError(28, "No space left on device", str(store.root / "runs"))

    monkeypatch.setattr("bench.run.runner.new_run_dir", full_disk)
    assert main(["run", "--systems", "mixture", "--metrics", "sisnri", "--data", str(small_tree),
                 "--results", str(tmp_path / "r"), "--quiet"]) == 2
    one_error_line(capsys, str(tmp_path / "r" / "runs"), "No space left on device")


# -- the installed command as a real process --------------------------------------------------------------
def test_installed_bench_command_runs_and_fails_cleanly(small_tree: Path, tmp_path: Path):
    bench = Path(sys.executable).with_name("bench")
    assert bench.is_file(), f"console script not installed next to {sys.executable}"
    ok = subprocess.run([str(bench), "run", "--systems", "mixture", "--metrics", "sisnri", "--data", str(small_tree),
                         "--limit", "2", "--results", str(tmp_path / "r"), "--quiet"],
                        capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert ok.returncode == 0, ok.stderr
    rewrite_csv(small_tree, lambda rows: rows[0].update(mixture_ID="../../escape"))
    bad = subprocess.run([str(bench), "run", "--systems", "mixture", "--data", str(small_tree),
                          "--results", str(tmp_path / "r"), "--quiet"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error:") and "path separator" in lines[0], bad.stderr
