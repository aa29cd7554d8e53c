"""``serving.tune_gc``: what ``chat-server`` does to CPython's collector once started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from chat_server.entrypoints.serving import FULL_GC_AFTER, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_start_up_objects_leave_the_generations_and_full_collections_wait_longer(
    restored_gc: None,
):
    young, middle, _ = gc.get_threshold()
    tune_gc()
    assert gc.get_freeze_count() > 10_000  # this process's modules and their objects
    assert gc.get_threshold() == (young, middle, FULL_GC_AFTER)
    garbage: list[object] = []
    garbage.append(garbage)  # a cycle made after start-up is still collected
    del garbage
    assert gc.collect() >= 1
