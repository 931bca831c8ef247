"""File names inside an export folder, shared by export, analyze, serve and the report hints.

One owner, so the hint under ``bench report --table 3`` names the key file the export
really writes, and ``bench listen serve`` knows which files it must never serve.

An export folder ``DIR`` has two parts: ``DIR/public/`` (audio/, hits.csv, hit.html: what
goes to the web host and to AMT) and ``DIR/secret/`` (the key and the export settings:
never uploaded).  "Upload the public folder" therefore cannot leak the key.
"""

from __future__ import annotations

from pathlib import Path

#: what is uploaded (audio/ to the web host, hits.csv and hit.html to AMT)
PUBLIC_DIR = "public"
#: what is kept: the key and the settings `bench listen analyze` reads
SECRET_DIR = "secret"
KEY_NAME = "SECRET_key.csv"
SETTINGS_NAME = "SECRET_export.json"
HITS_NAME = "hits.csv"
PAGE_NAME = "hit.html"
AUDIO_DIR = "audio"
#: the hits.csv column (and hidden page field) naming a HIT's content
HIT_REF = "hit_ref"
#: ``bench listen serve`` keeps its results CSV and answer journal here (never served)
LAB_DIR = "lab"
#: AMT's bulk review upload (the results file with Approve/Reject filled) and its compact summary
REVIEW_NAME = "approve_reject.csv"
REVIEW_SUMMARY_SUFFIX = "_summary.csv"


def public_dir(export_dir: Path) -> Path:
    """``DIR/public``: audio/, hits.csv and hit.html of an export."""
    return Path(export_dir) / PUBLIC_DIR


def secret_dir(export_dir: Path) -> Path:
    """``DIR/secret``: the key and the settings of an export (never uploaded)."""
    return Path(export_dir) / SECRET_DIR


def key_path(export_dir: Path) -> Path:
    return secret_dir(export_dir) / KEY_NAME


def settings_path(export_dir: Path) -> Path:
    return secret_dir(export_dir) / SETTINGS_NAME
