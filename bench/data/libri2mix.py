"""Libri2Mix loader: a metadata CSV becomes a list of :class:`~bench.records.Mixture`.

Why this is more than ``read_csv``:

* LibriMix metadata CSVs hold absolute paths from the machine that generated them,
  so each path is re-anchored on the user's root by its ``wav16k/min/test/s1/x.wav``
  tail; relative paths and a ``.wav``/``.flac`` swap are accepted too (the embedded
  set ships FLAC under the same names).
* Every problem is a one-line :class:`BenchError` naming the file, because users
  point the harness at half-downloaded or hand-made trees.
* ``Dataset.fingerprint`` identifies the item list independently of where the data
  lives, so results from two copies of the data compare equal.  It covers the *whole
  order* the selection is cut from (the CSV, or ``--ids``, shuffled by ``--subset-seed``),
  not the ``--limit``: ``--limit N`` is the first N of that order, so ``--limit 8`` is a
  subset of ``--limit 16`` and both file their rows under one key, by mixture ID, and a
  smaller run reuses the estimates and scores of a larger one.
  :meth:`Dataset.prefix_fingerprint` is the key a limited selection had before subsets
  nested (results stored then are adopted under the new key by ``bench run``/``score``).

Checks are layered by cost: :func:`open_dataset` reads the CSV and checks that the
selected files exist; :meth:`Dataset.load` checks the headers of the files it reads
(rate, channels, lengths) and warns (logger ``bench.data``) when a mix_clean
mixture is not s1+s2; :func:`bench.data.check.check_dataset` does all of it for
every item.

``mix_single`` (one speaker plus noise) is supported as a *one-source* dataset:
its mixtures have a single reference, ``source_1``.  Two-speaker separation
systems do not apply to it; that is the runner's business, not the loader's.
``segment="first3s"`` (TokenSplit's protocol) evaluates the first 3 s of each
mixture; mixtures shorter than 3 s are kept whole.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.resources
import io
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

import numpy as np

from bench.audio import audio_info, read_audio
from bench.data.transcripts import Transcripts, load_transcripts
from bench.errors import BenchError
from bench.paths import check_mixture_id
from bench.records import LoadedMixture, Mixture

logger = logging.getLogger("bench.data")

SAMPLE_RATE_DIRS = {8000: "wav8k", 16000: "wav16k"}
MODES = ("min", "max")
MIX_TYPES = ("mix_clean", "mix_both", "mix_single")
SEGMENTS = {"full": None, "first3s": 3.0}  # name -> seconds kept from the start
SUM_TOLERANCE = 1e-3  # max |mix - sum(parts)|; 16-bit files differ by a few 3e-5 LSBs
#: shortest evaluated segment: below it the pairing's STFT and the metrics have (almost) no frames
#: to work on and would store fake scores (a 1-sample item crashed the pairing, 0.05 s gave STOI 1e-5)
MIN_SECONDS = 0.25
#: a reference whose peak stays below this (-80 dBFS, about three 16-bit steps) is silent:
#: SI-SNR against it is undefined and STOI finds no speech frames, so it cannot score anything
SILENCE_PEAK = 1e-4
SOURCE_COLUMNS = {
    "mix_clean": ("source_1_path", "source_2_path"),
    "mix_both": ("source_1_path", "source_2_path"),
    "mix_single": ("source_1_path",),
}
_AUDIO_SUFFIXES = (".wav", ".flac")
_RATE_DIR = re.compile(r"wav\d+k")


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that selects a Libri2Mix item list (see module docstring)."""

    root: Path | None = None
    sample_rate: int = 16000
    mode: str = "min"
    mix_type: str = "mix_clean"
    split: str = "test"
    limit: int | None = None
    subset_seed: int | None = None
    ids_file: Path | None = None
    segment: str = "full"
    librispeech_root: Path | None = None
    transcripts_csv: Path | None = None

    def __post_init__(self) -> None:
        # The CLI and config files hand over strings; normalise once, fail early.
        for name in ("root", "ids_file", "librispeech_root", "transcripts_csv"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value).expanduser())
        try:
            object.__setattr__(self, "sample_rate", int(self.sample_rate))
        except (TypeError, ValueError):
            raise BenchError(f"invalid sample rate {self.sample_rate!r} (choose from 8000, 16000)") from None
        _choice("sample rate", self.sample_rate, tuple(SAMPLE_RATE_DIRS))
        _choice("mode", self.mode, MODES)
        _choice("mix type", self.mix_type, MIX_TYPES)
        _choice("segment", self.segment, tuple(SEGMENTS))
        if not self.split or "/" in self.split:
            raise BenchError(f"invalid split {self.split!r}")
        if self.limit is not None and int(self.limit) < 1:
            raise BenchError(f"dataset limit must be at least 1, got {self.limit}")

    @property
    def rate_dir(self) -> str:
        return SAMPLE_RATE_DIRS[self.sample_rate]

    @property
    def metadata_relpath(self) -> Path:
        """The metadata CSV, relative to the Libri2Mix root."""
        return Path(self.rate_dir, self.mode, "metadata", f"mixture_{self.split}_{self.mix_type}.csv")


