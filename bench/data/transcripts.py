"""Reference transcripts for the sources of a mixture (used by ASR-based metrics).

A LibriMix mixture ID is its source utterance IDs joined by ``_``
(``1089-134686-0000_121-121726-0001``).  LibriSpeech keeps each chapter's text in
``<subset>/<spk>/<chapter>/<spk>-<chapter>.trans.txt`` (lines ``UTTID TEXT``);
only the chapters the selected mixtures need are read, because a full LibriSpeech
tree has thousands of them.  A transcripts CSV (``utterance_id,text``, other
columns ignored; the embedded set ships one) serves data that is not LibriSpeech.

A missing transcript is ``None`` rather than an error: transcripts are optional
(only WER-type metrics need them) so their absence must not stop a run.  A
LibriSpeech root or CSV that does not exist, however, is a typo worth reporting.
"""

from __future__ import annotations

import csv
import itertools
import re
from pathlib import Path
from typing import Callable, Protocol

from bench.errors import BenchError

_LIBRISPEECH_ID = re.compile(r"(\d+)-(\d+)-\d+")


class TranscriptSource(Protocol):
    def get(self, utterance_id: str) -> str | None: ...


class LibriSpeechTranscripts:
    """Lazy lookup in a LibriSpeech tree.

    ``root`` may be a subset directory (``test-clean``), the ``LibriSpeech``
    directory holding subsets, or the directory containing ``LibriSpeech``.
    """

    def __init__(self, root: Path):
        root = Path(root).expanduser()
        if not root.is_dir():
            raise BenchError(f"{root}: LibriSpeech root does not exist")
        self.root = root
        self._bases: list[Path] | None = None
        self._chapters: dict[tuple[str, str], dict[str, str]] = {}

    def get(self, utterance_id: str) -> str | None:
        match = _LIBRISPEECH_ID.fullmatch(utterance_id)
        if match is None:
            return None
        key = (match.group(1), match.group(2))
        if key not in self._chapters:
            self._chapters[key] = self._read_chapter(*key)
        return self._chapters[key].get(utterance_id)

    def _search_bases(self) -> list[Path]:
        """Directories that may hold ``<spk>/<chapter>/``: root, and up to two levels
        of non-numeric subdirectories (numeric ones are speakers, not subsets)."""
        if self._bases is None:
            bases = [self.root]
            for child in _subdirs(self.root):
                bases.append(child)
                bases.extend(_subdirs(child))
            self._bases = bases
        return self._bases

    def _read_chapter(self, speaker: str, chapter: str) -> dict[str, str]:
        name = f"{speaker}-{chapter}.trans.txt"
        for base in self._search_bases():
            path = base / speaker / chapter / name
            if path.is_file():
                return _parse_trans_txt(path)
        return {}


class CsvTranscripts:
    """All rows of a ``utterance_id,text`` CSV, read once."""

    def __init__(self, path: Path):
        path = Path(path).expanduser()
        if not path.is_file():
            raise BenchError(f"{path}: transcripts CSV not found")
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                fields = [h.strip() for h in reader.fieldnames or []]
                missing = [c for c in ("utterance_id", "text") if c not in fields]
                if missing:
                    raise BenchError(f"{path}: transcripts CSV lacks column(s) {', '.join(missing)} (found: {', '.join(fields) or 'none'})")
                reader.fieldnames = fields
                self._texts = {row["utterance_id"].strip(): (row["text"] or "").strip() for row in reader}
        except (csv.Error, UnicodeDecodeError, AttributeError) as exc:
            raise BenchError(f"{path}: unparsable transcripts CSV ({exc})") from None
        self.path = path

    def get(self, utterance_id: str) -> str | None:
        return self._texts.get(utterance_id)


class Transcripts:
    """Several sources queried in order; the first one that knows an utterance wins."""

    def __init__(self, sources: list[TranscriptSource]):
        self.sources = sources

    def get(self, utterance_id: str) -> str | None:
        for source in self.sources:
            text = source.get(utterance_id)
            if text is not None:
                return text
        return None

    def for_mixture(self, mixture_id: str, num_sources: int) -> tuple[str | None, ...]:
        """One transcript (or ``None``) per source of ``mixture_id``."""
        ids = split_mixture_id(mixture_id, num_sources, lambda u: self.get(u) is not None)
        if ids is None:
            return (None,) * num_sources
        return tuple(self.get(u) for u in ids)


def split_mixture_id(mixture_id: str, num_sources: int,
                     is_known: Callable[[str], bool] | None = None) -> list[str] | None:
    """Utterance IDs of the first ``num_sources`` sources of a mixture, or ``None``.

    LibriSpeech-style IDs split on ``_`` directly (mix_single IDs name two
    utterances of which only the first is used).  Other IDs may themselves contain
    ``_``; then the groupings of ``_``-tokens are tried and the first whose parts
    all are known utterances wins.
    """
    tokens = mixture_id.split("_")
    if len(tokens) == num_sources:
        return tokens
    if len(tokens) > num_sources and all(_LIBRISPEECH_ID.fullmatch(t) for t in tokens):
        return tokens[:num_sources]
    if is_known is None or len(tokens) < num_sources or len(tokens) > 16:
        return None
    for cuts in itertools.combinations(range(1, len(tokens)), num_sources - 1):
        bounds = (0, *cuts, len(tokens))
        parts = ["_".join(tokens[a:b]) for a, b in zip(bounds, bounds[1:])]
        if all(is_known(p) for p in parts):
            return parts
    return None


def load_transcripts(librispeech_root: Path | None, transcripts_csv: Path | None) -> Transcripts | None:
    """The configured transcript sources (CSV first, then LibriSpeech), or ``None``."""
    sources: list[TranscriptSource] = []
    if transcripts_csv is not None:
        sources.append(CsvTranscripts(transcripts_csv))
    if librispeech_root is not None:
        sources.append(LibriSpeechTranscripts(librispeech_root))
    return Transcripts(sources) if sources else None


def _parse_trans_txt(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: cannot read transcripts ({exc})") from None
    texts = {}
    for line in lines:
        parts = line.strip().split(maxsplit=1)
        if parts:
            texts[parts[0]] = parts[1] if len(parts) > 1 else ""
    return texts


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.isdigit())
    except OSError:
        return []
