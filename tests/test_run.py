"""End-to-end runs on a small real-format tree: values, caching, resume after SIGKILL, reports."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from bench.cli import main
from bench.data import DatasetSpec, open_dataset
from bench.metrics.sisnr import SI_SNR_CEILING_DB, si_snr
from bench.report.plain import build_plain_report, render
from bench.run.runner import RunRequest, run
from bench.store import Store

TESTS = Path(__file__).parent


def count_rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("separations", "estimates", "metric_values")}


def test_mixture_and_clean_values(small_tree: Path, tmp_path: Path):
    dataset = open_dataset(DatasetSpec(root=small_tree))
    store = Store(tmp_path / "results")
    summary = run(RunRequest(systems=["mixture", "clean"], metrics=["sisnri"]), dataset, store)
    assert summary.separated == {"mixture": 8, "clean": 8}
    report = build_plain_report(store)
    assert report.means.loc["mixture", "sisnri_db"] == 0.0
    # clean: estimate at the ceiling, minus the mixture's own SI-SNR, averaged over sources
    expected = np.mean([SI_SNR_CEILING_DB - si_snr(item.mixture, ref)
                        for item in map(dataset.load, dataset.mixtures) for ref in item.sources])
    assert report.means.loc["clean", "sisnri_db"] == pytest.approx(expected, abs=1e-4)
    text = render(report, "md")
    assert "| clean | +∞ [1] |" in text and "| mixture | 0.00 |" in text
    # estimates are float WAVs identical to what the system produced
    row = store.separation(dataset.fingerprint, summary_key(store, "clean"), dataset.mixtures[0].mixture_id)
    est, _ = sf.read(store.resolve(row.estimates[0].path), dtype="float32")
    np.testing.assert_array_equal(est, dataset.load(dataset.mixtures[0]).sources[0])
    manifest = json.loads((summary.run_dir / "manifest.json").read_text())
    assert manifest["dataset"]["fingerprint"] == dataset.fingerprint
    assert {s["name"] for s in manifest["systems"]} == {"mixture", "clean"}
    assert "torch" in manifest["packages"] and manifest["device"] == "cpu"
    # a second run computes nothing new
    again = run(RunRequest(systems=["mixture", "clean"], metrics=["sisnri"]), dataset, store)
    assert again.separated == {"mixture": 0, "clean": 0} and again.scored == 0


def summary_key(store: Store, name: str) -> str:
    return store.frame("SELECT system_key FROM systems WHERE name=?", (name,))["system_key"].iloc[0]


def test_report_equals_independent_pandas_computation(small_tree: Path, tmp_path: Path):
    sys.path.insert(0, str(TESTS))
    import slow_plugin  # noqa: F401  registers slowhalf/slowenergy

    dataset = open_dataset(DatasetSpec(root=small_tree))
    store = Store(tmp_path / "results")
    run(RunRequest(systems=["slowhalf", "mixture"], metrics=["sisnri", "slowenergy"]), dataset, store)
    with sqlite3.connect(store.db_path) as conn:
        raw = pd.read_sql_query("SELECT s.name, m.metric, m.field, m.value FROM metric_values m "
                                "JOIN systems s USING(system_key) WHERE m.status='ok'", conn)
    report = build_plain_report(store)
    half = raw[(raw["name"] == "slowhalf") & (raw["metric"] == "slowenergy")]["value"].mean()
    assert report.means.loc["slowhalf", "slowenergy"] == pytest.approx(half)
    # the energy of half the mixture is a quarter of the mixture's, on average over the same items
    mix = raw[(raw["name"] == "mixture") & (raw["metric"] == "slowenergy")]["value"].mean()
    assert half == pytest.approx(mix / 4, rel=1e-5)
    payload = store.frame("SELECT payload_bits FROM separations WHERE system_key=?", (summary_key(store, "slowhalf"),))
    assert (payload["payload_bits"] == 1600).all()


def test_parallel_metrics_equal_serial(small_tree: Path, tmp_path: Path):
    dataset = open_dataset(DatasetSpec(root=small_tree))
    values = []
    for jobs in (1, 2):
        store = Store(tmp_path / f"results{jobs}")
        run(RunRequest(systems=["mixture", "clean"], metrics=["sisnri"], jobs=jobs), dataset, store)
        values.append(store.frame("SELECT s.name, mixture_id, source_index, field, value FROM metric_values "
                                  "JOIN systems s USING(system_key) ORDER BY 1, 2, 3, 4"))
    pd.testing.assert_frame_equal(values[0], values[1])


def test_unavailable_metric_is_recorded_with_reason(small_tree: Path, tmp_path: Path, monkeypatch):
    from bench.metrics.sisnr import SISNRi

    monkeypatch.setattr(SISNRi, "unavailable_reason", lambda self: "weights not found (test)")
    dataset = open_dataset(DatasetSpec(root=small_tree, limit=2))
    store = Store(tmp_path / "results")
    run(RunRequest(systems=["mixture"], metrics=["sisnri"]), dataset, store)
    text = render(build_plain_report(store), "md")
    assert "| mixture | — [1] |" in text
    assert "[1] sisnri unavailable: weights not found (test)" in text
    # once available, the same run fills the values and drops the unavailable state
    monkeypatch.undo()
    run(RunRequest(systems=["mixture"], metrics=["sisnri"]), dataset, store)
    states = store.frame("SELECT status, COUNT(*) AS n FROM metric_values GROUP BY status")
    assert states.set_index("status")["n"].to_dict() == {"ok": 8}


def _bench(args: list[str], cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    return subprocess.Popen([sys.executable, str(TESTS / "slow_plugin.py"), *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_rows(db: Path, table: str, minimum: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        if db.exists():
            try:
                if count_rows(db)[table] >= minimum:
                    return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"no {minimum} rows in {table} after {timeout}s")


@pytest.mark.slow
@pytest.mark.parametrize("phase, table, minimum", [("separation", "separations", 3), ("metrics", "metric_values", 5)])
def test_sigkill_then_resume_equals_clean_run(small_tree: Path, tmp_path: Path, phase, table, minimum):
    args = ["run", "--systems", "slowhalf,mixture", "--metrics", "sisnri,slowenergy", "--data", str(small_tree),
            "--quiet"]
    killed = tmp_path / "killed"
    proc = _bench([*args, "--results", str(killed)], tmp_path)
    _wait_for_rows(killed / "bench.sqlite", table, minimum, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = count_rows(killed / "bench.sqlite")
    assert partial[table] >= minimum
    resumed = _bench([*args, "--results", str(killed)], tmp_path)
    assert resumed.wait(120) == 0, resumed.communicate()
    clean = _bench([*args, "--results", str(tmp_path / "clean")], tmp_path)
    assert clean.wait(120) == 0, clean.communicate()
    assert count_rows(killed / "bench.sqlite") == count_rows(tmp_path / "clean" / "bench.sqlite")
    assert count_rows(killed / "bench.sqlite")["separations"] == 16
    leftovers = [p for p in (killed / "audio").rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []  # a kill mid-write may leave a temp file; the resumed run removes it
    with sqlite3.connect(killed / "bench.sqlite") as conn:
        dupes = conn.execute("SELECT COUNT(*) FROM (SELECT mixture_id, system_key, source_index, metric, field, "
                             "COUNT(*) c FROM metric_values GROUP BY 1,2,3,4,5 HAVING c > 1)").fetchone()[0]
    assert dupes == 0
    # the same values and the same audio as the uninterrupted run, not merely as many rows
    assert stored_values(killed) == stored_values(tmp_path / "clean")
    killed_audio, clean_audio = stored_audio(killed), stored_audio(tmp_path / "clean")
    assert killed_audio.keys() == clean_audio.keys() and len(killed_audio) == 32
    for key, audio in clean_audio.items():
        np.testing.assert_array_equal(killed_audio[key], audio, err_msg=str(key))


def stored_values(results: Path) -> dict:
    """(system, mixture, source, metric, field) -> (value, status), and each separation's permutation and bits."""
    with sqlite3.connect(results / "bench.sqlite") as conn:
        values = {row[:5]: row[5:] for row in conn.execute(
            "SELECT s.name, m.mixture_id, m.source_index, m.metric, m.field, m.value, m.status "
            "FROM metric_values m JOIN systems s USING (system_key)")}
        separations = {row[:2]: row[2:] for row in conn.execute(
            "SELECT s.name, p.mixture_id, p.permutation, p.payload_bits FROM separations p JOIN systems s "
            "USING (system_key)")}
    return {"values": values, "separations": separations}


def stored_audio(results: Path) -> dict:
    """(system, mixture, output) -> the decoded estimate."""
    with sqlite3.connect(results / "bench.sqlite") as conn:
        rows = conn.execute("SELECT s.name, e.mixture_id, e.output_index, e.path FROM estimates e "
                            "JOIN systems s USING (system_key)").fetchall()
    return {(name, mid, k): sf.read(str(results / path), dtype="float32")[0] for name, mid, k, path in rows}


def test_cli_run_and_report(small_tree: Path, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--systems", "mixture,clean", "--metrics", "sisnri", "--data", str(small_tree), "--limit", "3",
                 "--quiet"]) == 0
    assert (tmp_path / "results" / "bench.sqlite").exists()
    capsys.readouterr()
    assert main(["report", "--format", "csv"]) == 0
    frame = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out), index_col="system")
    assert frame.loc["mixture", "sisnri_db"] == 0.0
    assert main(["report", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["system"] for row in data["systems"]] == ["mixture", "clean"]


@pytest.mark.parametrize("args, fragment", [
    (["run", "--systems", "nonesuch"], "unknown system 'nonesuch'. Available:"),
    (["run", "--systems", "mixture", "--metrics", "nope"], "unknown metric 'nope'"),
    (["run", "--systems", "mixture@2"], "takes no bitrate"),
    (["run", "--systems", "mixture", "--data", "/no/such/root"], "/no/such/root"),
    (["run", "--systems", "mixture", "--device", "tpu"], "--device must be cpu or cuda"),
    (["report", "--results", "/no/such/results"], "no results here"),
])
def test_cli_errors_are_one_line(args, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error:") and "\n" not in err and fragment in err, err


def test_cli_lists_systems_and_metrics(capsys):
    assert main(["systems"]) == 0
    out = capsys.readouterr().out
    assert "mixture" in out and "clean" in out and "unbounded" in out
    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    assert "sisnri_db" in out and "available" in out


def test_data_check_cli(small_tree: Path, capsys):
    assert main(["data", "check", str(small_tree), "--quiet"]) == 0
    assert "8 mixtures checked: 0 errors" in capsys.readouterr().out
    victim = sorted((small_tree / "wav16k" / "min" / "test" / "s2").iterdir())[0]
    sf.write(victim, np.zeros((100, 2), dtype=np.float32), 16000)
    assert main(["data", "check", str(small_tree), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert f"error: {victim}: 2 channels, expected 1 (mono)" in out
    assert "2 errors" in out


def test_bad_file_mid_run_keeps_finished_work(small_tree: Path, tmp_path: Path, capsys, monkeypatch):
    """A corrupt source half-way stops the run with one line; earlier mixtures stay stored."""
    monkeypatch.chdir(tmp_path)
    dataset = open_dataset(DatasetSpec(root=small_tree))
    victim = dataset.mixtures[5].source_paths[1]
    victim.write_bytes(b"RIFF-not-really-a-wav")
    assert main(["run", "--systems", "mixture", "--data", str(small_tree), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(victim) in err
    assert count_rows(tmp_path / "results" / "bench.sqlite")["separations"] == 5


def test_crashing_system_is_named_in_one_line(small_tree: Path, tmp_path: Path, capsys, monkeypatch):
    from bench.baselines.reference import MixtureSystem

    def boom(self, batch):
        raise ValueError("shapes do not match\nsecond line")

    monkeypatch.setattr(MixtureSystem, "separate", boom)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--systems", "mixture", "--data", str(small_tree), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "system 'mixture' failed on" in err and "ValueError: shapes do not match" in err and "\n" not in err
    logs = list((tmp_path / "results" / "runs").glob("*/bench.log"))
    assert logs and "Traceback" in logs[0].read_text()
