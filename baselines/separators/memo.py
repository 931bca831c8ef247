"""An in-process memo of separator outputs, shared by every system that runs the same separator.

Why: ``sepformer``, ``fstc@1``, ``fstc@2``, ``fstc@4`` and ``fstc@8`` all separate the very
same mixtures with the very same network before their codecs differ; the harness runs a
request's systems one after another in the driver, so each separation after the first is
a lookup.  The key is the separator's files (their SHA-256, as in the system key), device,
rate and the exact bytes of the mixture, so only an identical call can hit; outputs of a batch equal
those of single calls (mixtures are batched by exact length only; ``tests/test_separators.py``).
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

import numpy as np

MixtureKey = tuple[str, str, int, str]


class SeparationMemo:
    """Separator outputs, bounded in bytes: once full, new outputs are not kept.

    Why not least-recently-used: the systems of a request each scan the mixtures in the same
    order, so on a set larger than the budget an LRU memo would evict every mixture before
    the next system asks for it; keeping the first ones gives the later systems those hits.
    """

    def __init__(self, max_bytes: int = 512 * 2**20) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self._items: dict[MixtureKey, np.ndarray] = {}

    def separate(self, model: str, device: str, rate: int, mixtures: Sequence[np.ndarray],
                 compute: Callable[[list[np.ndarray]], list[np.ndarray]]) -> list[np.ndarray]:
        """Outputs for ``mixtures``; only those not remembered go to ``compute`` (in one call)."""
        keys = [(model, device, rate, _digest(m)) for m in mixtures]
        out: list[np.ndarray | None] = [None] * len(mixtures)
        missing = []
        for index, key in enumerate(keys):
            if key in self._items:
                out[index] = self._items[key].copy()
                self.hits += 1
            else:
                missing.append(index)
        if missing:
            computed = compute([mixtures[i] for i in missing])
            for index, estimate in zip(missing, computed):
                out[index] = estimate
                self._remember(keys[index], estimate)
        return [o for o in out if o is not None]

    def _remember(self, key: MixtureKey, estimate: np.ndarray) -> None:
        if key in self._items or self.bytes + estimate.nbytes > self.max_bytes:
            return
        self._items[key] = estimate.copy()
        self.bytes += estimate.nbytes


def _digest(mixture: np.ndarray) -> str:
    array = np.ascontiguousarray(mixture, dtype=np.float32)
    return hashlib.blake2b(array.tobytes(), digest_size=16).hexdigest() + f":{array.shape}"


#: the process-wide memo every :class:`~bench.baselines.separators.system.SeparatorStage` uses
SHARED = SeparationMemo()
