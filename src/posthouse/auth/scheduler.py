"""Who gets the next password hash: a bounded, fair queue in front of the argon2 threads.

Issue 12, defect 1: behind a plain semaphore, a wrong-password flood from 200 addresses queued
hundreds of verifications; a real user waited behind all of them, and work went on for
clients that had already hung up. ``HashScheduler`` holds:

* ``slots`` verifications at once (each takes a core and memory_cost of RAM);
* a waiting queue bounded per source (``per_source``; IPv6 grouped by /64 as in throttle.py)
  and in total (``total``). A request past a bound gets ``HashBusy`` at once, and nothing is
  hashed: the session answers with its protocol's temporary error. When the total bound is
  reached, a source lighter than the busiest waiting one (less recent demand, or as much and
  fewer waiters) takes the place of that source's newest waiter (which gets ``HashBusy``), so
  a fresh address gets in unless every waiter is a fresh address with one login waiting;
* fairness: a free slot goes to the waiting source with the least recent demand (its requests
  granted or refused, a count that halves every ``half_life`` seconds), ties to the one
  waiting longest. Flooding sources take turns; a new address goes ahead of all of them,
  even of flooders not served yet, since their refusals count (counts are compared in whole
  requests, so a source whose count decayed below one is as fresh as a new one);
* cancellation: a waiter whose task is cancelled (the session saw its client leave) is
  removed and its work never starts. A verification already running in its thread cannot be
  stopped; its slot is only given back when the thread is done, so ``slots`` holds. The work
  runs in the scheduler's own ``slots`` threads, apart from the default executor. (They keep
  the normal CPU priority: tried at nice +10, a real user's own hash starved behind the event
  loop answering the flood.)

``refuses_now`` tells whether a request from a source would be refused now and, if so,
counts the refusal as ``run`` would (it adds to the source's recent demand): the
authenticator asks it before the store lookup, so a flood refused at once costs no database
read.

It owns no policy about passwords and never touches the store or sockets.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from posthouse.auth.throttle import source_key
from posthouse.clock import Clock, SystemClock

T = TypeVar("T")

_MAX_SOURCES = 10_000  # remembered recent counts beyond this are pruned


class HashBusy(Exception):
    """Too many verifications are waiting (for this source, or in all): try again later."""


@dataclass(slots=True)
class _Recent:
    """A count of requests that decays exponentially."""

    value: float
    at: float

    def now(self, t: float, half_life: float) -> float:
        return self.value * math.pow(0.5, max(0.0, t - self.at) / half_life)


@dataclass(slots=True)
class _Source:
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)
    first_seq: deque[int] = field(default_factory=deque)  # arrival order of each waiter


class HashScheduler:
    """Grants ``slots`` hash runs at a time, fairly across sources, with bounded waiting."""

    def __init__(self, *, slots: int = 2, per_source: int = 2, total: int = 64,
                 half_life: float = 60.0, clock: Clock | None = None) -> None:
        if slots < 1 or per_source < 0 or total < 0 or half_life <= 0:
            raise ValueError("slots must be positive, bounds not negative")
        self.slots = slots
        self.per_source = per_source
        self.total = total
        self.half_life = half_life
        self._clock = clock or SystemClock()
        self._running = 0
        self._waiting: dict[str, _Source] = {}
        self._queued = 0
        self._recent: dict[str, _Recent] = {}
        self._seq = itertools.count()
        self.started = 0  # hash runs begun since start (for tests and the operator)
        self.refused = 0  # HashBusy answers
        self.dropped = 0  # waiters cancelled before their turn
        self._threads = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="hash")

    @property
    def running(self) -> int:
        """Hash runs in progress (their threads may outlive a cancelled caller)."""
        return self._running

    @property
    def queued(self) -> int:
        """Requests waiting for a slot."""
        return self._queued

    async def run(self, ip: str, work: Callable[[], T]) -> T:
        """Run ``work`` in a worker thread once this source's turn comes.

        Raises HashBusy (nothing run) when a waiting bound is reached, and CancelledError
        (nothing run, if it was still waiting) when the caller is cancelled.
        """
        await self._acquire(source_key(ip))
        self.started += 1
        job = asyncio.get_running_loop().run_in_executor(self._threads, work)
        job.add_done_callback(self._finished)
        # The caller may be cancelled while the thread runs; the slot waits for the thread.
        return await asyncio.shield(job)

    def refuses_now(self, ip: str) -> bool:
        """Whether a request from ``ip`` would get HashBusy now; a refusal is counted (in
        ``refused`` and in the source's recent demand), nothing else changes."""
        if self._running < self.slots and self._queued == 0:
            return False
        key = source_key(ip)
        source = self._waiting.get(key)
        if ((len(source.waiters) if source is not None else 0) < self.per_source
                and (self._queued < self.total or self._victim_for(key) is not None)):
            return False
        self.refused += 1
        self._note_demand(key)
        return True

    def close(self) -> None:
        """Let the hashing threads end once their work is done."""
        self._threads.shutdown(wait=False)

    def _finished(self, job: asyncio.Future[Any]) -> None:
        if not job.cancelled():
            job.exception()  # mark it retrieved: a caller that left never reads it
        self._running -= 1
        self._grant()

    async def _acquire(self, key: str) -> None:
        if self._running < self.slots and self._queued == 0:
            self._running += 1
            self._note_demand(key)
            return
        source = self._waiting.get(key)
        if ((len(source.waiters) if source is not None else 0) >= self.per_source
                or (self._queued >= self.total and not self._evict_for(key))):
            self.refused += 1
            self._note_demand(key)
            raise HashBusy
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        source = self._waiting.setdefault(key, _Source())
        source.waiters.append(waiter)
        source.first_seq.append(next(self._seq))
        self._queued += 1
        try:
            await waiter
        except HashBusy:
            raise  # evicted by a source with fewer recent grants; already out of the queue
        except asyncio.CancelledError:
            if waiter.cancelled():
                self._remove(key, waiter)
            else:  # granted in the same turn as the caller was cancelled: pass the slot on
                self._running -= 1
                self._grant()
            self.dropped += 1
            raise

    def _evict_for(self, key: str) -> bool:
        """Make room for ``key`` by refusing the newest waiter of the busiest source (most
        recent requests, then most waiters), if that source would still be busier than ``key``
        once ``key`` waits too; whether room was made."""
        victim = self._victim_for(key)
        if victim is None:
            return False
        source = self._waiting[victim]
        waiter = source.waiters.pop()
        source.first_seq.pop()
        self._queued -= 1
        if not source.waiters:
            del self._waiting[victim]
        self.refused += 1
        waiter.set_exception(HashBusy())
        return True

    def _victim_for(self, key: str) -> str | None:
        """The source that would give its newest waiter's place to ``key``, if any."""
        if not self._waiting:
            return None
        now = self._clock.monotonic()
        mine = self._waiting.get(key)
        me = (self._rank(key, now), (len(mine.waiters) if mine is not None else 0) + 1)
        victim = max(self._waiting, key=lambda k: (self._rank(k, now),
                                                     len(self._waiting[k].waiters)))
        if victim == key or (self._rank(victim, now),
                             len(self._waiting[victim].waiters)) <= me:
            return None
        return victim

    def _remove(self, key: str, waiter: asyncio.Future[None]) -> None:
        source = self._waiting.get(key)
        if source is None or waiter not in source.waiters:
            return
        index = source.waiters.index(waiter)
        del source.waiters[index]
        del source.first_seq[index]
        self._queued -= 1
        if not source.waiters:
            del self._waiting[key]

    def _grant(self) -> None:
        """Hand free slots to waiting sources, fewest recent grants first."""
        now = self._clock.monotonic()
        while self._running < self.slots and self._waiting:
            key = min(self._waiting, key=lambda k: (self._rank(k, now),
                                                     self._waiting[k].first_seq[0]))
            source = self._waiting[key]
            waiter = source.waiters.popleft()
            source.first_seq.popleft()
            self._queued -= 1
            if not source.waiters:
                del self._waiting[key]
            if waiter.done():  # cancelled; its task has not run its cleanup yet
                continue
            self._running += 1
            self._note_demand(key)
            waiter.set_result(None)

    def _recent_count(self, key: str, now: float) -> float:
        recent = self._recent.get(key)
        return recent.now(now, self.half_life) if recent is not None else 0.0

    def _rank(self, key: str, now: float) -> int:
        """Whole recent requests: a source whose count decayed below one is fresh again."""
        return math.floor(self._recent_count(key, now))

    def _note_demand(self, key: str) -> None:
        """Count a request of ``key`` (granted or refused) in its recent demand."""
        now = self._clock.monotonic()
        self._recent[key] = _Recent(self._recent_count(key, now) + 1.0, now)
        if len(self._recent) > _MAX_SOURCES:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget sources that are not waiting, the least counted first."""
        idle = sorted((k for k in self._recent if k not in self._waiting),
                      key=lambda k: self._recent_count(k, now))
        for key in idle[: len(self._recent) - _MAX_SOURCES // 2]:
            del self._recent[key]
