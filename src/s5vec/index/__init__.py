"""Vector indexes: the loaded database's, the session's uploads, filters and merged search."""

from s5vec.index.config import IndexConfig, Quantization
from s5vec.index.database import DatabaseIndex
from s5vec.index.filters import MetadataFilter, parse_filter
from s5vec.index.search import Searchable, SearchHit, merged_search, validate_query
from s5vec.index.uploads import UploadedVectors, UploadResult

__all__ = [
    "DatabaseIndex",
    "IndexConfig",
    "MetadataFilter",
    "Quantization",
    "SearchHit",
    "Searchable",
    "UploadResult",
    "UploadedVectors",
    "merged_search",
    "parse_filter",
    "validate_query",
]
