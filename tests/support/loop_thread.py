"""A private asyncio loop in a daemon thread: the base of the test peers (DNS, SMTP)."""

from __future__ import annotations

import asyncio
import threading
from typing import Self


class LoopThread:
    """Runs ``_bind`` on start and ``_close`` on stop, on its own event loop."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> Self:
        """Start the loop and bind (waits up to 10 s)."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._bind(), self._loop).result(10)
        return self

    def stop(self) -> None:
        """Close, stop the loop and join the thread."""
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _bind(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError
