"""Hostile sweep: the reliability table's cases run against the installed ``bench`` as a new user would.

Each case builds its own bad input in a fresh folder, runs ``bench`` as a real process and
counts it as *clean* when

  * the exit status is the documented one (2 for errors; 0 or 1 where the table says so),
  * stderr holds no traceback and its ``bench: error:`` line (when expected) is one line naming
    what it must name,
  * no file appeared outside the folders the command was given, and
  * no code from the input ran (each hostile file would create a marker file).

Not a test (it takes minutes: one process per case); the same cases are tests in
``tests/test_hostile_inputs.py`` and ``tests/test_untrusted_files.py``.  Run it from a fresh
clone with that clone's ``bench`` on PATH, or next to the Python running it:

    .venv/bin/python benchmarks/hostile_sweep.py [--only substring] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from libri2mix_tree import IDS, build_tree  # noqa: E402  (the test suite's tree writer)


@dataclass
class Case:
    """One hostile input: ``setup(work)`` returns the bench arguments; ``expect`` what a clean answer shows."""

    name: str
    setup: Callable[[Path], list[str]]
    status: int = 2
    names: tuple[str, ...] = ()                     # fragments the error line must contain
    env: dict[str, str] = field(default_factory=dict)
    check: Callable[[Path], str | None] | None = None  # extra check on the folder afterwards: problem or None


# -- helpers that write hostile inputs ----------------------------------------------------------------------
def tree(work: Path, lengths: dict[str, int] | None = None) -> Path:
    return build_tree(work / "data", lengths=lengths, mix_types=("mix_clean",))


def csv_path(root: Path) -> Path:
    return root / "wav16k" / "min" / "metadata" / "mixture_test_mix_clean.csv"


def set_id(root: Path, row: int, value: str) -> None:
    with open(csv_path(root), newline="") as f:
        rows = list(csv.DictReader(f))
    rows[row]["mixture_ID"] = value
    with open(csv_path(root), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def wav(root: Path, sub: str, index: int) -> Path:
    return root / "wav16k" / "min" / "test" / sub / f"{IDS[index]}.wav"


def run_args(root: Path, work: Path, *extra: str, systems: str = "mixture,clean") -> list[str]:
    return ["run", "--systems", systems, "--metrics", "sisnri", "--data", str(root), "--results",
            str(work / "results"), "--quiet", *extra]


def evil_pickle(path: Path, marker: Path, kind: str = "evil", real: Path | None = None) -> None:
    import torch

    class Call:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    if kind == "evil":
        torch.save({"state_dict": {}, "config": {}, "kind": "btdm", "x": Call()}, path)
    elif kind == "truncated":
        data = real.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_text("not a checkpoint\n")


def toml(work: Path, text: str) -> None:
    (work / "bench.toml").write_text(text)


# -- the cases ------------------------------------------------------------------------------------------------
def cases() -> list[Case]:
    out: list[Case] = []
    for label, bad in [("dotdot", "../../../../x"), ("absolute", "/abs/x"), ("empty", ""), ("dot-dot", ".."),
                       ("slash", "a/b"), ("backslash", "a\\b"), ("control", "a\tb")]:
        def setup(work: Path, bad=bad) -> list[str]:
            root = tree(work)
            set_id(root, 3, bad)
            return run_args(root, work)
        out.append(Case(f"mixture ID {label}", setup, names=("mixture_test_mix_clean.csv", "row 5")))

    def dotdot_system(work: Path) -> list[str]:
        toml(work, '[systems.".."]\nfamily = "mixture"\n')
        return run_args(tree(work), work, "--limit", "2", systems="..")

    def no_wav_in_results_root(work: Path) -> str | None:
        stray = [p for p in (work / "results").iterdir() if p.suffix == ".wav"]
        return f"estimates in the results root: {stray}" if stray else None
    out.append(Case("system named ..", dotdot_system, status=0, check=no_wav_in_results_root))

    def merge_tampered(work: Path) -> list[str]:
        root = tree(work)
        for name in ("r1", "r2"):
            subprocess.run([bench_command(), *run_args(root, work, "--limit", "2", systems="mixture"),
                            "--results", str(work / name)], capture_output=True, cwd=work, check=True)
        with sqlite3.connect(work / "r1" / "bench.sqlite") as conn:
            conn.execute("UPDATE estimates SET path='../../escaped.wav'")
        return ["merge", str(work / "r1"), str(work / "r2"), "--results", str(work / "merged")]
    out.append(Case("merge with paths leaving the folder", merge_tampered, names=("leaves the folder",)))

    for label, sub, value in [("NaN in mixture", "mix_clean", np.nan), ("Inf in source", "s1", np.inf)]:
        def setup(work: Path, sub=sub, value=value) -> list[str]:
            root = tree(work)
            path = wav(root, sub, 5)
            audio, rate = sf.read(path, dtype="float32")
            audio[7] = value
            sf.write(path, audio, rate, subtype="FLOAT")
            return run_args(root, work)
        out.append(Case(label, setup, names=("non-finite",)))

    def nan_check(work: Path) -> list[str]:
        root = tree(work)
        audio, rate = sf.read(wav(root, "s2", 1), dtype="float32")
        audio[3] = np.nan
        sf.write(wav(root, "s2", 1), audio, rate, subtype="FLOAT")
        return ["data", "check", str(root), "--quiet"]
    out.append(Case("data check finds NaN", nan_check, status=1))

    for label, n in [("1-sample mixture", 1), ("0.05 s mixture", 800)]:
        def setup(work: Path, n=n) -> list[str]:
            return run_args(tree(work, {mid: (n if i == 2 else 4000) for i, mid in enumerate(IDS)}), work)
        out.append(Case(label, setup, names=("0.25 s minimum",)))
    for label, subs in [("silent source", ("s1",)), ("all sources silent", ("s1", "s2"))]:
        def setup(work: Path, subs=subs) -> list[str]:
            root = tree(work)
            for sub in subs:
                sf.write(wav(root, sub, 2), np.zeros(4200, dtype=np.float32), 16000)
            return run_args(root, work)
        out.append(Case(label, setup, names=("reference is silent",)))

    def truncated_rerun(work: Path) -> list[str]:
        root = tree(work)
        subprocess.run([bench_command(), *run_args(root, work, "--limit", "3")], capture_output=True, cwd=work,
                       check=True)
        victim = sorted((work / "results" / "audio").rglob("s2.wav"))[0]
        victim.write_bytes(victim.read_bytes()[:100])
        return run_args(root, work, "--limit", "3")
    out.append(Case("truncated estimate on re-run", truncated_rerun, status=0))

    def truncated_score(work: Path) -> list[str]:
        root = tree(work)
        subprocess.run([bench_command(), *run_args(root, work, "--limit", "3", "--no-metrics")], capture_output=True,
                       cwd=work, check=True)
        victim = sorted((work / "results" / "audio").rglob("s1.wav"))[0]
        victim.write_bytes(victim.read_bytes()[:100])
        return ["score", "--metrics", "sisnri", "--data", str(root), "--limit", "3", "--results",
                str(work / "results"), "--quiet"]
    out.append(Case("truncated estimate on bench score", truncated_score, names=("bench run --systems",)))

    for label, text, system, names in [
        ("toml kbps = 'twelve'", '[systems."f"]\nfamily = "fstc"\nkbps = "twelve"\n', "f", ("kbps", "number")),
        ("toml temperature = 'hot'", '[systems.t]\nfamily = "tokensplit"\ntemperature = "hot"\n', "t",
         ("temperature", "a number")),
        ("toml unknown key foo", '[systems.m]\nfamily = "mixture"\nfoo = 1\n', "m", ("unknown key 'foo'",)),
        ("toml typo checkpiont", '[systems.c]\nfamily = "codec"\nkbps = 2\ncheckpiont = "/my/model.pt"\n', "c",
         ("did you mean 'checkpoint'",)),
        ("toml codec_options typo", '[systems.f]\nfamily = "fstc"\nkbps = 2\ncodec_options = {checkpiont = "x"}\n',
         "f", ("did you mean 'checkpoint'",)),
        ("toml unknown section", '[sytems.m]\nfamily = "mixture"\n', "mixture", ("unknown section 'sytems'",)),
    ]:
        def setup(work: Path, text=text, system=system) -> list[str]:
            toml(work, text)
            return run_args(tree(work), work, "--limit", "1", systems=system)
        out.append(Case(label, setup, names=("bench.toml", *names)))

    def locked(work: Path) -> list[str]:
        root = tree(work)
        subprocess.run([bench_command(), *run_args(root, work, "--limit", "2")], capture_output=True, cwd=work,
                       check=True)
        holder = sqlite3.connect(work / "results" / "bench.sqlite", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        LOCKS.append(holder)  # released after the case
        return run_args(root, work)
    out.append(Case("database locked by another process (60 s)", locked, names=("database is locked",)))

    def results_is_a_file(work: Path) -> list[str]:
        (work / "results").write_text("not a folder")
        return run_args(tree(work), work)
    out.append(Case("results path is a file", results_is_a_file, names=("results",)))

    package = REPO
    reals = {"codec": package / "baselines/codecs/mdct_rvq/checkpoints/tiny.pt",
             "codesep": package / "systems/codesep/checkpoints/btdm.pt",
             "tokensplit": package / "systems/tokensplit/checkpoints/tokensplit.pt"}
    templates = {"codec-evil@2": ('family = "codec"\ncheckpoint = "{p}"', "codec"),
                 "fstc-evilcodec@2": ('family = "fstc"\ncodec_options = {{checkpoint = "{p}"}}', "codec"),
                 "codesep-evil": ('family = "codesep"\nbtdm = "{p}"', "codesep"),
                 "tokensplit-evil": ('family = "tokensplit"\ncheckpoint = "{p}"', "tokensplit")}
    for variant, (template, family) in templates.items():
        for kind in ("evil", "truncated", "text"):
            def setup(work: Path, variant=variant, template=template, family=family, kind=kind) -> list[str]:
                path = work / f"{kind}.pt"
                evil_pickle(path, work / "pwned", kind, reals[family])
                toml(work, f'[systems."{variant}"]\n' + template.format(p=path) + "\n")
                return run_args(tree(work), work, "--limit", "1", systems=variant)
            out.append(Case(f"{variant} checkpoint {kind}", setup, names=(f"{kind}.pt",)))

    def sepformer_dir(work: Path) -> Path:
        model = work / "sep"
        shutil.copytree(REPO / "baselines/separators/pretrained/sepformer-tiny", model)
        return model

    def evil_separator_weights(work: Path) -> list[str]:
        model = sepformer_dir(work)
        evil_pickle(model / "masknet.ckpt", work / "pwned")
        toml(work, f'[systems.s]\nfamily = "sepformer"\nmodel_dir = "{model}"\n')
        return run_args(tree(work), work, "--limit", "1", systems="s")
    out.append(Case("sepformer masknet.ckpt runs code", evil_separator_weights, names=("masknet.ckpt", "refused")))

    for label, line in [("!apply:os.system", "x: !apply:os.system ['touch {m}']"),
                        ("!name:os.system", "x: !name:os.system"),
                        ("!new:subprocess.Popen", "x: !new:subprocess.Popen ['touch {m}']"),
                        ("!module:os", "x: !module:os"),
                        ("!include:/etc/hostname", "x: !include:/etc/hostname"),
                        ("!!python/object/apply", "x: !!python/object/apply:os.system ['touch {m}']"),
                        ("tuple with a python tag", "x: (!!python/object/apply:os.system ['touch {m}'], 1)")]:
        def setup(work: Path, line=line) -> list[str]:
            model = sepformer_dir(work)
            yaml_path = model / "hyperparams.yaml"
            yaml_path.write_text(yaml_path.read_text() + "\n" + line.format(m=work / "pwned") + "\n")
            toml(work, f'[systems.s]\nfamily = "sepformer"\nmodel_dir = "{model}"\n')
            return run_args(tree(work), work, "--limit", "1", systems="s")
        out.append(Case(f"hyperparams.yaml {label}", setup, names=("hyperparams.yaml", "refused")))

    def utmos_escape(work: Path) -> list[str]:
        import io

        import torch

        class Inner:
            def __reduce__(self):
                return os.system, (f"touch {work / 'pwned'}",)

        buffer = io.BytesIO()
        torch.save({"x": Inner()}, buffer)

        class Escape:
            def __reduce__(self):
                return torch.storage._load_from_bytes, (buffer.getvalue(),)

        torch.save({"domain_emb": torch.zeros(1, 2), "p": Escape()}, work / "utmos22_strong_step7459_v1.pt")
        return ["run", "--systems", "mixture", "--metrics", "utmos", "--data", str(tree(work)), "--limit", "1",
                "--results", str(work / "results"), "--quiet"]

    def utmos_failed(work: Path) -> str | None:
        with sqlite3.connect(work / "results" / "bench.sqlite") as conn:
            rows = conn.execute("SELECT status, reason FROM metric_values WHERE metric='utmos'").fetchall()
        ok = rows and all(s == "failed" and "refused" in (r or "") for s, r in rows)
        return None if ok else f"utmos rows {rows}"
    out.append(Case("UTMOS asset with the _load_from_bytes escape", utmos_escape, status=0, check=utmos_failed,
                    env={"JSAC_BENCH_UTMOS": "{work}/utmos22_strong_step7459_v1.pt"}))

    def listen_export(work: Path) -> list[str]:
        root = tree(work, {mid: 16000 for mid in IDS})
        subprocess.run([bench_command(), *run_args(root, work, systems="mixture,clean")], capture_output=True,
                       cwd=work, check=True)
        return ["listen", "export", "--test", "nabx", "--pair", "clean:mixture", "--base-url",
                "https://example.org/abx/", "--samples", "4", "--items-per-hit", "4", "--results",
                str(work / "results"), "--out", str(work / "abx"), "--quiet"]

    def secrets_apart(work: Path) -> str | None:
        public = [p.name for p in (work / "abx" / "public").rglob("*")]
        if any("SECRET" in n or n.endswith(".json") for n in public):
            return f"secret files in public/: {public}"
        return None if (work / "abx" / "secret" / "SECRET_key.csv").is_file() else "no secret/SECRET_key.csv"
    out.append(Case("listening export keeps the key out of public/", listen_export, status=0, check=secrets_apart))
    return out


LOCKS: list[sqlite3.Connection] = []


def bench_command() -> str:
    beside = Path(sys.executable).with_name("bench")
    return str(beside) if beside.is_file() else (shutil.which("bench") or "bench")


def files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def run_case(case: Case, base: Path) -> tuple[bool, str]:
    work = base / case.name.replace("/", "_").replace(" ", "_")
    work.mkdir(parents=True)
    args = case.setup(work)
    before = files(base.parent)
    env = {**os.environ, **{k: v.format(work=work) for k, v in case.env.items()}}
    started = time.time()
    try:
        proc = subprocess.run([bench_command(), *args], capture_output=True, text=True, cwd=work, env=env,
                              timeout=600)
    finally:
        for holder in LOCKS:
            holder.execute("ROLLBACK")
            holder.close()
        LOCKS.clear()
    problems = []
    if proc.returncode != case.status:
        problems.append(f"exit {proc.returncode}, expected {case.status}")
    if "Traceback" in proc.stderr:
        problems.append("traceback")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("bench: error:")]
    if case.status == 2:
        if len(errors) != 1 or not proc.stderr.strip().endswith(errors[-1] if errors else "\0"):
            problems.append(f"not one error line: {proc.stderr.strip()[-300:]!r}")
        for fragment in case.names:
            if errors and fragment not in errors[0]:
                problems.append(f"error line lacks {fragment!r}")
    if (work / "pwned").exists():
        problems.append("CODE RAN (marker file created)")
    allowed = (work,)
    stray = [p for p in files(base.parent) - before if not any(a in p.parents for a in allowed)]
    if stray:
        problems.append(f"wrote outside its folders: {stray[:3]}")
    if case.check is not None and not problems:
        extra = case.check(work)
        if extra:
            problems.append(extra)
    line = errors[0] if errors else (proc.stderr.strip().splitlines() or [""])[-1]
    summary = f"{time.time() - started:5.1f}s  {line[:150]}"
    return not problems, summary if not problems else "; ".join(problems)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the cases whose name contains this")
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    args = parser.parse_args()
    selected = [c for c in cases() if not args.only or args.only in c.name]
    top = Path(tempfile.mkdtemp(prefix="hostile-sweep-"))
    clean = 0
    try:
        for case in selected:
            ok, note = run_case(case, top / "cases")
            clean += ok
            print(f"{'clean' if ok else 'FAIL '}  {case.name:<48} {note}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(top, ignore_errors=True)
    print(f"\n{clean} of {len(selected)} hostile cases handled cleanly (bench: {bench_command()})")
    return 0 if clean == len(selected) else 1


if __name__ == "__main__":
    sys.exit(main())
