"""``--shard k/n``: a deterministic slice of a dataset for schedulers (e.g. SLURM arrays).

A shard keeps the full dataset's fingerprint, so the store files every shard's rows
under the same dataset key and ``bench merge`` can check the shards belong together.
Mixtures are dealt round-robin in dataset order (which the fingerprint fixes), so
shards differ in size by at most one mixture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bench.errors import BenchError
from bench.records import LoadedMixture, Mixture


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/8"`` -> (2, 8); k counts from 1."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise BenchError(f"--shard must look like k/n (e.g. 3/8), got {text!r}")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= k <= n:
        raise BenchError(f"--shard {text}: need 1 <= k <= n")
    return k, n


@dataclass
class ShardView:
    """The k-th of n shards of a dataset: same fingerprint and loader, fewer mixtures."""

    dataset: object
    k: int
    n: int

    def __post_init__(self) -> None:
        self.mixtures: list[Mixture] = [m for i, m in enumerate(self.dataset.mixtures) if i % self.n == self.k - 1]

    @property
    def fingerprint(self) -> str:
        return self.dataset.fingerprint

    @property
    def name(self) -> str:
        return self.dataset.name

    @property
    def spec(self):
        return self.dataset.spec

    @property
    def total(self) -> int:
        return self.dataset.total

    @property
    def subset(self) -> str:
        return f"shard {self.k}/{self.n} of {self.dataset.subset}"

    def prefix_fingerprint(self, n: int) -> str:
        return self.dataset.prefix_fingerprint(n)

    def load(self, mixture: Mixture) -> LoadedMixture:
        return self.dataset.load(mixture)

    def __len__(self) -> int:
        return len(self.mixtures)

    def __iter__(self):
        return iter(self.mixtures)
