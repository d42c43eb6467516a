"""Cache of built indexes shared across sessions; see ``index_cache`` for the design."""

from s5vec.cache.flight import Publish
from s5vec.cache.index_cache import CacheStats, IndexCache, Loader
from s5vec.cache.keys import PLAINTEXT, CacheKey, key_id_for, manifest_digest, new_salt
from s5vec.cache.lease import CacheValue, Lease, Source

__all__ = [
    "PLAINTEXT",
    "CacheKey",
    "CacheStats",
    "CacheValue",
    "IndexCache",
    "Lease",
    "Loader",
    "Publish",
    "Source",
    "key_id_for",
    "manifest_digest",
    "new_salt",
]
