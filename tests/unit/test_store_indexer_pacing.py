"""When the search indexer works: once the store is quiet, when asked, and past the lag
limit under load at a bounded share of the time (the thread itself is not started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from posthouse.message.summary import message_text
from posthouse.store.sqlite import indexer as mod
from posthouse.store.sqlite.indexer import SearchIndexer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def idx(tmp_path: Path, clock: Clock) -> SearchIndexer:
    indexer = SearchIndexer(tmp_path / "db", tmp_path / "search", tmp_path,
                            message_text=message_text, clock=clock)
    indexer._caught_up(indexer._generation)  # start from "nothing pending"
    return indexer


def test_nothing_pending_means_no_work(idx: SearchIndexer, clock: Clock) -> None:
    assert idx._delay(clock.now) == float("inf")
    idx.committed(0)  # a commit without new summaries
    assert idx._delay(clock.now) == float("inf")


def test_work_waits_for_a_quiet_store(idx: SearchIndexer, clock: Clock) -> None:
    idx.committed(1)
    assert idx._delay(0.0) == pytest.approx(mod.QUIET_SECONDS)
    assert idx._delay(mod.QUIET_SECONDS) == 0.0


def test_a_search_asks_for_it_at_once(idx: SearchIndexer, clock: Clock) -> None:
    idx.committed(1)
    idx.urge()
    assert idx._delay(0.0) == 0.0


def test_under_steady_load_the_lag_is_bounded_and_batches_are_paced(
        idx: SearchIndexer, clock: Clock) -> None:
    step = mod.QUIET_SECONDS / 4
    for n in range(int(mod.MAX_LAG_SECONDS / step)):  # never quiet for QUIET_SECONDS
        clock.now = n * step
        idx.committed(1)
        assert idx._delay(clock.now) > 0
    clock.now = mod.MAX_LAG_SECONDS
    idx.committed(1)
    assert idx._delay(clock.now) == 0.0  # the lag limit: index although busy
    idx._rest_after(clock.now - 0.1)  # a batch that took 0.1 s: rest 4 x as long
    rest_ends = clock.now + mod.REST_FACTOR * 0.1
    while clock.now + step < rest_ends:  # still busy: no batch during the rest
        clock.now += step
        idx.committed(1)
        assert idx._delay(clock.now) > 0
    clock.now = rest_ends + 1e-9
    idx.committed(1)
    assert idx._delay(clock.now) == 0.0