class Dataset:
    """The selected mixtures of one Libri2Mix metadata CSV.

    ``noise_paths`` maps mixture IDs to their noise file for mix_both/mix_single
    (when the CSV names one that exists); the noise is not a reference but lets
    :func:`check_dataset` verify ``mixture == sources + noise``.
    """

    def __init__(self, spec: DatasetSpec, root: Path, csv_path: Path, mixtures: list[Mixture],
                 lengths: dict[str, int], noise_paths: dict[str, Path], order: list[str], csv_sha256: str):
        self.spec = spec
        self.root = root
        self.csv_path = csv_path
        self.mixtures = mixtures
        self.lengths = lengths  # full file length per mixture ID, from the CSV
        self.noise_paths = noise_paths
        #: every mixture ID of the order the selection is the start of (``--limit`` cuts it)
        self.order = order
        self._csv_sha256 = csv_sha256
        #: the store's dataset key: the whole order, so every ``--limit`` of it shares one key
        self.fingerprint = _fingerprint(spec, csv_sha256, order)
        #: the whole order's name (the key's); :attr:`subset` says which part of it is selected
        self.name = _name(spec)

    @property
    def total(self) -> int:
        """How many mixtures the whole order holds (``--limit`` selects the first ``len(self)``)."""
        return len(self.order)

    @property
    def subset(self) -> str:
        """``n=16 of 80`` (the first 16 of the order), or ``all 80``."""
        return subset_text(len(self), self.total)

    @property
    def selection_fingerprint(self) -> str:
        """A key of exactly the selected items (for caches of work done on them, e.g. training tokens)."""
        return self.prefix_fingerprint(self.total if self.spec.limit is None else int(self.spec.limit))

    def prefix_fingerprint(self, n: int) -> str:
        """The key of the order's first ``n`` mixtures as one list: the dataset key a ``--limit n`` run had
        before subsets nested (equal to :attr:`fingerprint` when ``n`` is the whole order)."""
        return _fingerprint(self.spec, self._csv_sha256, self.order[: int(n)])

    def __len__(self) -> int:
        return len(self.mixtures)

    def __iter__(self) -> Iterator[Mixture]:
        return iter(self.mixtures)

    def __getitem__(self, index: int) -> Mixture:
        return self.mixtures[index]

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {self.subset} mixtures, root={str(self.root)!r})"

    def load(self, mixture: Mixture) -> LoadedMixture:
        """Read the evaluated segment of the mixture and its sources (float32).

        Headers are checked first so that a wrong rate, a stereo file or a length
        mismatch is reported as such, not as a shape error deep in a metric.
        """
        problems = self.header_problems(mixture, include_noise=False)
        if problems:
            raise BenchError(problems[0])
        mix, _ = read_audio(mixture.mixture_path, mixture.start, mixture.num_samples)
        sources = np.stack([read_audio(p, mixture.start, mixture.num_samples)[0] for p in mixture.source_paths])
        problems = content_problems(mixture, mix, sources)
        if problems:
            raise BenchError(problems[0])
        if self.spec.mix_type == "mix_clean":
            warning = sum_warning(mixture, mix, sources, "s1+s2")
            if warning:
                logger.warning(warning)
        return LoadedMixture(record=mixture, mixture=mix, sources=sources)

    def header_problems(self, mixture: Mixture, include_noise: bool = True) -> list[str]:
        """All header-level problems of one item, as one-line messages (no audio read)."""
        paths = [mixture.mixture_path, *mixture.source_paths]
        noise = self.noise_paths.get(mixture.mixture_id)
        if include_noise and noise is not None:
            paths.append(noise)
        where = f"(mixture {mixture.mixture_id})"
        problems: list[str] = []
        frames: dict[Path, int] = {}
        for path in paths:
            try:
                info = audio_info(path)
            except BenchError as exc:
                problems.append(f"{exc} {where}")
                continue
            if info.samplerate != mixture.sample_rate:
                problems.append(f"{path}: sample rate {info.samplerate} Hz, expected {mixture.sample_rate} Hz {where}")
            if info.channels != 1:
                problems.append(f"{path}: {info.channels} channels, expected 1 (mono) {where}")
            frames[path] = int(info.frames)
        expected = self.lengths.get(mixture.mixture_id)
        mix_frames = frames.get(mixture.mixture_path)
        if mix_frames is not None and expected is not None and mix_frames != expected:
            problems.append(f"{mixture.mixture_path}: {mix_frames} samples, but {self.csv_path.name} says length {expected} {where}")
        reference = mix_frames if mix_frames is not None else expected
        for path in paths[1:]:
            if path in frames and reference is not None and frames[path] != reference:
                problems.append(f"{path}: {frames[path]} samples, but the mixture has {reference} {where}")
        if mixture.num_samples < int(MIN_SECONDS * mixture.sample_rate):
            problems.append(f"{mixture.mixture_path}: evaluated segment of {mixture.num_samples} samples "
                            f"({mixture.seconds:.3f} s) is shorter than the {MIN_SECONDS:g} s minimum {where}")
        if reference is not None and mixture.start + mixture.num_samples > reference:
            problems.append(f"{mixture.mixture_path}: segment ends at sample {mixture.start + mixture.num_samples}, past the end ({reference}) {where}")
        return problems


