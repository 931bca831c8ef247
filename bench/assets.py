"""``bench assets``: model weights that no Python package ships, downloaded on request.

``bench assets status`` lists every known asset and whether its files are in the cache;
``bench assets fetch NAME...`` downloads them from pinned URLs into the cache
(``$JSAC_BENCH_CACHE``, default ``~/.cache/jsac-bench``), verifying each file's
sha256 while streaming and renaming it into place only when it matches, so a cache
file is either complete and verified or absent.  Metrics never download: offline
they report themselves unavailable and point here.

A file whose upstream checksum is not pinned yet (``sha256=None``) is refused unless
``--allow-unpinned`` is given: trust on first use (TOFU).  That first download is
trusted as it comes; its hash is recorded beside it (``<file>.sha256``) and printed,
to be pinned here, and from then on the recorded hash is the pin: a later fetch
verifies the cached file (and any new download) against it and refuses a mismatch.

The public models on the Hugging Face hub (``dac16k``, ``encodec24k``, ``mimi``,
``sepformer-libri2mix``, ``sepformer-whamr16k``; :mod:`bench.hub`) are fetched into the
Hugging Face cache instead, where their libraries look for them, at the commit pinned in
:data:`bench.hub.HUB_MODELS` (the same trust-on-first-use rule for one without a pin: the
commit it got is recorded and is its pin from then on).
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import os
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

CACHE_ENV = "JSAC_BENCH_CACHE"
CHUNK = 1 << 20


@dataclass(frozen=True)
class AssetFile:
    name: str
    url: str
    sha256: str | None


@dataclass(frozen=True)
class Asset:
    name: str
    folder: str
    files: tuple[AssetFile, ...]
    description: str


_HF_UTMOS = "https://huggingface.co/spaces/sarulab-speech/UTMOS-demo/resolve/main"
_HF_ECAPA = "https://huggingface.co/speechbrain/spkrec-ecapa-voxceleb/resolve/main"

ASSETS: dict[str, Asset] = {a.name: a for a in (
    Asset("utmos", "utmos", (
        AssetFile("utmos22_strong_step7459_v1.pt",
                  "https://github.com/tarepan/SpeechMOS/releases/download/v1.0.0/utmos22_strong_step7459_v1.pt",
                  None),
    ), "UTMOS22 strong learner, single-file conversion (tarepan/SpeechMOS v1.0.0)"),
    Asset("utmos-official", "utmos", (
        AssetFile("epoch=3-step=7459.ckpt", f"{_HF_UTMOS}/epoch%3D3-step%3D7459.ckpt", None),
        AssetFile("wav2vec_small.pt", f"{_HF_UTMOS}/wav2vec_small.pt", None),
    ), "UTMOS22 strong learner, official Lightning checkpoint + fairseq wav2vec_small"),
    Asset("ecapa", "spkrec-ecapa-voxceleb", tuple(
        AssetFile(name, f"{_HF_ECAPA}/{name}", None)
        for name in ("hyperparams.yaml", "embedding_model.ckpt", "mean_var_norm_emb.ckpt", "classifier.ckpt",
                     "label_encoder.txt")
    ), "speechbrain ECAPA-TDNN speaker embeddings (VoxCeleb) for spk_sim"),
)}


def cache_dir() -> Path:
    """Where assets live: ``$JSAC_BENCH_CACHE`` or ``~/.cache/jsac-bench``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "jsac-bench").expanduser()


def asset_dir(asset: Asset, root: Path | None = None) -> Path:
    return (root or cache_dir()) / asset.folder


def present(asset: Asset, root: Path | None = None) -> bool:
    folder = asset_dir(asset, root)
    return all((folder / f.name).is_file() for f in asset.files)


