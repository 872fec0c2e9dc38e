"""A wrong-password flood over real sockets from many loopback addresses, and one real user's
login beside it (issue 12, defect 1). Used by tests/integration/test_auth_flood.py and
bench/bench_flood.py, against posthouse or Dovecot.

Linux accepts any 127.0.0.0/8 address as a local source on the loopback interface, so each
flooding "host" binds its sockets to its own 127.x.y.z. Every login speaks the protocol in
plaintext (the server must allow passwords from loopback). Replies are sorted by kind:
``rejected`` (wrong credentials), ``busy`` (the protocol's temporary error: SMTP 454, IMAP
``NO [UNAVAILABLE]``, POP3 ``-ERR [SYS/TEMP]`` or ``[IN-USE]``), ``ok``, and ``other``.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

BOUND = 60.0  # socket timeout: a server that never answers fails the caller, slowly

LoginFn = Callable[["LineClient", str, str], bytes]


def source_addresses(count: int, *, block: int = 1) -> list[str]:
    """``count`` distinct loopback addresses 127.<block>.x.y (never 127.0.0.1)."""
    return [f"127.{block}.{i // 250}.{i % 250 + 1}" for i in range(count)]


class LineClient:
    """A line-oriented client on a socket bound to a given source address."""

    def __init__(self, port: int, source: str, *, timeout: float = BOUND) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self._buffer = b""

    def send(self, line: bytes) -> None:
        self.sock.sendall(line + b"\r\n")

    def line(self) -> bytes:
        """The next line without its CRLF; ConnectionError at end of stream."""
        while b"\r\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\r\n")
        return line

    def smtp_reply(self) -> bytes:
        """The last line of an SMTP reply."""
        while True:
            line = self.line()
            if line[3:4] != b"-":
                return line

    def hang_up(self) -> None:
        """Shut the socket down from another thread (wakes a blocked ``line``)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()


def open_imap(port: int, source: str) -> LineClient:
    client = LineClient(port, source)
    client.line()  # greeting
    return client


def open_pop3(port: int, source: str) -> LineClient:
    client = LineClient(port, source)
    client.line()
    return client


def open_smtp(port: int, source: str) -> LineClient:
    client = LineClient(port, source)
    client.smtp_reply()
    client.send(b"EHLO flood.test")
    client.smtp_reply()
    return client


def imap_login(client: LineClient, user: str, password: str) -> bytes:
    """IMAP LOGIN; the tagged reply."""
    client.send(f'l LOGIN "{user}" "{password}"'.encode())
    while True:
        line = client.line()
        if line.startswith(b"l "):
            return line


def imap_authenticate(client: LineClient, user: str, password: str) -> bytes:
    """IMAP AUTHENTICATE PLAIN with an initial response (RFC 4959); the tagged reply."""
    client.send(b"a AUTHENTICATE PLAIN " + _plain(user, password))
    while True:
        line = client.line()
        if line.startswith(b"a "):
            return line


def smtp_auth(client: LineClient, user: str, password: str) -> bytes:
    """SMTP AUTH PLAIN with an initial response (RFC 4954 4); the reply's last line."""
    client.send(b"AUTH PLAIN " + _plain(user, password))
    return client.smtp_reply()


def pop3_login(client: LineClient, user: str, password: str) -> bytes:
    """POP3 USER and PASS (RFC 1939 7); the reply to PASS (or to USER if it failed)."""
    client.send(f"USER {user}".encode())
    reply = client.line()
    if not reply.startswith(b"+OK"):
        return reply
    client.send(f"PASS {password}".encode())
    return client.line()


def pop3_auth(client: LineClient, user: str, password: str) -> bytes:
    """POP3 AUTH PLAIN with an initial response (RFC 5034 4)."""
    client.send(b"AUTH PLAIN " + _plain(user, password))
    return client.line()


def _plain(user: str, password: str) -> bytes:
    return base64.b64encode(f"\0{user}\0{password}".encode())


OPENERS: dict[str, Callable[[int, str], LineClient]] = {
    "imap": open_imap, "pop3": open_pop3, "submission": open_smtp,
}
LOGINS: dict[str, LoginFn] = {"imap": imap_login, "pop3": pop3_login, "submission": smtp_auth}


