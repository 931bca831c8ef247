"""The results store: the only package that speaks SQL.

``from bench.store import Store`` is all most callers need; the records it takes and
returns, and the row states, are re-exported here so that callers never reach into the
package's modules.
"""

from bench.store.database import DB_NAME, LOCK_TIMEOUT_S, Store, open_existing
from bench.store.merging import ShardContents, shard_contents
from bench.store.reads import kbps_or_none
from bench.store.rows import FAILED, OK, UNAVAILABLE, DatasetInfo, EstimateRow, MetricRow, StoredSeparation, now
from bench.store.schema import LISTENING_COLUMNS, SCHEMA_VERSION

__all__ = ["DB_NAME", "FAILED", "LISTENING_COLUMNS", "LOCK_TIMEOUT_S", "OK", "SCHEMA_VERSION", "UNAVAILABLE",
           "DatasetInfo", "EstimateRow", "MetricRow", "ShardContents", "Store", "StoredSeparation", "kbps_or_none",
           "now", "open_existing", "shard_contents"]
