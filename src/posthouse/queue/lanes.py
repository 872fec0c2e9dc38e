"""Per-domain lanes: jobs for one recipient domain share connections, bounded per domain and
overall. A connection serves jobs one after another (RSET between) until its lane is empty.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from posthouse.queue.jobs import HopConnection, Job, Opener, RecipientOutcome, TlsDemand

log = logging.getLogger("posthouse.queue")

Spawn = Callable[[Coroutine[Any, Any, None]], object]


class Lane:
    """The waiting jobs of one domain and the connections serving them."""

    def __init__(self, domain: str, *, limit: int, opener: Opener,
                 overall: asyncio.Semaphore, spawn: Spawn,
                 tls: TlsDemand = TlsDemand.POLICY) -> None:
        self.domain = domain
        self.tls = tls
        self.limit = max(1, limit)
        self._opener = opener
        self._overall = overall
        self._spawn = spawn
        self._jobs: deque[Job] = deque()
        self.active = 0  # connection tasks started and not finished

    @property
    def idle(self) -> bool:
        """No job waiting and no connection working."""
        return not self._jobs and not self.active

    def add(self, job: Job) -> None:
        """Queue a job; start another connection if the lane may have one more."""
        self._jobs.append(job)
        if self.active < self.limit:
            self.active += 1
            self._spawn(self._serve())

    async def _serve(self) -> None:
        try:
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
        """Deliver waiting jobs over one connection until none is left or it breaks."""
        first = True
        while self._jobs:
            if not first and not (await hop.reset() and self._jobs):
                return
            first = False
            job = self._jobs.popleft()
            try:
                usable = await hop.send(job)
            finally:
                await _finish(job)
            if not usable:
                return

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
                 spawn: Spawn) -> None:
        self._per_domain = per_domain
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
                overall=self._overall, spawn=self._spawn, tls=job.tls)
        lane.add(job)

