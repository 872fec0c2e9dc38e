"""Messages between the worker processes of one server (``[server] workers`` > 1).

Each worker binds a Unix datagram socket ``worker-<index>.sock`` in the data dir's private
``run/`` directory and sends small messages to the others: a kind byte and a payload
(``store/siblings.py`` sends store change events; the App sends "wake the queue" to the
primary and "reload TLS" to everyone). Nothing here knows what a message means.

Why datagrams on a private path: a message is one read with its boundaries kept, the kernel
never reorders datagrams between two sockets, no connection has to be kept up between
processes that restart on their own, and only the server's user can reach the directory
(abstract sockets would have no permissions at all).

Sending never blocks the event loop: a datagram the receiver has no room for yet (its queue
is full: EAGAIN) waits in a per-destination queue that is retried shortly, in order. A
sibling that is not running (no socket, ECONNREFUSED) is skipped: it reads what it needs
from the store when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
from collections import deque
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("posthouse.net")

MAX_DATAGRAM = 60_000  # stays below the default socket buffer with room to spare
RETRY_SECONDS = 0.005
MAX_WAITING = 10_000  # datagrams kept for one slow sibling before they are dropped (logged)


def socket_path(run_dir: Path, index: int) -> Path:
    """Where worker ``index`` receives."""
    return run_dir / f"worker-{index}.sock"


class SiblingLink:
    """This worker's end: receive by kind, send to one sibling or to all."""

    def __init__(self, run_dir: Path, index: int, count: int) -> None:
        self.run_dir = run_dir
        self.index = index
        self.count = count
        self._handlers: dict[int, Callable[[bytes], None]] = {}
        self._sock: socket.socket | None = None
        self._waiting: dict[int, deque[bytes]] = {}
        self._retry: asyncio.TimerHandle | None = None
        self.sent = 0
        self.received = 0
        self.dropped = 0

    def handle(self, kind: bytes, fn: Callable[[bytes], None]) -> None:
        """Call ``fn(payload)`` for every message of ``kind`` (one byte)."""
        self._handlers[kind[0]] = fn

    def start(self) -> None:
        """Bind this worker's socket and start reading (on the running loop)."""
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = socket_path(self.run_dir, self.index)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by this worker's previous life
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(str(path))
        os.chmod(path, 0o600)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def close(self) -> None:
        """Stop reading and sending."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._sock is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                socket_path(self.run_dir, self.index).unlink()

    def send(self, to: int, kind: bytes, payload: bytes = b"") -> None:
        """Send one message to worker ``to`` (not to this one)."""
        if to == self.index or self._sock is None:
            return
        data = kind + payload
        if len(data) > MAX_DATAGRAM:
            raise ValueError(f"sibling message of {len(data)} bytes: split it")
        waiting = self._waiting.get(to)
        if waiting:  # keep the order: behind what already waits
            self._queue(to, data)
            return
        self._send_now(to, data)

    def send_all(self, kind: bytes, payload: bytes = b"") -> None:
        """Send one message to every other worker."""
        for to in range(self.count):
            self.send(to, kind, payload)

    def _send_now(self, to: int, data: bytes) -> bool:
        assert self._sock is not None
        try:
            self._sock.sendto(data, str(socket_path(self.run_dir, to)))
        except BlockingIOError:
            self._queue(to, data)
            return False
        except OSError as exc:
            if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
                log.warning("message to worker %d lost: %s", to, exc)
            return True  # not running: nothing to wait for
        self.sent += 1
        return True

    def _queue(self, to: int, data: bytes) -> None:
        waiting = self._waiting.setdefault(to, deque())
        if len(waiting) >= MAX_WAITING:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("worker %d reads too slowly: %d messages dropped", to, self.dropped)
            return
        waiting.append(data)
        if self._retry is None:
            self._retry = asyncio.get_running_loop().call_later(RETRY_SECONDS, self._flush)

    def _flush(self) -> None:
        self._retry = None
        if self._sock is None:
            return
        for to, waiting in list(self._waiting.items()):
            while waiting:
                data = waiting.popleft()
                if not self._send_now(to, data):
                    # _send_now queued it again at the end: put it back in front
                    waiting.pop()
                    waiting.appendleft(data)
                    break
            if not waiting:
                del self._waiting[to]
        if self._waiting and self._retry is None:
            self._retry = asyncio.get_running_loop().call_later(RETRY_SECONDS, self._flush)

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(64):  # then let the loop breathe
            try:
                data = sock.recv(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("sibling socket: %s", exc)
                return
            if not data:
                continue
            self.received += 1
            handler = self._handlers.get(data[0])
            if handler is None:
                log.warning("sibling message of unknown kind %r dropped", data[:1])
                continue
            try:
                handler(data[1:])
            except Exception:
                log.exception("sibling message of kind %r failed", data[:1])
