"""Load, run and save Sepformer separators in speechbrain's pretrained-model format.

A model directory holds ``hyperparams.yaml`` (with ``modules`` and ``sample_rate``)
and ``encoder.ckpt``, ``masknet.ckpt``, ``decoder.ckpt`` (plain ``state_dict``
pickles).  We build the modules from the yaml ourselves instead of going through
``SepformerSeparation.from_hparams``: that needs a writable ``savedir`` and its
``separate_file`` peak-normalises the estimates, whereas the harness must see the
model's raw output at the model's own gain.

The Sepformer has no length mask: its global layer norm and the inter-chunk
attention see every frame, so zero-padding a short mixture to batch it with a
longer one changes its estimates.  :meth:`SepformerSeparator.separate_many`
therefore only batches mixtures of identical length.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.errors import BenchError
from bench.safe_load import load_checkpoint

log = logging.getLogger(__name__)

MODULE_NAMES = ("encoder", "masknet", "decoder")
HPARAMS_FILE = "hyperparams.yaml"


def checkpoint_paths(model_dir: Path) -> list[Path]:
    """The files whose content defines a model directory (yaml first, then the three ckpts)."""
    return [model_dir / HPARAMS_FILE, *(model_dir / f"{name}.ckpt" for name in MODULE_NAMES)]


def missing_files(model_dir: Path) -> list[Path]:
    """Which of the required files are absent (empty when the directory is complete)."""
    return [path for path in checkpoint_paths(model_dir) if not path.is_file()]


class SepformerSeparator(nn.Module):
    """Encoder → mask network → decoder, exactly as speechbrain's ``separate_batch``.

    ``sample_rate`` is the rate the weights were trained at; :meth:`separate_many`
    resamples to it and back, so callers work at their own rate.
    """

    def __init__(self, encoder: nn.Module, masknet: nn.Module, decoder: nn.Module, sample_rate: int,
                 num_spks: int = 2) -> None:
        super().__init__()
        self.encoder = encoder
        self.masknet = masknet
        self.decoder = decoder
        self.sample_rate = int(sample_rate)
        self.num_spks = int(num_spks)

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        """``mix`` [B, T] at ``sample_rate`` → estimates [B, S, T] (no normalisation)."""
        mix_w = self.encoder(mix)                       # [B, N, L]
        masks = self.masknet(mix_w)                     # [S, B, N, L]
        decoded = torch.stack([self.decoder(mix_w * masks[k]) for k in range(self.num_spks)], dim=1)
        length = mix.shape[-1]
        if decoded.shape[-1] < length:                  # the transposed conv may end a few samples short
            decoded = F.pad(decoded, (0, length - decoded.shape[-1]))
        return decoded[..., :length]

    @torch.inference_mode()
    def separate_many(self, mixtures: Sequence[np.ndarray], rate: int, device: str | torch.device = "cpu",
                      max_batch: int = 8) -> list[np.ndarray]:
        """Separate 1-D mixtures at ``rate``; returns [S, T] float32 arrays at ``rate``.

        Mixtures are grouped by exact length (padding would change the output) and
        each group runs in batches of at most ``max_batch``.
        """
        results: list[np.ndarray | None] = [None] * len(mixtures)
        groups: dict[int, list[int]] = defaultdict(list)
        for index, mixture in enumerate(mixtures):
            groups[int(np.asarray(mixture).shape[-1])].append(index)
        for length, indices in groups.items():
            for start in range(0, len(indices), max(1, max_batch)):
                part = indices[start:start + max(1, max_batch)]
                batch = torch.as_tensor(np.stack([np.asarray(mixtures[i], dtype=np.float32) for i in part]),
                                        device=device)
                estimates = self.separate_tensor(batch, rate)
                for row, index in zip(estimates.cpu().numpy(), part):
                    results[index] = np.ascontiguousarray(row, dtype=np.float32)
        return [r for r in results if r is not None]

    def separate_tensor(self, mix: torch.Tensor, rate: int) -> torch.Tensor:
        """[B, T] at ``rate`` → [B, S, T] at ``rate``, resampling around the model when needed."""
        length = mix.shape[-1]
        inner = resample_tensor(mix, rate, self.sample_rate)
        estimates = self(inner)
        outer = resample_tensor(estimates, self.sample_rate, rate)
        if outer.shape[-1] < length:
            outer = F.pad(outer, (0, length - outer.shape[-1]))
        return outer[..., :length]


def resample_tensor(x: torch.Tensor, from_rate: int, to_rate: int) -> torch.Tensor:
    """Band-limited resampling along the last axis (identity when the rates match)."""
    if from_rate == to_rate:
        return x
    import torchaudio.functional as AF

    return AF.resample(x, from_rate, to_rate)


def load_separator(model_dir: Path | str, device: str | torch.device = "cpu") -> SepformerSeparator:
    """Build the modules from ``hyperparams.yaml`` and load the three checkpoints; no network."""
    model_dir = Path(model_dir).expanduser()
    absent = missing_files(model_dir)
    if absent:
        raise BenchError(f"{model_dir}: not a speechbrain Sepformer directory (missing "
                         f"{', '.join(p.name for p in absent)})")
    hparams = read_hparams(model_dir)
    modules = hparams.get("modules") or {}
    lacking = [name for name in MODULE_NAMES if name not in modules]
    if lacking:
        raise BenchError(f"{model_dir / HPARAMS_FILE}: 'modules' lacks {', '.join(lacking)}")
    if "sample_rate" not in hparams:
        raise BenchError(f"{model_dir / HPARAMS_FILE}: no 'sample_rate' key (the rate the model was trained at)")
    for name in MODULE_NAMES:
        load_state(modules[name], model_dir / f"{name}.ckpt")
    model = SepformerSeparator(modules["encoder"], modules["masknet"], modules["decoder"],
                               sample_rate=int(hparams["sample_rate"]), num_spks=int(hparams.get("num_spks", 2)))
    return model.to(device).eval()


def read_hparams(model_dir: Path) -> dict:
    """Build what a separator needs from ``hyperparams.yaml`` (untrusted: allow-listed modules only)."""
    path = model_dir / HPARAMS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    return instantiate_hparams(text, str(path))


def instantiate_hparams(text: str, where: str = HPARAMS_FILE) -> dict:
    """Build ``modules``, ``sample_rate`` and ``num_spks`` from a hyperparams text; errors name ``where``.

    Not hyperpyyaml: its loaders run code (``!apply:``, ``!!python/…``); the restricted
    reader in :mod:`~bench.baselines.separators.hparams` builds listed modules only.
    """
    from bench.baselines.separators.hparams import load_hparams

    return load_hparams(text, where, keys=("modules", "sample_rate", "num_spks"))


def build_separator(hparams_text: str) -> SepformerSeparator:
    """A freshly initialised separator from hyperparams text (what training starts from)."""
    hparams = instantiate_hparams(hparams_text)
    modules = hparams.get("modules") or {}
    return SepformerSeparator(modules["encoder"], modules["masknet"], modules["decoder"],
                              sample_rate=int(hparams["sample_rate"]), num_spks=int(hparams.get("num_spks", 2)))


def load_state(module: nn.Module, path: Path) -> None:
    """Load a ``state_dict`` checkpoint; missing weights are an error, extra buffers a warning."""
    state = load_checkpoint(path)
    if not isinstance(state, dict):
        raise BenchError(f"{path}: not a state_dict (a mapping of parameter names to tensors)")
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch: the yaml and the weights disagree
        first = str(exc).strip().splitlines()
        raise BenchError(f"{path}: weights do not fit {HPARAMS_FILE} ({' '.join(first[:2])})") from None
    if result.missing_keys:
        raise BenchError(f"{path}: checkpoint lacks {len(result.missing_keys)} weights "
                         f"(first: {result.missing_keys[0]})")
    if result.unexpected_keys:
        log.warning("%s: ignoring %d unexpected entries (first: %s)", path, len(result.unexpected_keys),
                    result.unexpected_keys[0])


def save_separator(model: SepformerSeparator, model_dir: Path, hparams_text: str) -> None:
    """Write ``model`` as a speechbrain pretrained directory (yaml + three ckpts, atomically each)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(model_dir / HPARAMS_FILE, hparams_text)
    for name in MODULE_NAMES:
        module = getattr(model, name)
        state = {key: value.detach().cpu() for key, value in module.state_dict().items()}
        tmp = model_dir / f".tmp-{name}.ckpt"
        torch.save(state, tmp)
        tmp.replace(model_dir / f"{name}.ckpt")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(text)
    tmp.replace(path)
