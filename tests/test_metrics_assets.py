"""``bench assets``: sha256-verified downloads from a loopback HTTP server, status, refusals."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from bench import assets
from bench.cli import main
from bench.errors import BenchError

PAYLOAD = b"weights" * 1000


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "model.pt").write_bytes(PAYLOAD)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):  # keep test output quiet
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_verifies_and_places_file(server, tmp_path):
    good = hashlib.sha256(PAYLOAD).hexdigest()
    asset = assets.Asset("toy", "toy", (assets.AssetFile("model.pt", f"{server}/model.pt", good),), "toy")
    cache = tmp_path / "cache"
    assert not assets.present(asset, cache)
    [path] = assets.fetch(asset, cache)
    assert path.read_bytes() == PAYLOAD and assets.present(asset, cache)
    assert not list((cache / "toy").glob(".part-*"))


def test_fetch_rejects_wrong_hash_and_leaves_nothing(server, tmp_path):
    spec = assets.AssetFile("model.pt", f"{server}/model.pt", "0" * 64)
    with pytest.raises(BenchError, match="sha256 mismatch"):
        assets.fetch_file(spec, tmp_path / "c")
    assert list((tmp_path / "c").iterdir()) == []


def test_unpinned_needs_consent_and_records_hash(server, tmp_path):
    spec = assets.AssetFile("model.pt", f"{server}/model.pt", None)
    with pytest.raises(BenchError, match="--allow-unpinned"):
        assets.fetch_file(spec, tmp_path / "c")
    assets.fetch_file(spec, tmp_path / "c", allow_unpinned=True)
    assert (tmp_path / "c" / "model.pt.sha256").read_text().split()[0] == hashlib.sha256(PAYLOAD).hexdigest()


def test_unpinned_file_is_trusted_on_first_use_only(server, tmp_path):
    """After the first download the recorded hash is the pin: a swapped cache file or upstream file is refused."""
    spec = assets.AssetFile("model.pt", f"{server}/model.pt", None)
    cache = tmp_path / "c"
    path = assets.fetch_file(spec, cache, allow_unpinned=True)
    assert assets.fetch_file(spec, cache, allow_unpinned=True) == path          # unchanged: kept
    path.write_bytes(b"swapped")
    with pytest.raises(BenchError, match="differs from the hash recorded at first download"):
        assets.fetch_file(spec, cache, allow_unpinned=True)
    path.unlink()
    (tmp_path / "served" / "model.pt").write_bytes(b"new upstream")
    with pytest.raises(BenchError, match="sha256 mismatch"):                    # re-download checked too
        assets.fetch_file(spec, cache, allow_unpinned=True)
    assert not path.exists()


def test_missing_file_and_plain_http_elsewhere_fail(server, tmp_path):
    with pytest.raises(BenchError, match="download failed"):
        assets.fetch_file(assets.AssetFile("x.pt", f"{server}/absent.pt", "0" * 64), tmp_path)
    with pytest.raises(BenchError, match="https required"):
        assets.fetch_file(assets.AssetFile("x.pt", "http://example.org/x.pt", "0" * 64), tmp_path)


def test_cli_status_and_unknown_name(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JSAC_BENCH_CACHE", str(tmp_path))
    assert main(["assets", "status"]) == 0
    out = capsys.readouterr().out
    assert "utmos" in out and "missing" in out and str(tmp_path) in out
    assert main(["assets", "fetch", "nope"]) == 2
