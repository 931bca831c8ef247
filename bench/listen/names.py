"""File names inside an export folder, shared by export, analyze, serve and the report hints.

One owner, so the hint under ``bench report --table 3`` names the key file the export
really writes, and ``bench listen serve`` knows which files it must never serve.
"""

from __future__ import annotations

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
