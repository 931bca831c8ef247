"""Model files from someone else (issue 16): loading a checkpoint, a hyperparams.yaml or a UTMOS asset never
runs code from it, and a malicious, truncated or foreign file ends in one line naming it.

Every hostile file is made here; each would create ``marker`` if any of its code ran.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.errors import BenchError

PACKAGE = Path(__file__).resolve().parent.parent


class Call:
    """Pickles as a call of ``func(*args)``: what a hostile checkpoint smuggles in."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def evil_blob(marker: Path, func=os.system) -> dict:
    return {"state_dict": {"w": torch.zeros(2)}, "config": {}, "kind": "btdm", "x": Call(func, f"touch {marker}")}


def write_files(folder: Path, marker: Path, real: Path) -> dict[str, Path]:
    """evil (os.system on load), truncated (half of a real checkpoint), text (not a checkpoint at all)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"evil": folder / "evil.pt", "truncated": folder / "truncated.pt", "text": folder / "text.pt"}
    torch.save(evil_blob(marker), files["evil"])
    data = real.read_bytes()
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["text"].write_text("this is not a checkpoint\n")
    return files


def one_error_line(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("bench: error:") and "\n" not in err and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


# -- checkpoints of every family, through bench.toml variants ----------------------------------------------
CODEC = PACKAGE / "baselines" / "codecs" / "mdct_rvq" / "checkpoints" / "tiny.pt"
VARIANTS = {
    "codec-evil@2": ('family = "codec"\ncheckpoint = "{path}"', CODEC),
    "fstc-evilcodec@2": ('family = "fstc"\ncodec_options = {{checkpoint = "{path}"}}', CODEC),
    "codesep-evil": ('family = "codesep"\nbtdm = "{path}"',
                     PACKAGE / "systems" / "codesep" / "checkpoints" / "btdm.pt"),
    "tokensplit-evil": ('family = "tokensplit"\ncheckpoint = "{path}"',
                        PACKAGE / "systems" / "tokensplit" / "checkpoints" / "tokensplit.pt"),
}


@pytest.mark.parametrize("kind", ["evil", "truncated", "text"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_bad_checkpoint_is_one_line_and_runs_nothing(tmp_path: Path, capsys, monkeypatch, torch_one_thread,
                                                     variant: str, kind: str):
    marker = tmp_path / "pwned"
    template, real = VARIANTS[variant]
    path = write_files(tmp_path / "files", marker, real)[kind]
    (tmp_path / "bench.toml").write_text(f'[systems."{variant}"]\n' + template.format(path=path) + "\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--systems", variant, "--metrics", "sisnri", "--limit", "1", "--quiet"]) == 2
    err = one_error_line(capsys, str(path))
    if kind == "evil":
        assert "refused" in err and "could run code" in err
    assert not marker.exists()


def test_separator_with_evil_weights_is_one_line(tmp_path: Path, capsys, monkeypatch, torch_one_thread):
    from bench.baselines.separators.system import default_model_dir

    marker = tmp_path / "pwned"
    model = tmp_path / "sep"
    shutil.copytree(default_model_dir(), model)
    torch.save({"w": Call(os.system, f"touch {marker}")}, model / "masknet.ckpt")
    (tmp_path / "bench.toml").write_text(f'[systems.sep-evil]\nfamily = "sepformer"\nmodel_dir = "{model}"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--systems", "sep-evil", "--metrics", "sisnri", "--limit", "1", "--quiet"]) == 2
    one_error_line(capsys, str(model / "masknet.ckpt"), "refused")
    assert not marker.exists()


# -- speechbrain hyperparams.yaml --------------------------------------------------------------------------
HOSTILE_YAML = {
    "apply": ("x: !apply:os.system ['touch {marker}']", "!apply:os.system"),
    "name": ("x: !name:os.system", "!name:os.system"),
    "new-subprocess": ("x: !new:subprocess.Popen ['touch {marker}']", "!new:subprocess.Popen"),
    "module": ("x: !module:os", "!module:os"),
    "include": ("x: !include:/etc/hostname", "!include:/etc/hostname"),
    "python-tag": ("x: !!python/object/apply:os.system ['touch {marker}']", "!!python/object/apply:os.system"),
    "tuple": ("x: (!!python/object/apply:os.system ['touch {marker}'], 1)", "tuple"),
    "applyref": ("x: !applyref:os.system ['touch {marker}']", "!applyref:os.system"),
    "in-a-key": ("? !apply:os.system ['touch {marker}']\n: 1", "!apply:os.system"),
}


@pytest.mark.parametrize("case", list(HOSTILE_YAML))
def test_hostile_hyperparams_yaml_is_refused_naming_file_and_tag(tmp_path: Path, capsys, monkeypatch,
                                                                 torch_one_thread, case: str):
    from bench.baselines.separators.system import default_model_dir

    marker = tmp_path / "pwned"
    model = tmp_path / "sep"
    shutil.copytree(default_model_dir(), model)
    line, tag = HOSTILE_YAML[case]
    yaml_path = model / "hyperparams.yaml"
    yaml_path.write_text(yaml_path.read_text() + "\n" + line.format(marker=marker) + "\n")
    (tmp_path / "bench.toml").write_text(f'[systems.sep-evil]\nfamily = "sepformer"\nmodel_dir = "{model}"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--systems", "sep-evil", "--metrics", "sisnri", "--limit", "1", "--quiet"]) == 2
    one_error_line(capsys, str(yaml_path), tag)
    assert not marker.exists()


def test_restricted_hyperparams_reader_builds_what_hyperpyyaml_builds(torch_one_thread):
    """The shipped separator's yaml, read by our reader, equals hyperpyyaml's modules (same weights, same output)."""
    from hyperpyyaml import load_hyperpyyaml

    from bench.baselines.separators.hparams import load_hparams
    from bench.baselines.separators.system import default_model_dir

    text = (default_model_dir() / "hyperparams.yaml").read_text()
    ours = load_hparams(text, "hyperparams.yaml")
    theirs = load_hyperpyyaml(text)
    assert ours["modules"]["masknet"] is ours["MaskNet"]  # references share one object, as in hyperpyyaml
    assert ours["pretrainer"] is None and ours["sample_rate"] == theirs["sample_rate"]
    for name in ("encoder", "masknet", "decoder"):
        assert repr(ours["modules"][name]) == repr(theirs["modules"][name])
    extra = load_hparams("a: 3\nb: !ref <a> * 2 + 1\nc: (1, 2)\nd: !ref <a>/x\ne: !copy <c>\nf: 2 ** 8\n", "t.yaml")
    assert extra == {"a": 3, "b": 7, "c": (1, 2), "d": "3/x", "e": (1, 2), "f": "2 ** 8"}
    with pytest.raises(BenchError, match="circular reference"):
        load_hparams("a: !ref <b>\nb: !ref <a>\n", "t.yaml")


# -- UTMOS weights from the asset cache: every known escape of a restricted unpickler ---------------------
def _inner_evil_bytes(marker: Path) -> bytes:
    buffer = io.BytesIO()
    torch.save({"x": Call(os.system, f"touch {marker}")}, buffer)
    return buffer.getvalue()


ESCAPES = {
    # torch.storage._load_from_bytes runs torch.load(weights_only=False) on its argument: the old hole
    "load_from_bytes": lambda m: Call(torch.storage._load_from_bytes, _inner_evil_bytes(m)),
    "os.system": lambda m: Call(os.system, f"touch {m}"),
    "subprocess": lambda m: Call(__import__("subprocess").Popen, ["touch", str(m)]),
    "torch.load": lambda m: Call(torch.load, io.BytesIO(_inner_evil_bytes(m))),
    "rebuild_from_type": lambda m: Call(torch._tensor._rebuild_from_type_v2, os.system, torch.Tensor,
                                        (f"touch {m}",), {}),
    "pickle.loads": lambda m: Call(pickle.loads, pickle.dumps(Call(os.system, f"touch {m}"))),
}


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("escape", list(ESCAPES))
def test_utmos_loader_refuses_every_escape(tmp_path: Path, escape: str, legacy: bool):
    from bench.metrics.utmos.checkpoint import load_checkpoint

    marker = tmp_path / "pwned"
    path = tmp_path / "utmos22_strong_step7459_v1.pt"
    torch.save({"domain_emb": torch.zeros(1, 2), "payload": ESCAPES[escape](marker)}, path,
               _use_new_zipfile_serialization=not legacy)
    with pytest.raises(BenchError, match=re.escape(str(path))) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value) and ("refused" in str(info.value) or "cannot load" in str(info.value))
    assert not marker.exists()


def test_utmos_loader_turns_builtins_into_inert_records(tmp_path: Path):
    """``builtins.eval`` is on the allow-list of *names*, as an inert stand-in: nothing is evaluated."""
    from bench.metrics.utmos.checkpoint import Record, load_checkpoint

    marker = tmp_path / "pwned"
    path = tmp_path / "w.pt"
    torch.save({"w": torch.ones(2), "e": Call(eval, f"open({str(marker)!r}, 'w')")}, path)
    blob = load_checkpoint(path)
    assert isinstance(blob["e"], Record) and torch.equal(blob["w"], torch.ones(2))
    assert not marker.exists()


def test_utmos_metric_with_a_crafted_asset_fails_without_running_it(small_tree: Path, tmp_path: Path, monkeypatch):
    marker = tmp_path / "pwned"
    path = tmp_path / "utmos22_strong_step7459_v1.pt"
    torch.save({"domain_emb": torch.zeros(1, 2), "p": Call(torch.storage._load_from_bytes,
                                                            _inner_evil_bytes(marker))}, path)
    monkeypatch.setenv("JSAC_BENCH_UTMOS", str(path))
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--systems", "mixture", "--metrics", "utmos", "--data", str(small_tree), "--limit", "1",
                 "--quiet"]) == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "results" / "bench.sqlite") as conn:
        rows = conn.execute("SELECT status, reason FROM metric_values WHERE metric='utmos'").fetchall()
    assert rows and all(status == "failed" and "refused" in reason for status, reason in rows)
    assert not marker.exists()


# -- training states and other loaders ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["last.pt", "state.pt"])   # state.pt: CodeSep/TokenSplit's earlier name
def test_resumable_training_state_is_loaded_safely(tmp_path: Path, name: str):
    from bench.training.loop import LoopSettings, Trainee, train_loop

    marker = tmp_path / "pwned"
    trainee = Trainee()
    trainee.model = torch.nn.Linear(2, 2)
    trainee.optimiser = torch.optim.SGD(trainee.model.parameters(), lr=0.1)
    torch.save({"model": trainee.model.state_dict(), "x": Call(os.system, f"touch {marker}")}, tmp_path / name)
    with pytest.raises(BenchError, match=f"{name}: cannot load resumable state: .*could run code"):
        train_loop(trainee, LoopSettings(max_steps=1, eval_every=1), tmp_path / "last.pt")
    assert not marker.exists()


def test_no_loader_in_the_package_can_run_pickled_code():
    """Every ``torch.load`` asks for ``weights_only=True`` (or goes through bench.safe_load); TorchScript
    loads only behind the explicit trust flag."""
    offenders = []
    for path in sorted(PACKAGE.glob("**/*.py")):
        if any(part in (".venv", "tests", "build") for part in path.relative_to(PACKAGE).parts):
            continue
        text = path.read_text()
        for match in re.finditer(r"torch\.load\(([^()]|\([^()]*\))*\)", text):
            if "weights_only=True" not in match.group(0):
                offenders.append(f"{path.relative_to(PACKAGE)}: {match.group(0)[:80]}")
        if "weights_only=False" in text or "pickle.load(" in text:
            offenders.append(f"{path.relative_to(PACKAGE)}: weights_only=False / pickle.load")
        if "torch.jit.load" in text and "trust_torchscript" not in text:
            offenders.append(f"{path.relative_to(PACKAGE)}: torch.jit.load without the trust flag")
    assert offenders == []