def content_problems(mixture: Mixture, mix: np.ndarray, sources: np.ndarray) -> list[str]:
    """Audio that is numbers but not usable speech: NaN/Inf anywhere, or a silent reference.

    Both are data errors, named by file: a NaN would otherwise surface as the *system*
    returning non-finite samples, and a silent reference as STOI 1e-5 or a NULL SI-SNRi
    stored as if it were a score.
    """
    where = f"(mixture {mixture.mixture_id})"
    problems = [f"{path}: holds non-finite samples (NaN or Inf) {where}"
                for path, audio in zip((mixture.mixture_path, *mixture.source_paths), (mix, *sources))
                if not np.all(np.isfinite(audio))]
    for path, audio in zip(mixture.source_paths, sources):
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if np.isfinite(peak) and peak < SILENCE_PEAK:
            problems.append(f"{path}: reference is silent (peak {peak:.2g} < {SILENCE_PEAK:g}); "
                            f"nothing to score it against {where}")
    return problems


def sum_warning(mixture: Mixture, mix: np.ndarray, parts: np.ndarray, what: str) -> str | None:
    """Message if ``mix`` is not ``sum(parts)`` within :data:`SUM_TOLERANCE`, else ``None``."""
    diff = float(np.max(np.abs(mix - parts.sum(axis=0)))) if mix.size else 0.0
    if diff <= SUM_TOLERANCE:
        return None
    return (f"{mixture.mixture_path}: mixture differs from {what} by up to {diff:.3g} "
            f"(tolerance {SUM_TOLERANCE:g}) (mixture {mixture.mixture_id})")


def embedded_root() -> Path:
    """Directory of the small dataset shipped inside the package (holds ``Libri2Mix/``)."""
    return Path(str(importlib.resources.files("bench.data").joinpath("embedded")))


def open_dataset(spec: DatasetSpec, item_errors: list[str] | None = None) -> Dataset:
    """Read the metadata CSV, resolve paths, select the subset; reads no audio.

    With ``item_errors`` (``bench data check``), a bad row is appended there and skipped
    instead of stopping the whole read.
    """
    return _open(spec, item_errors=item_errors)


def resolve_root(root: Path | None) -> Path:
    """The ``Libri2Mix`` directory for ``root`` (itself or its ``Libri2Mix/`` child)."""
    if root is None:
        path = embedded_root()
        if not (path / "Libri2Mix").is_dir():
            raise BenchError(f"{path}: embedded dataset is missing (package installed without its data?)")
        return path / "Libri2Mix"
    root = Path(root).expanduser()
    if not root.exists():
        raise BenchError(f"{root}: dataset root does not exist")
    if not root.is_dir():
        raise BenchError(f"{root}: dataset root is not a directory")
    if (root / "Libri2Mix").is_dir():
        return root / "Libri2Mix"
    if root.name == "Libri2Mix" or any((root / d).is_dir() for d in SAMPLE_RATE_DIRS.values()):
        return root
    raise BenchError(f"{root}: not a Libri2Mix root (expected a Libri2Mix/ directory, or wav8k/ or wav16k/ inside)")


