"""Giving freed memory back: reference cycles are collected, and the call is repeatable."""

from __future__ import annotations

import gc
import weakref

from s5vec.index.heap import pin_trim_threshold, release_free_heap


class _Node:
    """An object that can sit in a reference cycle and be watched with a weak reference."""

    def __init__(self) -> None:
        self.other: _Node | None = None


def test_release_collects_reference_cycles() -> None:
    enabled = gc.isenabled()
    gc.disable()  # only release_free_heap may collect the cycle
    try:
        first, second = _Node(), _Node()
        first.other, second.other = second, first
        watch = weakref.ref(first)
        del first, second
        assert watch() is not None
        release_free_heap()
        assert watch() is None
    finally:
        if enabled:
            gc.enable()


def test_release_leaves_no_garbage_of_its_own() -> None:
    release_free_heap()
    pin_trim_threshold()
    enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        release_free_heap()  # would leave a ctypes library handle cycle per call if not cached
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


def test_release_without_collecting_leaves_cycles_to_the_collector() -> None:
    enabled = gc.isenabled()
    gc.disable()
    try:
        first, second = _Node(), _Node()
        first.other, second.other = second, first
        watch = weakref.ref(first)
        del first, second
        release_free_heap(collect=False)  # what close() on the event loop calls
        assert watch() is not None
        gc.collect()
        assert watch() is None
    finally:
        if enabled:
            gc.enable()
