"""Semantic tokens (eqs. 1-2): k-means clusters of an SSL model's intermediate-layer embeddings.

The paper used layer 7 of w2v-BERT XL with K = 1024 clusters.  No SSL model exists
offline here, so semantic tokens are off by default (the paper's no-semantic
variant); a user with a local model plugs one in:

* ``torchaudio:<factory>:<state_dict.pt>`` - a torchaudio wav2vec2-family model
  (e.g. ``hubert_base``) built by its factory and loaded from a local state dict;
* ``torchscript:<model.pt>`` - any scripted module whose ``extract_features(wave)``
  returns per-layer features like torchaudio's.  A TorchScript file is a program, not
  data: loading it runs its code with the user's rights, so it is refused unless the
  caller passes ``trust_torchscript=True`` (``bench train tokensplit --trust-torchscript``).

:func:`fit_kmeans` learns the centroids (Lloyd's algorithm, k-means++ start) from
features of training audio; a tokenizer folder holds ``semantic.json`` (model
spec, layer, K) and ``centroids.pt``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from bench.errors import BenchError
from bench.safe_load import load_checkpoint


def load_ssl(spec: str, trust_torchscript: bool = False) -> torch.nn.Module:
    """The SSL network named by ``spec`` (see the module docstring), in eval mode, no network access."""
    kind, _, rest = spec.partition(":")
    if kind == "torchaudio":
        factory_name, _, weights = rest.partition(":")
        import torchaudio.models as models

        factory = getattr(models, factory_name, None)
        if factory is None:
            raise BenchError(f"semantic model {spec!r}: torchaudio.models has no {factory_name!r}")
        model = factory()
        if not Path(weights).is_file():
            raise BenchError(f"semantic model {spec!r}: weights file {weights} not found")
        model.load_state_dict(load_checkpoint(weights, what="SSL model weights"))
        return model.eval()
    if kind == "torchscript":
        if not trust_torchscript:
            raise BenchError(f"semantic model {spec!r}: a TorchScript file is code and would run with your "
                             "rights; pass --trust-torchscript if you trust it, or use "
                             "'torchaudio:<factory>:<state_dict.pt>' (weights only)")
        if not Path(rest).is_file():
            raise BenchError(f"semantic model {spec!r}: file {rest} not found")
        return torch.jit.load(rest, map_location="cpu").eval()
    raise BenchError(f"semantic model {spec!r}: expected 'torchaudio:<factory>:<weights>' or 'torchscript:<file>'")


def layer_features(model: torch.nn.Module, wave: torch.Tensor, layer: int) -> torch.Tensor:
    """Embeddings [B, T', D] of the 1-based ``layer`` for waves [B, T] at 16 kHz."""
    features, _ = model.extract_features(wave, num_layers=layer)
    return features[layer - 1]


def fit_kmeans(features: torch.Tensor, k: int, iterations: int = 50, seed: int = 0) -> torch.Tensor:
    """Centroids [k, D] of features [N, D] by Lloyd's algorithm from a k-means++ start."""
    if features.shape[0] < k:
        raise BenchError(f"k-means with K={k} needs at least {k} feature vectors, got {features.shape[0]}")
    generator = torch.Generator().manual_seed(seed)
    x = features.double()
    centroids = x[torch.randint(0, x.shape[0], (1,), generator=generator)]
    for _ in range(1, k):                                           # k-means++: far points more likely
        d2 = torch.cdist(x, centroids).min(dim=1).values.pow(2)
        pick = torch.multinomial(d2 / d2.sum() if d2.sum() > 0 else torch.ones_like(d2), 1, generator=generator)
        centroids = torch.cat([centroids, x[pick]])
    for _ in range(iterations):
        assign = torch.cdist(x, centroids).argmin(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        moved = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centroids)
        if torch.allclose(moved, centroids):
            break
        centroids = moved
    return centroids.float()


class SemanticTokenizer:
    """Discretize(SSL(y)): nearest-centroid index of each frame's layer embedding."""

    def __init__(self, model: torch.nn.Module | Callable, layer: int, centroids: torch.Tensor, spec: str = "") -> None:
        self.model, self.layer, self.centroids, self.spec = model, layer, centroids.float(), spec

    @property
    def num_clusters(self) -> int:
        return int(self.centroids.shape[0])

    @torch.no_grad()
    def __call__(self, wave: torch.Tensor) -> torch.Tensor:
        """Cluster indices [B, T'] for waves [B, T]."""
        feats = layer_features(self.model, wave, self.layer)
        return torch.cdist(feats.float(), self.centroids[None].to(feats.device)).argmin(dim=-1)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.centroids, folder / "centroids.pt")
        (folder / "semantic.json").write_text(json.dumps({"model": self.spec, "layer": self.layer,
                                                          "clusters": self.num_clusters}, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path, trust_torchscript: bool = False) -> "SemanticTokenizer":
        """A saved tokenizer; its ``semantic.json`` names the SSL model (see :func:`load_ssl`)."""
        folder = Path(folder)
        meta_path = folder / "semantic.json"
        if not meta_path.is_file():
            raise BenchError(f"{meta_path}: semantic tokenizer description not found")
        meta = json.loads(meta_path.read_text())
        centroids = load_checkpoint(folder / "centroids.pt", what="k-means centroids")
        return cls(load_ssl(meta["model"], trust_torchscript), int(meta["layer"]), centroids, meta["model"])