def _open(spec: DatasetSpec, item_errors: list[str] | None) -> Dataset:
    """Shared by :func:`open_dataset` (raise at the first missing file) and
    :func:`check_dataset` (pass ``item_errors`` to collect them and skip the item)."""
    root = resolve_root(spec.root)
    csv_path, csv_bytes, rows = _read_metadata(root, spec)
    order = _order(rows, spec, csv_path)
    selected = order if spec.limit is None else order[: int(spec.limit)]
    transcripts = _transcripts(spec, root)
    limit_s = SEGMENTS[spec.segment]
    keep = None if limit_s is None else int(round(limit_s * spec.sample_rate))
    fallback = root / spec.rate_dir / spec.mode / spec.split
    mixtures, lengths, noise_paths = [], {}, {}
    for row in selected:
        try:
            mixture, length, noise = _build(row, spec, root, csv_path, fallback, keep, transcripts)
        except BenchError as exc:
            if item_errors is None:
                raise
            item_errors.append(str(exc))
            continue
        mixtures.append(mixture)
        lengths[mixture.mixture_id] = length
        if noise is not None:
            noise_paths[mixture.mixture_id] = noise
    return Dataset(spec, root, csv_path, mixtures, lengths, noise_paths, order=[row["mixture_ID"] for row in order],
                   csv_sha256=hashlib.sha256(csv_bytes).hexdigest())


def _read_metadata(root: Path, spec: DatasetSpec) -> tuple[Path, bytes, list[dict[str, str]]]:
    csv_path = root / spec.metadata_relpath
    if not csv_path.is_file():
        found = sorted(p.relative_to(root).as_posix() for p in root.glob("wav*k/*/metadata/*.csv"))
        hint = f"available: {', '.join(found)}" if found else f"no metadata CSVs under {root}"
        raise BenchError(f"{csv_path}: metadata CSV not found ({hint})")
    data = csv_path.read_bytes()
    try:
        table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BenchError(f"{csv_path}: unparsable CSV ({exc})") from None
    table = [r for r in table if any(cell.strip() for cell in r)]
    if not table:
        raise BenchError(f"{csv_path}: empty metadata CSV")
    header = [h.strip() for h in table[0]]
    required = ["mixture_ID", "mixture_path", *SOURCE_COLUMNS[spec.mix_type], "length"]
    missing = [c for c in required if c not in header]
    if missing:
        raise BenchError(f"{csv_path}: missing column(s) {', '.join(missing)} (found: {', '.join(header)})")
    if len(table) == 1:
        raise BenchError(f"{csv_path}: metadata CSV has no rows")
    rows, seen = [], set()
    for line, cells in enumerate(table[1:], start=2):
        if len(cells) != len(header):
            raise BenchError(f"{csv_path}: row {line} has {len(cells)} fields, header has {len(header)}")
        row = {h: c.strip() for h, c in zip(header, cells)}
        bad_id = check_mixture_id(row["mixture_ID"])
        if bad_id:  # IDs become folder names under --results: refuse before any work starts
            raise BenchError(f"{csv_path}: row {line}: {bad_id}")
        if row["mixture_ID"] in seen:
            raise BenchError(f"{csv_path}: duplicate mixture_ID {row['mixture_ID']} (row {line})")
        seen.add(row["mixture_ID"])
        row["_line"] = str(line)
        rows.append(row)
    return csv_path, data, rows


def _order(rows: list[dict[str, str]], spec: DatasetSpec, csv_path: Path) -> list[dict[str, str]]:
    """The order ``--limit`` cuts: the ids file (its order) or the CSV, then a seeded shuffle of all of it."""
    if spec.ids_file is not None:
        by_id = {row["mixture_ID"]: row for row in rows}
        wanted = read_ids_file(spec.ids_file)
        unknown = [i for i in wanted if i not in by_id]
        if unknown:
            shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            raise BenchError(f"{spec.ids_file}: {len(unknown)} mixture ID(s) not in {csv_path.name}: {shown}")
        rows = [by_id[i] for i in wanted]
    if spec.subset_seed is not None:
        order = np.random.default_rng(int(spec.subset_seed)).permutation(len(rows))
        rows = [rows[i] for i in order]
    return rows


def read_ids_file(path: Path) -> list[str]:
    """Mixture IDs, one a line; blank lines and ``#`` comments ignored."""
    path = Path(path).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BenchError(f"{path}: IDs file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: cannot read IDs file ({exc})") from None
    ids = [line.split("#", 1)[0].strip() for line in lines]
    ids = [i for i in ids if i]
    if not ids:
        raise BenchError(f"{path}: IDs file lists no mixture IDs")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise BenchError(f"{path}: duplicate mixture ID(s) {', '.join(duplicates[:5])}")
    return ids


def _transcripts(spec: DatasetSpec, root: Path) -> Transcripts | None:
    """Explicit sources; else a ``transcripts_<split>.csv`` shipped next to the data
    (the embedded set has one)."""
    csv_path = spec.transcripts_csv
    if csv_path is None and (root / f"transcripts_{spec.split}.csv").is_file():
        csv_path = root / f"transcripts_{spec.split}.csv"
    return load_transcripts(spec.librispeech_root, csv_path)


