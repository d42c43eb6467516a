"""The loader: a manifest path (and session key) to a leased, searchable index, with progress.

``VectorLoader.load`` is the entry point (``loader``); the shared chunk pipeline is in
``pipeline``, file fetching in ``fetch``, the seams to the index and cache in ``ports``.
"""

from s5vec.loader.config import LoaderConfig
from s5vec.loader.events import ProgressCallback, ProgressEvent
from s5vec.loader.fetch import BlobReader
from s5vec.loader.loader import LoadHandle, LoadRequest, VectorLoader
from s5vec.loader.observer import LoadObserver, NullObserver, Outcome
from s5vec.loader.ports import BuildingIndex, IndexFactory, IndexLease, SharedIndexCache
from s5vec.loader.preflight import estimated_bytes
from s5vec.loader.status import LoadState, LoadStatus

__all__ = [
    "BlobReader",
    "BuildingIndex",
    "IndexFactory",
    "IndexLease",
    "LoadHandle",
    "LoadObserver",
    "LoadRequest",
    "LoadState",
    "LoadStatus",
    "LoaderConfig",
    "NullObserver",
    "Outcome",
    "ProgressCallback",
    "ProgressEvent",
    "SharedIndexCache",
    "VectorLoader",
    "estimated_bytes",
]
