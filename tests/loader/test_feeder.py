"""_Feeder: discard waits for adds in flight, and adds after it are dropped."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from s5vec.formats import DecodedChunk
from s5vec.loader.pipeline import _Feeder


class FakeBlockingIndex:
    """An index whose first ``add_chunk`` blocks until released; records adds and closes."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.adds = 0
        self.in_flight = False
        self.closes = 0
        self.closed_during_add = False

    def add_chunk(
        self, ids: list[str], vectors: npt.NDArray[np.float32], metadata: list[dict[str, Any]]
    ) -> None:
        self.adds += 1
        if self.adds == 1:
            self.in_flight = True
            self.entered.set()
            self.release.wait()
            self.in_flight = False

    def finish(self) -> None:
        raise AssertionError("finish is not part of these tests")

    @property
    def dimensions(self) -> int | None:
        return 3

    def memory_bytes(self) -> int:
        return 0

    def close(self) -> None:
        self.closes += 1
        self.closed_during_add = self.closed_during_add or self.in_flight


def chunk(n: int) -> DecodedChunk:
    return DecodedChunk(
        chunk_id=0,
        ids=[f"v{i}" for i in range(n)],
        vectors=np.ones((n, 3), dtype=np.float32),
        metadata=[{} for _ in range(n)],
        encrypted=False,
    )


def test_discard_waits_for_the_add_in_flight_and_drops_later_adds() -> None:
    index = FakeBlockingIndex()
    feeder = _Feeder(index)
    added: list[int] = []
    adder = threading.Thread(target=lambda: added.append(feeder.add(chunk(5))))
    adder.start()
    index.entered.wait()  # the add is inside add_chunk, holding no feeder lock
    discarder = threading.Thread(target=feeder.discard)
    discarder.start()
    # Until discard has closed the feeder, probe adds reach the (non-blocking) index; once
    # one is dropped, discard is waiting for the blocked add.
    while feeder.add(chunk(1)) != 0:
        time.sleep(0.001)
    assert discarder.is_alive()
    assert index.closes == 0
    index.release.set()
    adder.join()
    discarder.join()
    assert added == [5]  # the add in flight completed and was counted
    assert index.closes == 1
    assert not index.closed_during_add
    adds = index.adds
    assert feeder.add(chunk(2)) == 0
    assert index.adds == adds  # dropped without reaching the index
    feeder.discard()  # a second discard does not close again
    assert index.closes == 1
    assert feeder.vector_count == 5 + (adds - 1)
