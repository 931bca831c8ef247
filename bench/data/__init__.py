"""Test data: the Libri2Mix loader, its validation and reference transcripts.

``open_dataset(DatasetSpec(...))`` gives the item list the runner iterates;
``check_dataset`` validates a whole tree for ``bench data check``.  With no root
the small embedded set under ``bench/data/embedded`` is used.
"""

from bench.data.check import CheckReport, check_dataset
from bench.data.libri2mix import Dataset, DatasetSpec, embedded_root, open_dataset

__all__ = ["CheckReport", "Dataset", "DatasetSpec", "check_dataset", "embedded_root", "open_dataset"]
