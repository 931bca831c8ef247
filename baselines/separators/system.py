"""The ``sepformer`` system: separation only, nothing transmitted (the paper's "+∞" row).

``model_dir`` (option, e.g. from ``bench.toml``) points at any Sepformer in
speechbrain's pretrained format, or names one on the Hugging Face hub
(``speechbrain/sepformer-libri2mix``), which is then read from the local hub cache at
its pinned commit (:mod:`bench.hub`; ``bench assets fetch sepformer-libri2mix`` puts it
there); without it the project's own model shipped in ``pretrained/sepformer-small`` (trained
only on voices the embedded test set does not use) is used.  A model trained at another rate (the public ``speechbrain/sepformer-libri2mix``
runs at 8 kHz) is resampled around, and the config records both rates and, for a hub
model, the repository and commit, so the run manifest says what happened.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import yaml

from bench.errors import BenchError
from bench.records import LoadedMixture, Separation
from bench.system import System

if TYPE_CHECKING:
    from bench.hub import Snapshot

DEFAULT_MODEL = "sepformer-small"


def default_model_dir() -> Path:
    """The shipped default separator (package data)."""
    return Path(str(importlib.resources.files("bench.baselines.separators").joinpath("pretrained", DEFAULT_MODEL)))


def resolve_model_dir(model_dir: "str | Path | None") -> Path:
    """The directory a ``model_dir`` option means: the shipped model, a local path, or a cached hub snapshot."""
    return locate(model_dir).path


def locate(model_dir: "str | Path | None") -> "Snapshot":
    """Where the separator's files are; a hub id not in the cache is one line naming the fetch command."""
    from bench.hub import SEPFORMER_FILES, Snapshot, is_hub_id, resolve

    if model_dir in (None, ""):
        return Snapshot(default_model_dir())
    if is_hub_id(str(model_dir)):
        return resolve(str(model_dir), SEPFORMER_FILES, what="separator")
    return Snapshot(Path(str(model_dir)).expanduser())


def separator_assets(model_dir: "str | Path | None") -> list[str]:
    """``bench assets`` names of a hub separator that the cache lacks (``[]`` for local directories)."""
    from bench.hub import by_repo, is_hub_id, status

    known = by_repo(str(model_dir)) if model_dir and is_hub_id(str(model_dir)) else None
    return [known.name] if known is not None and status(known) != "present" else []


def peek_hparams(model_dir: Path) -> dict[str, Any]:
    """Top-level scalars of ``hyperparams.yaml`` without building any module (tags are skipped)."""
    from bench.baselines.separators.hparams import check_text
    from bench.baselines.separators.sepformer import HPARAMS_FILE

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    path = model_dir / HPARAMS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    check_text(text, str(path))  # a refused tag is reported as such, before anything else reads the file
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise BenchError(f"{path}: cannot read ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise BenchError(f"{path}: not a mapping")
    return {k: v for k, v in data.items() if isinstance(v, (int, float, str, bool))}


def separator_config(model_dir: Path, rate: int, snapshot: "Snapshot | None" = None) -> dict[str, Any]:
    """What the manifest should say about a separator: its rate, the resampling around it, its hub commit."""
    model_rate = int(peek_hparams(model_dir).get("sample_rate", 0)) or None
    if model_rate is None:
        raise BenchError(f"{model_dir}: hyperparams.yaml has no 'sample_rate'")
    chain = f"{rate}->{model_rate}->{rate} Hz" if model_rate != rate else "none"
    config: dict[str, Any] = {"model": model_dir.name, "model_sample_rate": model_rate, "resampling": chain}
    if snapshot is not None and snapshot.repo is not None:
        config.update(model=snapshot.repo, revision=snapshot.revision)
    return config


class SeparatorStage:
    """A loaded separator plus how the harness calls it; shared by sepformer, FCTS and FSTC."""

    def __init__(self, model_dir: "str | Path | None", device: str, rate: int, system_name: str) -> None:
        from bench.baselines.separators.sepformer import missing_files

        try:
            snapshot = locate(model_dir)
        except BenchError as exc:
            raise BenchError(f"system {system_name!r}: {exc}") from None
        self.model_dir = snapshot.path
        absent = missing_files(self.model_dir)
        if absent:
            raise BenchError(f"system {system_name!r}: separator {self.model_dir} is missing "
                             f"{', '.join(p.name for p in absent)}")
        self.device = device
        self.rate = rate
        self.config = separator_config(self.model_dir, rate, snapshot)
        self._model = None
        self._identity: str | None = None

    def files(self) -> list[Path]:
        from bench.baselines.separators.sepformer import checkpoint_paths

        return checkpoint_paths(self.model_dir)

    @property
    def model(self):
        """Built on first use: ``bench systems`` and key computation need no weights in memory."""
        if self._model is None:
            from bench.baselines.separators.sepformer import load_separator

            self._model = load_separator(self.model_dir, device=self.device)
        return self._model

    @property
    def identity(self) -> str:
        """The weights' content: the SHA-256 of each file (memoised; the system key hashes them too)."""
        from bench.system import file_sha256

        if self._identity is None:
            self._identity = "|".join(file_sha256(Path(p)) for p in self.files())
        return self._identity

    def separate(self, mixtures: Sequence, max_batch: int) -> list:
        """[S, T] estimates at ``rate`` for each 1-D mixture at ``rate`` (raw model gain).

        Through the process-wide memo: sepformer and every fstc@b of a run separate the same
        mixtures with the same weights, so only the first of them computes (see ``memo.py``).
        """
        from bench.baselines.separators.memo import SHARED

        return SHARED.separate(self.identity, str(self.device), self.rate, list(mixtures),
                               lambda todo: self.model.separate_many(todo, rate=self.rate, device=self.device,
                                                                     max_batch=max_batch))


def separator_status(model_dir: "str | Path | None") -> str:
    """``present`` or ``missing: …`` for ``bench systems``."""
    from bench.baselines.separators.sepformer import missing_files

    try:
        directory = resolve_model_dir(model_dir)
    except BenchError as exc:
        return f"missing: {exc}"
    absent = missing_files(directory)
    if absent:
        return f"missing: {directory} lacks {', '.join(p.name for p in absent)}"
    return "present"


class SepformerSystem(System):
    """Sepformer separation without any codec: the unbounded-bitrate upper bound."""

    family = "sepformer"
    max_batch_size = 8   # equal-length mixtures only are batched together (see sepformer.py)

    def __init__(self, name: str, kbps: float | None = None, device: str = "cpu", sample_rate: int = 16000,
                 model_dir: "str | None" = None, **options: Any) -> None:
        if model_dir is not None:
            options["model_dir"] = model_dir
        super().__init__(name, kbps=kbps, device=device, sample_rate=sample_rate, **options)
        self.stage = SeparatorStage(model_dir, device, sample_rate, name)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "separator": self.stage.config}

    def checkpoint_files(self) -> Sequence[Path]:
        return self.stage.files()

    @classmethod
    def weights_status(cls, **options: Any) -> str:
        return separator_status(options.get("model_dir"))

    @classmethod
    def missing_assets(cls, **options: Any) -> list[str]:
        return separator_assets(options.get("model_dir"))

    def separate(self, batch: Sequence[LoadedMixture]) -> list[Separation]:
        estimates = self.stage.separate([item.mixture for item in batch], self.max_batch_size)
        return [Separation(estimates=est) for est in estimates]
