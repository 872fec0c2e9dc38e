"""Greylisting (RFC 6647): the first delivery attempt of an unknown (client network, sender,
recipient) triplet gets a 4xx; a retry after the delay and within the retry window passes.

Owns the triplets and the auto-whitelist of client networks that passed (RFC 6647 4.2), kept
in one small JSON file in the data directory, rewritten atomically (temporary file, fsync,
rename) in a worker thread after changes; a crash loses at most the last changes, which only
greylists those clients again. Never decides who is exempt (SPF pass, authenticated users):
the session asks only for what it greylists.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("posthouse.antiabuse")

MAX_TRIPLETS = 500_000  # beyond this the oldest unpassed triplets are forgotten
SAVE_SPACING = 2.0  # seconds between two writes of the file while changes keep coming


@dataclass(frozen=True, slots=True)
class GreylistTimes:
    """The delay before a retry passes, how long a first sight waits for its retry, and how
    long a passed triplet (and its client network) is remembered."""

    delay: float = 300
    retry: float = 2 * 86400
    passed: float = 36 * 86400


class Greylist:
    """The triplets of one server, in ``path``."""

    def __init__(self, path: Path, times: GreylistTimes,
                 now: Callable[[], float] = time.time) -> None:
        self._path = path
        self._times = times
        self._now = now
        # key -> [first seen, passed at (0: not yet), last seen]
        self._triplets: dict[str, list[float]] = {}
        self._clients: dict[str, float] = {}  # network -> whitelisted until
        self._loading: asyncio.Future[None] | None = None
        self._saving: asyncio.Task[None] | None = None
        self._dirty = False
        self._closing = False
        self._closing_now = asyncio.Event()

    async def check(self, network: str, sender: str, recipient: str) -> float:
        """0 when the triplet may pass now, else the seconds until a retry would."""
        if self._loading is None:  # once, shared by the checks that come meanwhile
            self._loading = asyncio.ensure_future(asyncio.to_thread(self._load))
        await self._loading
        now = self._now()
        until = self._clients.get(network, 0.0)
        if until > now:
            if until - now < self._times.passed / 2:  # still sending: keep it let in
                self._clients[network] = now + self._times.passed
                self._changed()
            return 0.0
        key = "\t".join((network, sender.lower(), recipient.lower()))
        entry = self._triplets.get(key)
        times = self._times
        if entry is not None and entry[1] and now - entry[2] > times.passed:
            entry = None  # passed long ago and unused since: start over
        if entry is not None and not entry[1] and now - entry[0] > times.retry:
            entry = None  # the retry came too late (RFC 6647 2.1): a new first sight
        if entry is None:
            self._triplets[key] = [now, 0.0, now]
            self._changed()
            return times.delay
        entry[2] = now
        if not entry[1]:
            waited = now - entry[0]
            if waited < times.delay:
                return times.delay - waited
            entry[1] = now
            log.info("greylist: passed net=%s from=<%s> to=<%s> after %ds", network, sender,
                     recipient, int(waited))
        self._clients[network] = now + times.passed  # RFC 6647 4.2: auto-whitelisting
        self._changed()
        return 0.0

    def _changed(self) -> None:
        self._dirty = True
        if self._saving is None or self._saving.done():
            self._saving = asyncio.ensure_future(self._save_soon())

    async def _save_soon(self) -> None:
        """Write the file, then again at most every SAVE_SPACING seconds while changes
        keep coming (one busy minute is not one fsync per message)."""
        while self._dirty:
            self._dirty = False
            snapshot = self._snapshot()
            try:
                await asyncio.to_thread(self._write, snapshot)
            except OSError as exc:
                log.error("greylist: cannot write %s: %s", self._path, exc)
            if self._dirty and not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing_now.wait(), SAVE_SPACING)

    async def flush(self) -> None:
        """Write what is pending now, without the spacing, and wait for it (shutdown)."""
        self._closing = True
        self._closing_now.set()
        if self._saving is not None:
            await self._saving

    def _snapshot(self) -> bytes:
        now, times = self._now(), self._times
        live = {k: v for k, v in self._triplets.items()
                if (v[1] and now - v[2] <= times.passed) or now - v[0] <= times.retry}
        if len(live) > MAX_TRIPLETS:
            waiting = sorted((v[0], k) for k, v in live.items() if not v[1])
            for _first, key in waiting[: len(live) - MAX_TRIPLETS]:
                del live[key]
        self._triplets = live
        self._clients = {n: until for n, until in self._clients.items() if until > now}
        return json.dumps({"version": 1, "triplets": live, "clients": self._clients},
                          separators=(",", ":")).encode()

    def _write(self, data: bytes) -> None:
        tmp = self._path.with_name(self._path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._path)

    def _load(self) -> None:
        try:
            raw = json.loads(self._path.read_bytes())
            triplets, clients = raw["triplets"], raw["clients"]
            self._triplets = {str(k): [float(x) for x in v][:3] for k, v in triplets.items()}
            self._clients = {str(k): float(v) for k, v in clients.items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.error("greylist: %s unreadable (%s); starting empty", self._path, exc)
