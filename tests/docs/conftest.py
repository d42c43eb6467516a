"""One real host for the docs tests, serving the example databases with the example host key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.docs.host import HOST_KEY, S5VEC, Host, clean_environ, free_port, publish_examples
from tests.docs.host import running_host as _running_host


@pytest.fixture(scope="session")
def docs_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """``s5vec serve`` over a temp store holding both example databases.

    The index cache is off, so every load is cold and streams every progress event the
    protocol examples show.
    """
    root = tmp_path_factory.mktemp("docs-host")
    publish_examples(root / "s5")
    port = free_port()
    env = clean_environ(
        S5VEC_HOST="127.0.0.1",
        S5VEC_PORT=str(port),
        S5VEC_DATA_DIR=str(root / "data"),
        S5_LOCAL_DIR=str(root / "s5"),
        HOST_PRIVATE_KEY=HOST_KEY,
        VECTOR_INDEX_CACHE_SIZE="0",
    )
    with _running_host([S5VEC, "serve"], port, root / "host.log", env, root) as host:
        yield host
