"""Public models on the Hugging Face hub: which ones, pinned where, and where they are on this machine.

The codec adapters (DAC, EnCodec, Mimi) and the hub separators (speechbrain's Sepformers)
load their weights from the user's Hugging Face cache, laid out as ``huggingface_hub``
lays it out (``models--org--name/snapshots/<commit>/…``, ``refs/main``), or from a local
directory.  Nothing here downloads at run time: :func:`resolve` only looks, and a missing
model is a :class:`~bench.errors.BenchError` naming the weights and the
``bench assets fetch NAME`` command that gets them.  :func:`fetch` (that command)
downloads exactly the listed files at the pinned commit, so the weights are what a
table's system config says they are.

Each :class:`HubModel` pins a commit hash.  The hashes below could not be read from the
hub here (no connection); they are the commits that public code pinning the same
repositories records (several independent projects for the codecs and
``sepformer-whamr16k``; one for ``sepformer-libri2mix``, whose ``hyperparams.yaml``
history on the hub ends at a commit of that prefix).  If a pin is wrong
``fetch`` fails with one line and nothing is cached under it.  A model without a pin is
downloaded only with ``--allow-unpinned``: trust on first use, as for ``bench assets``'
files.  The commit it got is printed and recorded (``$JSAC_BENCH_CACHE/hub/<name>.revision``)
and is its pin from then on, at run time and for later fetches.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError

#: a model repository id as the hub spells it (``org/name``)
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")

#: what a transformers codec directory needs (weights in safetensors: no pickle is read)
CODEC_FILES = ("config.json", "model.safetensors")
#: what a speechbrain separator directory needs (see ``baselines/separators/sepformer.py``)
SEPFORMER_FILES = ("hyperparams.yaml", "encoder.ckpt", "masknet.ckpt", "decoder.ckpt")


@dataclass(frozen=True)
class HubModel:
    """A public model the harness knows by name (``bench assets fetch NAME``)."""

    name: str
    repo: str
    #: the commit every result is computed with; ``None``: not pinned yet (fetch needs --allow-unpinned)
    revision: str | None
    files: tuple[str, ...]
    description: str


HUB_MODELS: dict[str, HubModel] = {m.name: m for m in (
    HubModel("dac16k", "descript/dac_16khz", "7c2fc5e759f1f501aefc6e7a0265cc57f5d17ba7", CODEC_FILES,
             "DAC 16 kHz (Descript): 12 codebooks x 1024 at 50 Hz, 0.5 kbps per stage"),
    HubModel("encodec24k", "facebook/encodec_24khz", "c1dbe2ae3f1de713481a3b3e7c47f357092ee040", CODEC_FILES,
             "EnCodec 24 kHz (Meta): 1.5/3/6/12/24 kbps, 75 Hz, 1024-entry codebooks"),
    HubModel("mimi", "kyutai/mimi", "89091b3e466eb6a9d11e537bf26b144f194978f7", CODEC_FILES,
             "Mimi (Kyutai): 12.5 Hz, 2048-entry codebooks, up to 32 stages, 24 kHz"),
    HubModel("sepformer-libri2mix", "speechbrain/sepformer-libri2mix", "eb43c5bfbb2aa654630adbf849373bcec0a20ed4",
             SEPFORMER_FILES, "speechbrain Sepformer trained on Libri2Mix (8 kHz)"),
    HubModel("sepformer-whamr16k", "speechbrain/sepformer-whamr16k", "21a5b500c6f52fddc387c5d9e5fb13ffd6f039c5",
             SEPFORMER_FILES, "speechbrain Sepformer trained on WHAMR! (16 kHz)"),
)}


@dataclass(frozen=True)
class Snapshot:
    """Where a model's files are: a hub snapshot (repo at a commit) or a local directory."""

    path: Path
    repo: str | None = None
    revision: str | None = None

    def describe(self) -> dict[str, Any]:
        """For system configs and manifests: the repo and commit, or the local path."""
        if self.repo is None:
            return {"source": "local", "path": str(self.path)}
        return {"source": "hub", "repo": self.repo, "revision": self.revision}


def is_hub_id(text: str) -> bool:
    """``org/name`` that is not an existing local path."""
    return bool(_HUB_ID.match(text)) and not Path(text).expanduser().exists()


def hub_cache() -> Path:
    """The Hugging Face hub cache, read from the environment at call time (as huggingface_hub does at import).

    ``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``$XDG_CACHE_HOME/huggingface/hub`` or
    ``~/.cache/huggingface/hub``.
    """
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def by_repo(repo: str) -> HubModel | None:
    """The known model for a repository id, if any (so ``model_dir = "speechbrain/…"`` gets the pin)."""
    return next((m for m in HUB_MODELS.values() if m.repo == repo), None)


