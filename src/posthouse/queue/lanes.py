"""Per-domain lanes: jobs for one recipient domain share connections, bounded per domain and
overall. A connection serves jobs one after another until its lane is empty, then lingers a
moment (``LINGER_SECONDS``, like Postfix's connection cache) for the next job of its lane: mail
arriving one message at a time then travels over one session instead of a new connection,
greeting, EHLO (and TLS) each. A connection that idled is probed with RSET before its next
job; if that fails the job gets a fresh connection. A lingering connection gives up its place
in the overall limit as soon as another lane needs one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from posthouse.queue.jobs import HopConnection, Job, Opener, RecipientOutcome, TlsDemand

log = logging.getLogger("posthouse.queue")

Spawn = Callable[[Coroutine[Any, Any, None]], object]

LINGER_SECONDS = 2.0


class Lane:
    """The waiting jobs of one domain and the connections serving them."""

    def __init__(self, domain: str, *, limit: int, opener: Opener,
                 overall: asyncio.Semaphore, spawn: Spawn,
                 tls: TlsDemand = TlsDemand.POLICY, linger: float | None = None,
                 starved: Callable[[], None] = lambda: None) -> None:
        self.domain = domain
        self._starved = starved  # called when this lane must wait for the overall limit
        self.tls = tls
        self.limit = max(1, limit)
        self._opener = opener
        self._overall = overall
        self._spawn = spawn
        self._jobs: deque[Job] = deque()
        self.active = 0  # connection tasks started and not finished
        self.linger = LINGER_SECONDS if linger is None else linger
        self.lingering = 0  # connections waiting for a job
        self._arrived = asyncio.Event()

    @property
    def idle(self) -> bool:
        """No job waiting and no connection working."""
        return not self._jobs and not self.active

    def add(self, job: Job) -> None:
        """Queue a job; start another connection if the lane may have one more."""
        self._jobs.append(job)
        if self.lingering:
            self._arrived.set()
        if len(self._jobs) > self.lingering and self.active < self.limit:
            self.active += 1
            self._spawn(self._serve())

    async def _serve(self) -> None:
        try:
            if self._overall.locked():
                self._starved()  # lingering connections elsewhere make room
            async with self._overall:
                while self._jobs:
                    opened = await self._opener(self.domain, self.tls)
                    if isinstance(opened, RecipientOutcome):
                        await self._fail_waiting(opened)
                        return
                    try:
                        await self._run(opened)
                    finally:
                        await opened.close()
        except Exception:
            log.exception("lane %s failed", self.domain)
            await self._fail_waiting(RecipientOutcome.local(
                permanent=False, status="4.3.0", text="internal error during delivery"))
        finally:
            self.active -= 1

    async def _run(self, hop: HopConnection) -> None:
        """Deliver waiting jobs over one connection until none is left (and none came while
        it lingered) or it breaks."""
        first = True
        while True:
            if not self._jobs:
                if not await self._wait_for_job():
                    return
                if not (await hop.reset(probe=True) and self._jobs):
                    return  # gone while idle: the caller opens another for the job
            elif not first and not (await hop.reset() and self._jobs):
                return
            first = False
            job = self._jobs.popleft()
            try:
                usable = await hop.send(job)
            finally:
                await _finish(job)
            if not usable:
                return

    async def _wait_for_job(self) -> bool:
        """Linger for the next job of this lane; False when none came (or another lane
        needed the place in the overall limit)."""
        if self.linger <= 0 or self._overall.locked():
            return False
        self._arrived.clear()
        self.lingering += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), self.linger)
        finally:
            self.lingering -= 1
        return bool(self._jobs)

    def stop_lingering(self) -> None:
        """Let a lingering connection go now (its place in the overall limit is wanted)."""
        if self.lingering:
            self._arrived.set()

    async def _fail_waiting(self, outcome: RecipientOutcome) -> None:
        """Every waiting job gets the same outcome (the domain is unreachable now)."""
        while self._jobs:
            job = self._jobs.popleft()
            try:
                await job.report_rest(outcome)
            finally:
                await _finish(job)


async def _finish(job: Job) -> None:
    """Whoever left a recipient without an outcome: it is retried later."""
    try:
        await job.report_rest(RecipientOutcome.local(permanent=False, status="4.4.2",
                                            text="not attempted: connection lost"))
    finally:
        job.done.set()


class Lanes:
    """All lanes of a worker, created on demand and dropped when idle."""

    def __init__(self, *, per_domain: int, overall: int, opener: Opener,
                 spawn: Spawn, linger: float | None = None) -> None:
        self._per_domain = per_domain
        self._linger = linger
        self._overall = asyncio.Semaphore(max(1, overall))
        self._opener = opener
        self._spawn = spawn
        self._lanes: dict[tuple[str, TlsDemand], Lane] = {}

    def add(self, job: Job) -> None:
        """Hand a job to its domain's lane."""
        for key in [k for k, lane in self._lanes.items() if lane.idle]:
            del self._lanes[key]
        key = (job.domain, job.tls)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(
                job.domain, limit=self._per_domain, opener=self._opener,
                overall=self._overall, spawn=self._spawn, tls=job.tls, linger=self._linger,
                starved=self._make_room)
        lane.add(job)

    def _make_room(self) -> None:
        """Another lane waits for the overall limit: end every linger."""
        for lane in self._lanes.values():
            lane.stop_lingering()

