"""Where the synthetic data set's files go: the real Libri2Mix layout, plus our extras.

Why the real layout: the harness (and any Libri2Mix tool) reads the synthetic set
exactly like the real one. Libri2Mix files used here::

    <out>/Libri2Mix/wav16k/min/metadata/mixture_<split>_mix_clean.csv
    <out>/Libri2Mix/wav16k/min/<split>/{mix_clean,s1,s2}/<mixture_ID>.<ext>

and the extras that Libri2Mix gets from LibriSpeech or does not have::

    <out>/Libri2Mix/transcripts_<split>.csv      utterance_id,speaker_id,voice,engine,sex,text
    <out>/Libri2Mix/synth_<split>_mixtures.csv   per-mixture loudness and truncation
    <out>/Libri2Mix/voices.csv                   the voices and the splits they speak in
    <out>/Libri2Mix/README.txt                   what this is and how it was made
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

METADATA_COLUMNS = ("mixture_ID", "mixture_path", "source_1_path", "source_2_path", "length")
TRANSCRIPT_COLUMNS = ("utterance_id", "speaker_id", "voice", "engine", "sex", "text")
VOICE_COLUMNS = ("speaker_id", "voice", "engine", "engine_voice", "sex", "group", "splits")
SUBDIRS = ("mix_clean", "s1", "s2")

CHAPTERS = {"test": 100, "dev": 200, "train": 300}
"""Pseudo LibriSpeech chapter id of each split: utterance ids differ between splits."""


def libri2mix_root(out: Path) -> Path:
    return out / "Libri2Mix"


def mode_dir(root: Path) -> Path:
    return root / "wav16k" / "min"


def metadata_csv(root: Path, split: str) -> Path:
    return mode_dir(root) / "metadata" / f"mixture_{split}_mix_clean.csv"


def audio_path(root: Path, split: str, subdir: str, mixture_id: str, ext: str) -> Path:
    return mode_dir(root) / split / subdir / f"{mixture_id}.{ext}"


def transcripts_csv(root: Path, split: str) -> Path:
    return root / f"transcripts_{split}.csv"


def mixtures_info_csv(root: Path, split: str) -> Path:
    return root / f"synth_{split}_mixtures.csv"


def utterance_id(speaker_id: int, split: str, counter: int) -> str:
    """``<speaker>-<chapter>-<utt>`` like LibriSpeech's ``1272-128104-0000``."""
    return f"{speaker_id}-{CHAPTERS[split]}-{counter:04d}"


def mixture_id(utt1: str, utt2: str) -> str:
    """Libri2Mix joins the two utterance ids with ``_`` (utterance ids contain none)."""
    return f"{utt1}_{utt2}"


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write a CSV atomically (temporary file, then rename), ``\\n`` line ends like pandas."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def remove_stale_audio(root: Path, split: str, keep: set[str]) -> int:
    """Delete audio of ``split`` whose mixture id is not in ``keep`` (left by an earlier run).

    Only ``.wav``/``.flac`` files directly in the split's ``mix_clean``/``s1``/``s2``
    folders are touched: those folders belong to this generator.
    """
    removed = 0
    for sub in SUBDIRS:
        folder = mode_dir(root) / split / sub
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and path.suffix in (".wav", ".flac") and path.stem not in keep:
                path.unlink()
                removed += 1
    return removed