def kind(reply: bytes) -> str:
    """ok / rejected / busy / other, for any of the three protocols."""
    status = reply.split(b" ", 2)[1:2]  # IMAP: the word after the tag
    if reply.startswith((b"235 ", b"+OK")) or status == [b"OK"]:
        return "ok"
    if (reply.startswith(b"454 ") or b"[UNAVAILABLE]" in reply or b"[SYS/TEMP]" in reply
            or b"[IN-USE]" in reply):
        return "busy"
    if reply.startswith((b"535 ", b"-ERR")) or status == [b"NO"]:
        return "rejected"
    return "other"


@dataclass
class Flood:
    """Connections from many addresses sending wrong logins until ``stop``.

    Each connection logs in again as soon as it has its answer; when the server closes it,
    it reconnects. ``counts`` holds the kinds of replies seen (and "closed", "error")."""

    ports: dict[str, int]  # protocol name (imap, pop3, submission) -> port
    sources: list[str]
    per_source: int = 3
    user: str = "nobody@example.test"
    counts: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _clients: set[LineClient] = field(default_factory=set)

    def start(self) -> Flood:
        protocols = list(self.ports)
        for i, source in enumerate(self.sources):
            for j in range(self.per_source):
                proto = protocols[(i * self.per_source + j) % len(protocols)]
                thread = threading.Thread(target=self._run, args=(proto, source, i, j),
                                          daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def wait_for(self, what: str, count: int, bound: float = BOUND) -> bool:
        """Wait until ``count`` replies of kind ``what`` were seen (False after ``bound``)."""
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            with self._lock:
                if self.counts[what] >= count:
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> Counter[str]:
        """Hang up every connection (the server sees them go) and return the counts."""
        self._stop.set()
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            client.hang_up()
        for thread in self._threads:
            thread.join(BOUND)
        with self._lock:
            return Counter(self.counts)

    def _note(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def _run(self, proto: str, source: str, i: int, j: int) -> None:
        serial = 0
        while not self._stop.is_set():
            try:
                client = OPENERS[proto](self.ports[proto], source)
            except OSError:
                self._note("error")
                time.sleep(0.2)
                continue
            with self._lock:
                self._clients.add(client)
            try:
                while not self._stop.is_set():
                    serial += 1
                    reply = LOGINS[proto](client, self.user, f"wrong-{i}-{j}-{serial}")
                    self._note(kind(reply))
            except OSError:
                self._note("closed")
            finally:
                with self._lock:
                    self._clients.discard(client)
                client.close()


@dataclass(frozen=True)
class TimedLogin:
    """One real user's login during a flood: ``seconds`` for the login command alone,
    ``total`` from connect (greeting, EHLO) to its answer, or to the error that ended it
    (``reply`` then says ``(error: ...)``)."""

    protocol: str
    reply: bytes
    seconds: float
    total: float


def timed_login(proto: str, port: int, source: str, user: str, password: str) -> TimedLogin:
    """Connect, then log in; both timed."""
    connected = time.perf_counter()
    started = connected
    try:
        client = OPENERS[proto](port, source)
        try:
            started = time.perf_counter()
            reply = LOGINS[proto](client, user, password)
        finally:
            client.close()
    except OSError as exc:
        reply = f"(error: {exc!r})".encode()
    done = time.perf_counter()
    return TimedLogin(proto, reply, done - started, done - connected)


@dataclass
class Gate:
    """A hook on password verification for tests: counts every verification started and
    holds each one until ``open`` (patched over ``PasswordHasher.verify`` by the caller)."""

    started: int = 0
    _open: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, verify: Callable[..., bool]) -> Callable[..., bool]:
        def held(*args: object) -> bool:
            with self._lock:
                self.started += 1
            self._open.wait(BOUND)
            return verify(*args)

        return held

    def open(self) -> None:
        self._open.set()

    def wait_started(self, count: int, bound: float = BOUND) -> bool:
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            with self._lock:
                if self.started >= count:
                    return True
            time.sleep(0.02)
        return False
