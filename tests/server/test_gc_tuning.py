"""The server process's garbage-collector tuning (server/runner.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from s5vec.server.runner import GC_THRESHOLDS, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """Put the test process's collector back as it was."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_tune_gc_freezes_start_up_objects_and_raises_the_thresholds() -> None:
    gc.unfreeze()
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 1000  # at least the imported modules' objects
    assert GC_THRESHOLDS[0] > 700  # above CPython's default, or the tuning does nothing
