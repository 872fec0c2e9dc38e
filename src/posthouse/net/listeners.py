"""asyncio listeners: bind, enforce connection limits, implicit TLS, graceful shutdown.

Limits (issue 12, defects 3 and 4): each connection counts against the overall ceiling and
its listener's own caps (net/limits.py), so a flood on IMAP leaves SMTP and POP3 their room;
a connection cut as too slow (net/connection.py TooSlow) is logged as one line and keeps its
slots for ``slow_penalty`` seconds. The TLS handshake has ``handshake_timeout`` (implicit TLS
here, STARTTLS/STLS through ``Connection.handshake_seconds``). An implicit-TLS connection is
counted once its handshake is done (asyncio calls the protocol only then): until then only
the handshake deadline bounds it.

A protocol adapter is an async function ``handler(conn, ctx)``; the listener owns the task,
the limits and the socket, the adapter owns the protocol conversation.

PROXY protocol (net/proxy_header.py): a listener whose spec has ``proxy_trusted`` is served
behind a TCP load balancer. It accepts sockets itself: a peer outside the trusted networks is
closed at once; a trusted one must send a valid v1 or v2 header within
``proxy_header_timeout`` seconds, or it is closed with no reply. The header is read off the
socket exactly (peeked, then only its own bytes consumed), before asyncio gets the socket,
so on implicit-TLS listeners the handshake starts right after it. The header's source
address then becomes ``Connection.peer``: limits, throttles, checks and logs all see the
client, not the balancer. A LOCAL (v2) or UNKNOWN (v1) header keeps the real peer.

Parked sessions (issue 15): a session waiting with nothing to do may park on its connection
(``Connection.park``): its handler returns and the task ends, but the connection stays open
in ``_parked``; the connection's next event resumes the session in a new task
(``_Accepted.resume_parked``), run like the first (limits, logging, closing at the end).

Shutdown: ``ctx.shutting_down`` is set, every connection is interrupted (an interruptible
read raises ReadInterrupted, a parked session is resumed) and sessions end between
commands; in-flight ones get the grace. When it ends, a session still reading gets
GraceExpired from ``conn.read`` and a moment (``farewell_timeout``) to say goodbye in its
protocol; what is left then is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from posthouse.metrics import DISCARD, ServerMetrics
from posthouse.net.connection import Connection, ConnectionClosed, GraceExpired, Resumable
from posthouse.net.limits import ConnectionLimiter
from posthouse.net.proxy_header import (
    MAX_HEADER,
    ProxyHeaderError,
    header_length,
    parse_proxy_header,
)
from posthouse.net.tls import TlsContextFactory

log = logging.getLogger("posthouse.net")


@dataclass(frozen=True)
class SessionContext:
    """What every session gets besides its connection."""

    protocol: str  # smtp | submission | submissions | imap | imaps | pop3 | pop3s
    tls: TlsContextFactory
    shutting_down: asyncio.Event
    implicit_tls: bool


Handler = Callable[[Connection, SessionContext], Awaitable[None]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ListenerSpec:
    """One socket to listen on."""

    protocol: str
    host: str
    port: int
    handler: Handler
    implicit_tls: bool = False
    busy_reply: bytes = b""  # sent when a limit refuses the connection
    # Read and drop the client's input for a moment after the busy reply (HTTP: a request
    # sent at once would otherwise turn the close into a reset that loses the reply).
    linger_refused: bool = False
    tls_alpn_challenges: bool = False  # answers ACME tls-alpn-01 (RFC 8737): HTTPS only
    # PROXY protocol on: the load balancers' networks (only they may connect). None: off.
    proxy_trusted: tuple[Network, ...] | None = None
    # Already bound and listening (bind_socket): the worker processes of one server share
    # their parent's sockets (cli/workers.py). None: bind host:port here.
    sock: socket.socket | None = None


class ListenError(Exception):
    """A listener could not be bound; the message names protocol and address."""


@dataclass
class ListenerGroup:
    """All listeners of one server, sharing limits, TLS and the shutdown signal."""

    tls: TlsContextFactory
    limiter: ConnectionLimiter
    handshake_timeout: float = 30.0  # implicit TLS, STARTTLS and STLS
    slow_penalty: float = 0.0  # seconds a connection cut as too slow still counts
    farewell_timeout: float = 2.0  # after the grace: time to send a goodbye reply
    proxy_header_timeout: float = 5.0  # a PROXY listener's header must arrive within this
    metrics: ServerMetrics = DISCARD  # connections per listener
    shutting_down: asyncio.Event = field(default_factory=asyncio.Event)
    bound: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    _servers: list[asyncio.Server] = field(default_factory=list)
    _tasks: dict[asyncio.Task[None], Connection] = field(default_factory=dict)
    # sessions waiting with no task (a dict: less memory per entry than a set)
    _parked: dict[Connection, None] = field(default_factory=dict)
    _watcher: asyncio.Task[None] | None = None  # interrupts every connection at shutdown
    _proxy_socks: list[tuple[socket.socket, ListenerSpec]] = field(default_factory=list)
    _proxy_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _accepting: bool = False

    async def start(self, specs: list[ListenerSpec], *, accept: bool = True) -> None:
        """Bind every spec; on any failure close what was bound and raise ListenError.

        ``accept`` False: bound and listening, but nothing is accepted until ``accept()``
        (the server drops its privileges in between)."""
        loop = asyncio.get_running_loop()
        if self._watcher is None:
            self._watcher = loop.create_task(self._interrupt_at_shutdown())
        for spec in specs:
            if spec.proxy_trusted is not None:
                try:
                    self._bind_proxied(spec)
                except ListenError:
                    await self.stop(0)
                    raise
                continue
            try:
                if spec.sock is not None:
                    server = await loop.create_server(
                        lambda spec=spec: _Accepted(self, spec), sock=spec.sock,
                        backlog=1024, start_serving=accept, ssl=self._server_context(spec),
                        ssl_handshake_timeout=(self.handshake_timeout if spec.implicit_tls
                                               else None))
                else:
                    server = await loop.create_server(
                        lambda spec=spec: _Accepted(self, spec),
                        spec.host, spec.port, reuse_address=True, backlog=1024,
                        start_serving=accept,
                        ssl=self._server_context(spec),
                        ssl_handshake_timeout=(self.handshake_timeout if spec.implicit_tls
                                               else None),
                        family=socket.AF_INET6 if ":" in spec.host else socket.AF_INET,
                    )
            except OSError as exc:
                await self.stop(0)
                reason = "address already in use" if exc.errno == errno.EADDRINUSE else (
                    exc.strerror or str(exc))
                raise ListenError(
                    f"cannot listen for {spec.protocol} on {spec.host}:{spec.port}: {reason}"
                ) from None
            self._servers.append(server)
            addr = server.sockets[0].getsockname()
            self.bound.setdefault(spec.protocol, []).append((str(addr[0]), int(addr[1])))
        if accept:
            self._accept_proxied()

    def _bind_proxied(self, spec: ListenerSpec) -> None:
        """Bind a PROXY protocol listener's socket (its accept loop starts with accept)."""
        sock = spec.sock if spec.sock is not None else bind_socket(
            spec.protocol, spec.host, spec.port)
        self._proxy_socks.append((sock, spec))
        addr = sock.getsockname()
        self.bound.setdefault(spec.protocol, []).append((str(addr[0]), int(addr[1])))

    def _accept_proxied(self) -> None:
        if self._accepting:
            return
        self._accepting = True
        loop = asyncio.get_running_loop()
        for sock, spec in self._proxy_socks:
            self._keep(loop.create_task(self._accept_loop(sock, spec)))

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._proxy_tasks.add(task)
        task.add_done_callback(self._proxy_tasks.discard)

    async def _accept_loop(self, sock: socket.socket, spec: ListenerSpec) -> None:
        loop = asyncio.get_running_loop()
        while not self.shutting_down.is_set():
            # Not loop.sock_accept: a socket it accepts just as the task is cancelled is
            # lost in its future, never closed. Accepted here, it is handed on at once.
            await _readable(loop, sock)
            try:
                client, _addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:  # EMFILE and the like: wait a moment, as asyncio does
                log.warning("accept failed on %s: %s", spec.protocol, exc)
                await asyncio.sleep(1)
                continue
            client.setblocking(False)
            task = loop.create_task(self._proxied(client, spec))
            task.add_done_callback(functools.partial(_close_if_cancelled, client))
            self._keep(task)

    async def _proxied(self, client: socket.socket, spec: ListenerSpec) -> None:
        """Check the peer, read its PROXY header, then hand the socket to asyncio."""
        assert spec.proxy_trusted is not None
        loop = asyncio.get_running_loop()
        try:
            real = client.getpeername()
        except OSError:
            client.close()
            return
        real_peer = (str(real[0]), int(real[1]))
        if not _trusted(real_peer[0], spec.proxy_trusted):
            log.warning("proxy protocol: refused untrusted peer=%s listener=%s",
                        real_peer[0], spec.protocol)
            self.metrics.connection_refused(spec.protocol)
            client.close()
            return
        try:
            async with asyncio.timeout(self.proxy_header_timeout):
                header = parse_proxy_header(await _read_header(loop, client))
        except (ProxyHeaderError, TimeoutError, ConnectionClosed, OSError) as exc:
            log.info("proxy protocol: no valid header from peer=%s listener=%s: %s",
                     real_peer[0], spec.protocol, exc or type(exc).__name__)
            client.close()
            return
        peer = header.source or real_peer
        context = self._server_context(spec)
        try:
            await loop.connect_accepted_socket(
                lambda: _Accepted(self, spec, peer), client, ssl=context,
                ssl_handshake_timeout=self.handshake_timeout if context else None)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            log.debug("connection from %s (via %s) ended in the TLS handshake: %r",
                      peer[0], real_peer[0], exc)
            client.close()

    def _server_context(self, spec: ListenerSpec) -> ssl.SSLContext | None:
        if not spec.implicit_tls:
            return None
        return self.tls.challenge_entry() if spec.tls_alpn_challenges else self.tls.context

    async def accept(self) -> None:
        """Start accepting on listeners bound with ``start(accept=False)``."""
        for server in self._servers:
            await server.start_serving()
        self._accept_proxied()

    @property
    def sessions(self) -> tuple[int, int]:
        """(sessions running in a task, sessions parked with none: Connection.park)."""
        return len(self._tasks), len(self._parked)

    def port(self, protocol: str) -> int:
        """The first bound port of a protocol (useful with port 0)."""
        return self.bound[protocol][0][1]

    async def stop(self, grace: float) -> None:
        """Stop accepting, let sessions finish within ``grace`` seconds, tell the ones still
        reading that the grace is over, then drop what is left."""
        self.shutting_down.set()
        for server in self._servers:
            server.close()
        self._servers.clear()
        proxying = list(self._proxy_tasks)  # accept loops and headers still being read
        for task in proxying:
            task.cancel()
        if proxying:  # they stop watching their sockets before the sockets close
            await asyncio.wait(proxying, timeout=5)
        for sock, _spec in self._proxy_socks:
            sock.close()
        self._proxy_socks.clear()
        self._interrupt_all()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._tasks and (left := deadline - loop.time()) > 0:
            # a session resumed meanwhile is a new task: wait for those too
            await asyncio.wait(set(self._tasks), timeout=left)
        for conn in [*self._tasks.values(), *self._parked]:
            conn.expire_grace()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.farewell_timeout)
        pending = set(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
        for conn in list(self._parked):  # parked again after the grace: dropped, not resumed
            conn.cancel_park()
            conn.abort()
        self._parked.clear()
        if self._watcher is not None:
            self._watcher.cancel()

    async def _interrupt_at_shutdown(self) -> None:
        await self.shutting_down.wait()
        self._interrupt_all()

    def _interrupt_all(self) -> None:
        """Shutdown began: interrupt every connection's interruptible read and resume
        every parked session (net/connection.py), so idle sessions see it and end."""
        for conn in [*self._tasks.values(), *self._parked]:
            conn.interrupt()

    def _spawn(self, conn: Connection, spec: ListenerSpec,
               parked: Resumable | None = None) -> None:
        """The task of a new connection's session, or of a parked session resumed."""
        if parked is not None:
            self._parked.pop(conn, None)
        task = asyncio.get_running_loop().create_task(self._run(conn, spec, parked))
        self._tasks[task] = conn
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    async def _run(self, conn: Connection, spec: ListenerSpec,
                   parked: Resumable | None) -> None:
        ip = conn.peer[0]
        if parked is None:
            if self.shutting_down.is_set() or not self.limiter.acquire(ip, spec.protocol):
                self.metrics.connection_refused(spec.protocol)
                conn.write(spec.busy_reply)
                if spec.linger_refused:
                    await _linger(conn)
                conn.close()
                return
            self.metrics.connection_opened(spec.protocol)
            conn.handshake_seconds = self.handshake_timeout
        ended = True
        try:
            if parked is None:
                ctx = SessionContext(spec.protocol, self.tls, self.shutting_down,
                                     spec.implicit_tls)
                await spec.handler(conn, ctx)
            else:
                await parked.resume()
            # parked: the session waits for input with no task (Connection.park); the
            # connection's next event resumes it in a new task (_Accepted.resume_parked)
            ended = not conn.parked
        except (ConnectionClosed, ConnectionError, TimeoutError, OSError, GraceExpired) as exc:
            log.debug("connection from %s ended: %r", ip, exc)
        except asyncio.CancelledError:
            conn.abort()
            raise
        except Exception:
            log.exception("session for %s on %s failed", ip, spec.protocol)
        finally:
            if ended:
                conn.cancel_park()
                conn.close()
                self._release(conn, spec)
            else:
                self._parked[conn] = None

    def _release(self, conn: Connection, spec: ListenerSpec) -> None:
        """Free the connection's slots; one cut as too slow (issue 12, defect 4) keeps its
        address's slots for ``slow_penalty`` seconds, so a slowloris that reconnects meets
        the per-address caps."""
        ip = conn.peer[0]
        self.metrics.connection_closed(spec.protocol)
        if conn.slow_reason is None:
            self.limiter.release(ip, spec.protocol)
            return
        log.warning("slow client cut peer=%s listener=%s reason=%s", ip, spec.protocol,
                    conn.slow_reason)
        if self.slow_penalty > 0:
            asyncio.get_running_loop().call_later(
                self.slow_penalty, self.limiter.release, ip, spec.protocol)
        else:
            self.limiter.release(ip, spec.protocol)


def bind_socket(protocol: str, host: str, port: int) -> socket.socket:
    """A listening, non-blocking TCP socket on host:port (as asyncio's create_server makes
    one: SO_REUSEADDR, IPv6 only on an IPv6 address); ListenError names what failed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else (
            exc.strerror or str(exc))
        raise ListenError(f"cannot listen for {protocol} on {host}:{port}: {reason}") from None
    return sock


def _close_if_cancelled(client: socket.socket, task: asyncio.Task[None]) -> None:
    """Shutdown cancelled a header read (perhaps before it started): the socket is ours."""
    if task.cancelled():
        client.close()


def _trusted(ip: str, networks: tuple[Network, ...]) -> bool:
    """Whether ip (an IPv4-mapped IPv6 address counts as IPv4) is in one of networks."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in net for net in networks)


async def _read_header(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    """The PROXY header at the start of sock, consuming no byte after it: what is waiting
    is peeked, and only the part that belongs to the header is then received."""
    got = bytearray()
    while True:
        await _readable(loop, sock)
        peek = sock.recv(MAX_HEADER - len(got), socket.MSG_PEEK)
        if not peek:
            raise ConnectionClosed
        end = header_length(bytes(got + peek))
        take = len(peek) if end is None else end - len(got)
        got += sock.recv(take)
        if end is not None and len(got) == end:
            return bytes(got)


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Wait until sock has input (or end of stream)."""
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = sock.fileno()
    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


REFUSED_LINGER_SECONDS = 1.0


async def _linger(conn: Connection) -> None:
    """Drop what a refused client sends until it closes, for REFUSED_LINGER_SECONDS at most
    (RFC 9112 9.6: closing with unread input makes TCP send a reset, and the client may then
    never read the reply already sent)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REFUSED_LINGER_SECONDS
    with contextlib.suppress(TimeoutError, ConnectionClosed, GraceExpired, OSError):
        while (left := deadline - loop.time()) > 0:
            if not await conn.read(left):
                return


class _Accepted(Connection):
    """A Connection that starts its session task as soon as it is accepted."""

    __slots__ = ("_group", "_proxied_peer", "_spec")

    def __init__(self, group: ListenerGroup, spec: ListenerSpec,
                 proxied_peer: tuple[str, int] | None = None) -> None:
        super().__init__()
        self._group = group
        self._spec = spec
        self._proxied_peer = proxied_peer  # from a PROXY header: the client, not the balancer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._proxied_peer is not None:
            self.peer = self._proxied_peer
        self._group._spawn(self, self._spec)

    def resume_parked(self, session: Resumable) -> None:
        """The parked session's next task, owned by the listener group like the first."""
        self._group._spawn(self, self._spec, session)
