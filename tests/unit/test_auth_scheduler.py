"""The hash scheduler (issue 12, defect 1): bounded waiting per source and in all, turns by
fewest recent grants, and no work for callers that were cancelled while they waited."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from posthouse.auth.scheduler import HashBusy, HashScheduler
from tests.support.clock import FakeClock


class Works:
    """Work items that record when they start and block until the test releases them."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._gates: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def item(self, name: str, *, hold: bool = False) -> Callable[[], str]:
        gate = threading.Event()
        if not hold:
            gate.set()
        self._gates[name] = gate

        def work() -> str:
            with self._lock:
                self.started.append(name)
            gate.wait(30)
            return name

        return work

    def release(self, name: str) -> None:
        self._gates[name].set()

    async def wait_started(self, name: str) -> None:
        for _ in range(3000):
            if name in self.started:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{name} never started")


def scheduler(**kwargs: int) -> HashScheduler:
    return HashScheduler(clock=FakeClock(), **kwargs)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_source_past_its_bound_is_refused_without_hashing() -> None:
    async def scenario() -> None:
        sched, works = scheduler(slots=1, per_source=2, total=10), Works()
        hold = asyncio.ensure_future(sched.run("192.0.2.1", works.item("h", hold=True)))
        await works.wait_started("h")
        queued = [asyncio.ensure_future(sched.run("192.0.2.1", works.item(f"a{i}")))
                  for i in range(2)]
        await settle()
        with pytest.raises(HashBusy):
            await sched.run("192.0.2.1", works.item("a2"))
        other = asyncio.ensure_future(sched.run("198.51.100.7", works.item("b")))
        await settle()
        assert (sched.queued, sched.refused) == (3, 1)
        works.release("h")
        assert await asyncio.gather(hold, *queued, other) == ["h", "a0", "a1", "b"]
        assert "a2" not in works.started
        assert sched.started == 4

    asyncio.run(scenario())


def test_ipv6_sources_share_a_bound_per_64() -> None:
    async def scenario() -> None:
        sched, works = scheduler(slots=1, per_source=1, total=10), Works()
        hold = asyncio.ensure_future(sched.run("2001:db8::1", works.item("h", hold=True)))
        await works.wait_started("h")
        queued = asyncio.ensure_future(sched.run("2001:db8::2", works.item("q")))
        await settle()
        with pytest.raises(HashBusy):
            await sched.run("2001:db8::ffff:3", works.item("same-64"))
        works.release("h")
        await asyncio.gather(hold, queued)

    asyncio.run(scenario())


def test_a_full_queue_makes_room_for_a_fresh_source() -> None:
    """At the total bound a source with fewer recent grants takes the place of the newest
    waiter of the busiest source; a source no lighter than the rest is refused."""
    async def scenario() -> None:
        sched, works = scheduler(slots=1, per_source=5, total=2), Works()
        hold = asyncio.ensure_future(sched.run("192.0.2.1", works.item("h", hold=True)))
        await works.wait_started("h")
        flood = [asyncio.ensure_future(sched.run("192.0.2.1", works.item(f"a{i}")))
                 for i in range(2)]
        await settle()
        fresh = asyncio.ensure_future(sched.run("198.51.100.7", works.item("fresh")))
        await settle()
        assert flood[1].done()
        assert isinstance(flood[1].exception(), HashBusy)
        second = asyncio.ensure_future(sched.run("198.51.100.8", works.item("second")))
        await settle()
        assert isinstance(flood[0].exception(), HashBusy)
        with pytest.raises(HashBusy):  # as light as every waiter: no one to displace
            await sched.run("198.51.100.9", works.item("third"))
        works.release("h")
        assert await asyncio.gather(hold, fresh, second) == ["h", "fresh", "second"]
        assert works.started == ["h", "fresh", "second"]

    asyncio.run(scenario())


def test_among_unserved_sources_the_one_waiting_most_makes_room() -> None:
    async def scenario() -> None:
        sched, works = scheduler(slots=1, per_source=2, total=2), Works()
        hold = asyncio.ensure_future(sched.run("192.0.2.9", works.item("h", hold=True)))
        await works.wait_started("h")
        many = [asyncio.ensure_future(sched.run("192.0.2.1", works.item(f"x{i}")))
                for i in range(2)]
        await settle()
        fresh = asyncio.ensure_future(sched.run("198.51.100.7", works.item("fresh")))
        await settle()
        assert isinstance(many[1].exception(), HashBusy)
        with pytest.raises(HashBusy):  # one waiter each: no one is busier than a newcomer
            await sched.run("198.51.100.8", works.item("late"))
        works.release("h")
        assert await asyncio.gather(hold, many[0], fresh) == ["h", "x0", "fresh"]

    asyncio.run(scenario())