def _build(row: dict[str, str], spec: DatasetSpec, root: Path, csv_path: Path, fallback: Path,
           keep: int | None, transcripts: Transcripts | None) -> tuple[Mixture, int, Path | None]:
    mid = row["mixture_ID"]
    try:
        length = int(float(row["length"]))
        if length != float(row["length"]) or length < 0:
            raise ValueError
    except ValueError:
        raise BenchError(f"{csv_path}: row {row['_line']} (mixture {mid}): bad length {row['length']!r}") from None

    def find(column: str) -> Path:
        raw = row[column]
        if not raw:
            raise BenchError(f"{csv_path}: row {row['_line']} (mixture {mid}): empty {column}")
        path, tried = resolve_audio_path(raw, root, fallback)
        if path is None:
            raise BenchError(f"{tried}: audio file not found for mixture {mid} ({column} {raw} in {csv_path.name})")
        return path

    mixture_path = find("mixture_path")
    sources = tuple(find(c) for c in SOURCE_COLUMNS[spec.mix_type])
    noise = None
    if row.get("noise_path"):
        noise, _ = resolve_audio_path(row["noise_path"], root, fallback)
    num_sources = len(sources)
    texts = transcripts.for_mixture(mid, num_sources) if transcripts else (None,) * num_sources
    mixture = Mixture(mixture_id=mid, mixture_path=mixture_path, source_paths=sources,
                      sample_rate=spec.sample_rate, num_samples=length if keep is None else min(length, keep),
                      start=0, transcripts=texts)
    return mixture, length, noise


def resolve_audio_path(raw: str, root: Path, fallback: Path) -> tuple[Path | None, Path]:
    """Locate a CSV path on this machine; returns (path or None, the main candidate tried).

    Tried in order: its tail from the ``wavNk`` component re-anchored on ``root``
    (first, so that a copy given as root wins over an original that happens to
    exist at the written absolute path); the path as written (relative ones
    against ``root``); ``<split dir>/<subdir>/<name>``.  Each also with the other
    audio suffix (.wav <-> .flac).
    """
    text = raw.strip().replace("\\", "/")
    parts = PurePosixPath(text).parts
    candidates = []
    rate_idx = [i for i, p in enumerate(parts) if _RATE_DIR.fullmatch(p)]
    if rate_idx:
        candidates.append(root.joinpath(*parts[rate_idx[-1]:]))
    candidates.append(Path(text) if Path(text).is_absolute() else root / text)
    if len(parts) >= 2:
        candidates.append(fallback / parts[-2] / parts[-1])
    for candidate in candidates:
        if candidate.is_file():
            return candidate, candidate
        for suffix in _AUDIO_SUFFIXES:
            other = candidate.with_suffix(suffix)
            if other != candidate and other.is_file():
                return other, candidate
    return None, candidates[0]


def _fingerprint(spec: DatasetSpec, csv_sha256: str, ids: list[str]) -> str:
    """sha256 over what defines the items and their content; not the root path.

    The payload is the one keys had before subsets nested, over the whole order's IDs, so a
    run without ``--limit`` keeps the key it had (and its stored results)."""
    payload = json.dumps({
        "format": "libri2mix-v1",
        "csv_sha256": csv_sha256,
        "ids": ids,
        "sample_rate": spec.sample_rate,
        "segment": spec.segment,
        "mix_type": spec.mix_type,
        "mode": spec.mode,
        "split": spec.split,
    }, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _name(spec: DatasetSpec) -> str:
    """The whole order's name: ``embedded/wav16k/min/test/mix_clean[seed=0]`` (no ``--limit``: that is the subset)."""
    base = "embedded" if spec.root is None else "Libri2Mix"
    tags = [spec.segment] if spec.segment != "full" else []
    if spec.ids_file is not None:
        tags.append(f"ids={spec.ids_file.name}")
    if spec.subset_seed is not None:
        tags.append(f"seed={spec.subset_seed}")
    suffix = f"[{','.join(tags)}]" if tags else ""
    return f"{base}/{spec.rate_dir}/{spec.mode}/{spec.split}/{spec.mix_type}{suffix}"


def subset_text(selected: int, total: int) -> str:
    """``n=16 of 80``, or ``all 80`` when nothing is left out."""
    return f"all {total}" if selected >= total else f"n={selected} of {total}"


def _choice(what: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise BenchError(f"invalid {what} {value!r} (choose from {', '.join(map(str, allowed))})")