def _record_path(model: HubModel) -> Path:
    from bench.assets import cache_dir

    return cache_dir() / "hub" / f"{model.name}.revision"


def pinned_revision(model: HubModel) -> str | None:
    """The commit a model is used at: its pin, else the one recorded by an ``--allow-unpinned`` fetch."""
    if model.revision is not None:
        return model.revision
    path = _record_path(model)
    text = path.read_text(encoding="utf-8", errors="replace").strip() if path.is_file() else ""
    return text if _COMMIT.match(text) else None


def fetch_hint(repo: str, revision: str | None) -> str:
    """The command that puts ``repo`` into the cache."""
    known = by_repo(repo)
    if known is not None and revision in (None, pinned_revision(known)):
        unpinned = " --allow-unpinned" if pinned_revision(known) is None else ""
        return f"bench assets fetch {known.name}{unpinned}"
    rev = f" --revision {revision}" if revision else ""
    return f"huggingface-cli download {repo}{rev}"


def cached_snapshot(repo: str, revision: str | None, files: tuple[str, ...],
                    cache: Path | None = None) -> Snapshot | None:
    """The cached snapshot of ``repo`` at ``revision`` (a commit or a branch; ``None``: main) holding ``files``.

    Looks only (``huggingface_hub.try_to_load_from_cache``); ``None`` when any file is absent.
    """
    from huggingface_hub import try_to_load_from_cache

    folder = cache or hub_cache()
    paths = []
    for name in files:
        found = try_to_load_from_cache(repo, name, cache_dir=str(folder), revision=revision or "main")
        if not isinstance(found, str) or not os.path.isfile(found):
            return None
        paths.append(Path(found))
    snapshot = paths[0].parent
    if any(p.parent != snapshot for p in paths):
        return None
    return Snapshot(snapshot, repo=repo, revision=snapshot.name)


def resolve(source: str, files: tuple[str, ...], revision: str | None = None, what: str = "model") -> Snapshot:
    """A local directory, or a hub id found in the cache; never downloads.

    For a hub id the revision is ``revision`` if given, else the pinned one of a known
    model, else ``main``.  Absent weights: one line naming them and the fetch command.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        missing = [name for name in files if not (path / name).is_file()]
        if missing:
            raise BenchError(f"{what} directory {path} lacks {', '.join(missing)}")
        return Snapshot(path)
    if not _HUB_ID.match(source):
        raise BenchError(f"{what} {source!r}: no such directory, and not a hub id (org/name)")
    known = by_repo(source)
    wanted = revision or (pinned_revision(known) if known else None)
    found = cached_snapshot(source, wanted, files)
    if found is not None:
        return found
    at = f"@{wanted[:12]}" if wanted else ""
    raise BenchError(f"{what} weights {source}{at} are not in the Hugging Face cache ({hub_cache()}); "
                     f"get them with: {fetch_hint(source, wanted)}")


def status(model: HubModel) -> str:
    """``present`` or ``missing`` (at the pinned commit, or main when unpinned) in the current cache."""
    found = cached_snapshot(model.repo, pinned_revision(model), model.files)
    return "present" if found is not None else "missing"


def fetch(model: HubModel, allow_unpinned: bool = False, cache: Path | None = None) -> Snapshot:
    """Download ``model.files`` at the pinned commit into the hub cache (the one network call here)."""
    pin = pinned_revision(model)
    if pin is None and not allow_unpinned:
        raise BenchError(f"{model.name}: no hub revision pinned for {model.repo}; re-run with --allow-unpinned "
                         "to download the current main and record its commit (trust on first use)")
    if pin is not None and not _COMMIT.match(pin):
        raise BenchError(f"{model.name}: pinned revision {pin!r} is not a commit hash")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RevisionNotFoundError

    folder = cache or hub_cache()
    try:
        path = snapshot_download(model.repo, revision=pin or "main", allow_patterns=list(model.files),
                                 cache_dir=str(folder))
    except RevisionNotFoundError:
        raise BenchError(f"{model.name}: the hub has no commit {pin} in {model.repo} "
                         "(the pin is wrong); nothing was saved") from None
    except LocalEntryNotFoundError as exc:
        raise BenchError(f"{model.name}: cannot reach the hub for {model.repo} ({_first_line(exc)})") from None
    except (HfHubHTTPError, OSError) as exc:
        raise BenchError(f"{model.name}: download of {model.repo} failed ({_first_line(exc)})") from None
    found = cached_snapshot(model.repo, Path(path).name, model.files, folder)
    if found is None:
        raise BenchError(f"{model.name}: {model.repo}@{Path(path).name} lacks some of {', '.join(model.files)}")
    if pin is None:  # trust on first use: this commit is the pin from now on
        record = _record_path(model)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(f"{found.revision}\n")
    return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
