"""net/deadlines.py DeadlineQueue: one loop timer for the deadlines of many connections."""

from __future__ import annotations

import asyncio

from posthouse.net.deadlines import DeadlineEntry, DeadlineQueue, for_loop


class Target:
    """Records when its deadline passed (loop time)."""

    def __init__(self, name: str, fired: list[str]) -> None:
        self.name = name
        self.fired = fired
        self._deadline_entry: DeadlineEntry | None = None

    def deadline_passed(self) -> None:
        self.fired.append(self.name)


def test_deadlines_pass_in_order_of_time() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        queue = DeadlineQueue(loop)
        fired: list[str] = []
        now = loop.time()
        for name, after in (("c", 0.06), ("a", 0.02), ("b", 0.04)):
            queue.at(now + after, Target(name, fired))
        await asyncio.sleep(0.15)
        return fired

    assert asyncio.run(main()) == ["a", "b", "c"]


def test_a_moved_deadline_passes_once_at_its_new_time() -> None:
    async def main() -> tuple[list[str], list[str]]:
        loop = asyncio.get_running_loop()
        queue = DeadlineQueue(loop)
        fired: list[str] = []
        target = Target("t", fired)
        queue.at(loop.time() + 0.02, target)
        queue.at(loop.time() + 0.08, target)  # later: the earlier entry is stale now
        await asyncio.sleep(0.05)
        early = list(fired)
        await asyncio.sleep(0.08)
        return early, fired

    assert asyncio.run(main()) == ([], ["t"])


def test_a_cancelled_deadline_never_passes() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        queue = DeadlineQueue(loop)
        fired: list[str] = []
        target = Target("t", fired)
        queue.at(loop.time() + 0.01, target)
        queue.cancel(target)
        queue.at(loop.time() + 0.02, Target("other", fired))
        await asyncio.sleep(0.05)
        return fired

    assert asyncio.run(main()) == ["other"]


def test_stale_entries_do_not_pile_up() -> None:
    """Connections that come and go (each leaving an entry for its old timeout) are not
    kept in the heap until those times: it is rebuilt without them."""
    async def main() -> int:
        loop = asyncio.get_running_loop()
        queue = DeadlineQueue(loop)
        fired: list[str] = []
        keep = Target("keep", fired)
        queue.at(loop.time() + 3600, keep)
        for i in range(10_000):
            gone = Target(str(i), fired)
            queue.at(loop.time() + 1800, gone)
            queue.cancel(gone)
        return len(queue)

    assert asyncio.run(main()) < 1000


def test_one_queue_per_loop() -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        return for_loop(loop) is for_loop(loop)

    assert asyncio.run(main())