def _check_url(url: str) -> None:
    """https only, except plain http to a loopback address (local mirrors, tests)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "http" and loopback:
        return
    raise BenchError(f"{url}: refusing to download over {parts.scheme or 'no scheme'} (https required)")


def fetch_file(spec: AssetFile, folder: Path, allow_unpinned: bool = False, timeout: float = 60.0) -> Path:
    """Download one file into ``folder`` with sha256 verification; returns its path.

    An existing file is kept when its hash matches the pin (or, unpinned, when it
    exists).  The download goes to a temporary file in the same folder and is
    renamed into place only after verification.
    """
    _check_url(spec.url)
    if spec.sha256 is None and not allow_unpinned:
        raise BenchError(f"{spec.name}: no sha256 pinned for {spec.url}; re-run with --allow-unpinned to "
                         "download it and record its hash")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / spec.name
    expected = spec.sha256 or recorded_sha256(folder / f"{spec.name}.sha256")
    if target.is_file():
        actual = sha256_file(target)
        if expected is None or actual == expected:
            return target
        if spec.sha256 is None:  # TOFU: the file changed after its hash was recorded
            raise BenchError(f"{target}: sha256 {actual} differs from the hash recorded at first download "
                             f"({expected}); delete the file and its .sha256 to trust a new download")
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(spec.url, timeout=timeout) as response:
            for block in iter(lambda: response.read(CHUNK), b""):
                digest.update(block)
                out.write(block)
        actual = digest.hexdigest()
        if expected is not None and actual != expected:
            raise BenchError(f"{spec.name}: sha256 mismatch (expected {expected}, got {actual}); not saved")
        os.replace(tmp, target)
    except OSError as exc:
        raise BenchError(f"{spec.url}: download failed ({exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if spec.sha256 is None:
        (folder / f"{spec.name}.sha256").write_text(f"{actual}  {spec.name}\n")
    return target


def recorded_sha256(path: Path) -> str | None:
    """The hash an ``--allow-unpinned`` download recorded (``<file>.sha256``), if any."""
    if not path.is_file():
        return None
    words = path.read_text(encoding="utf-8", errors="replace").split()
    return words[0] if words and len(words[0]) == 64 else None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(asset: Asset, root: Path | None = None, allow_unpinned: bool = False) -> list[Path]:
    folder = asset_dir(asset, root)
    return [fetch_file(f, folder, allow_unpinned) for f in asset.files]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="assets_command", required=True)
    p = sub.add_parser("status", help="which assets are in the cache")
    p.add_argument("--cache-dir", type=Path, help=f"cache folder (default ${CACHE_ENV} or ~/.cache/jsac-bench)")
    p = sub.add_parser("fetch", help="download assets (pinned URLs, sha256-verified; hub models at a pinned commit)")
    p.add_argument("names", nargs="+", help=f"asset names: {', '.join(known_names())}")
    p.add_argument("--cache-dir", type=Path)
    p.add_argument("--allow-unpinned", action="store_true",
                   help="trust on first use: download files with no pinned sha256 and record their hash beside "
                        "them; later fetches verify against the recorded hash")


def known_names() -> list[str]:
    """Every name ``bench assets fetch`` takes: file assets, then hub models."""
    from bench.hub import HUB_MODELS

    return [*ASSETS, *HUB_MODELS]


def run(args: argparse.Namespace) -> int:
    from bench import hub

    root = args.cache_dir
    if args.assets_command == "status":
        print(f"cache: {root or cache_dir()}")
        for asset in ASSETS.values():
            state = "present" if present(asset, root) else "missing"
            print(f"{asset.name:<20} {state:<8} {asset_dir(asset, root)}  ({asset.description})")
        print(f"Hugging Face cache: {hub.hub_cache()}")
        for model in hub.HUB_MODELS.values():
            pin = hub.pinned_revision(model)
            print(f"{model.name:<20} {hub.status(model):<8} {model.repo}@{pin[:12] if pin else 'unpinned'}  "
                  f"({model.description})")
        return 0
    unknown = [n for n in args.names if n not in ASSETS and n not in hub.HUB_MODELS]
    if unknown:
        raise BenchError(f"unknown asset(s) {', '.join(unknown)}; known: {', '.join(known_names())}")
    for name in args.names:
        if name in hub.HUB_MODELS:
            snapshot = hub.fetch(hub.HUB_MODELS[name], args.allow_unpinned)
            print(f"{name}: {snapshot.repo}@{snapshot.revision} in {snapshot.path}")
            continue
        for path in fetch(ASSETS[name], root, args.allow_unpinned):
            print(f"{name}: {path}")
    return 0