def test_slots_go_round_robin_by_recent_grants() -> None:
    """A fresh source goes ahead of a flooding one; equally busy sources take turns."""
    async def scenario() -> None:
        sched, works = scheduler(slots=1, per_source=2, total=10), Works()
        hold = asyncio.ensure_future(sched.run("192.0.2.1", works.item("h", hold=True)))
        await works.wait_started("h")
        order = [("192.0.2.1", "a1"), ("192.0.2.1", "a2"), ("192.0.2.2", "b1"),
                 ("192.0.2.2", "b2"), ("192.0.2.3", "c1")]
        tasks = []
        for ip, name in order:
            tasks.append(asyncio.ensure_future(sched.run(ip, works.item(name))))
            await settle()
        works.release("h")
        await asyncio.gather(hold, *tasks)
        # b1 and c1 had no grant yet (b1 came first); then a (1 grant, waiting longest)
        # and b (1 grant) alternate.
        assert works.started == ["h", "b1", "c1", "a1", "b2", "a2"]

    asyncio.run(scenario())


def test_recent_grants_are_forgotten_over_time() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        sched, works = HashScheduler(slots=1, per_source=2, total=10, half_life=60,
                                     clock=clock), Works()
        for i in range(4):
            await sched.run("192.0.2.1", works.item(f"old{i}"))
        hold = asyncio.ensure_future(sched.run("192.0.2.2", works.item("h", hold=True)))
        await works.wait_started("h")
        clock.mono += 600  # ten half-lives: the four grants of .1 weigh almost nothing
        first = asyncio.ensure_future(sched.run("192.0.2.1", works.item("a")))
        await settle()
        second = asyncio.ensure_future(sched.run("192.0.2.3", works.item("c")))
        await settle()
        works.release("h")
        await asyncio.gather(hold, first, second)
        assert works.started[-2:] == ["a", "c"]

    asyncio.run(scenario())


def test_a_cancelled_waiter_is_never_run() -> None:
    async def scenario() -> None:
        sched, works = scheduler(slots=1, per_source=2, total=10), Works()
        hold = asyncio.ensure_future(sched.run("192.0.2.1", works.item("h", hold=True)))
        await works.wait_started("h")
        gone = asyncio.ensure_future(sched.run("192.0.2.2", works.item("gone")))
        stays = asyncio.ensure_future(sched.run("192.0.2.3", works.item("stays")))
        await settle()
        gone.cancel()
        await settle()
        assert (sched.queued, sched.dropped) == (1, 1)
        works.release("h")
        assert await asyncio.gather(hold, stays) == ["h", "stays"]
        assert works.started == ["h", "stays"]
        assert sched.started == 2

    asyncio.run(scenario())


def test_a_running_hash_keeps_its_slot_after_its_caller_left() -> None:
    """The thread cannot be stopped: its slot is given back only when it is done."""
    async def scenario() -> None:
        sched, works = scheduler(slots=1, per_source=2, total=10), Works()
        left = asyncio.ensure_future(sched.run("192.0.2.1", works.item("left", hold=True)))
        await works.wait_started("left")
        nxt = asyncio.ensure_future(sched.run("192.0.2.2", works.item("next")))
        await settle()
        left.cancel()
        await settle()
        assert left.cancelled()
        assert (sched.running, sched.queued) == (1, 1)
        assert works.started == ["left"]
        works.release("left")
        assert await nxt == "next"
        assert sched.running == 0

    asyncio.run(scenario())


def test_refuses_now_counts_a_refusal_and_queues_nothing() -> None:
    async def scenario() -> None:
        sched, works = scheduler(slots=1, per_source=1, total=1), Works()
        assert not sched.refuses_now("192.0.2.1")  # a free slot
        hold = asyncio.ensure_future(sched.run("192.0.2.1", works.item("h", hold=True)))
        await works.wait_started("h")
        assert not sched.refuses_now("192.0.2.2")  # room to wait
        queued = asyncio.ensure_future(sched.run("192.0.2.2", works.item("q")))
        await settle()
        assert sched.refuses_now("192.0.2.2")  # its own bound
        assert (sched.queued, sched.refused) == (1, 1)
        # .2 now has more recent demand than a fresh .3: .3 may take its place
        assert not sched.refuses_now("192.0.2.3")
        works.release("h")
        await asyncio.gather(hold, queued)

    asyncio.run(scenario())


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="positive"):
        HashScheduler(slots=0)
