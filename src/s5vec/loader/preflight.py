"""Memory pre-flight (SPEC section 3, step 2): refuse a database before fetching its chunks."""

from __future__ import annotations

from s5vec.errors import MemoryLimitExceeded

BYTES_PER_COMPONENT = 4
"""Vectors are held as float32 (the decoders cast every stored number to it), so the
"bytes per component as stored" of the estimate is 4 whatever the file encoding."""

PER_VECTOR_OVERHEAD = 256
"""Id, metadata and index overhead per vector, as SPEC section 3 fixes it."""


def estimated_bytes(vector_count: int, dimensions: int) -> int:
    """``vectorCount x (dimensions x 4 + 256)``: the memory a database is expected to take."""
    return vector_count * (dimensions * BYTES_PER_COMPONENT + PER_VECTOR_OVERHEAD)


def check_memory(vector_count: int, dimensions: int, limit_bytes: int) -> None:
    """Raise ``MemoryLimitExceeded`` when the estimate passes ``limit_bytes``."""
    need = estimated_bytes(vector_count, dimensions)
    if need > limit_bytes:
        raise MemoryLimitExceeded(
            f"The vector database needs about {_mib(need)} MiB "
            f"({vector_count} vectors x {dimensions} dimensions); "
            f"this host allows {_mib(limit_bytes)} MiB per database"
        )


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f}"
