"""A byte stream over an asyncio transport, with in-place TLS upgrade.

Protocol adapters (serve/) use only this: ``read``, ``write``, ``drain``, ``start_tls``,
``close``. ``start_tls`` first drops any plaintext already received and not yet read, so
nothing a client pipelined after STARTTLS/STLS can be executed inside the TLS session
(RFC 3207 section 4.2, RFC 2595 section 3.1).

Latency: on TCP the socket gets TCP_NODELAY. A client that writes a command in two segments
(imaplib sends an APPEND literal, then its CRLF) while Nagle holds the second one back waits
for the server's ACK of the first, which Linux delays by ~40 ms. So when a read has to wait
and input arrived since the last write (nothing answered it, so no reply carried its ACK),
TCP_QUICKACK is turned on: the kernel sends the pending ACK at once. Input that gets a reply
needs nothing: the reply carries the ACK (forcing one there cost a packet per command). The
raw socket is the transport's "socket" extra (still reachable under TLS); setsockopt errors
are ignored.

Idle timeouts: ``read(idle_seconds)`` moves a deadline; one deadline per connection, kept
in the loop's DeadlineQueue (net/deadlines.py: one loop timer for all connections), checks
it (asyncio.wait_for would schedule and cancel a timer, with its callbacks, on every read).

Parking (issue 15: memory per idle connection): ``park(session, idle_seconds)`` lets a
session wait for input with no task or coroutine at all; the next event (input, end of
stream, ``interrupt()``, ``expire_grace()``, the deadline) calls ``resume_parked``, which
runs ``session.resume()`` in a new task (the listener owns it), and ``read_parked`` then
gives what ``read`` would have given or raised.

Pace (issue 12, defect 4: slowloris): a trickled byte resets the idle timer, so ``read`` also
takes a deadline that bytes do not move. ``line_seconds``: an unfinished line must be
complete (its LF received) within that many seconds of its first byte; the connection notes
where lines start as bytes arrive, whatever the session has read. ``min_rate``: bulk input
(SMTP DATA/BDAT, an IMAP literal) must bring ``MinRate.per_window`` bytes in every window.
Either raises TooSlow (a TimeoutError) and sets ``slow_reason``; the listener logs it and
counts the connection against its address for a while after it is closed. A deadline is
only checked while the read waits for input: a server slow to read cannot blame the client.
The TLS handshake of STARTTLS/STLS has ``handshake_seconds`` (the listener sets it).

Clients that leave (issue 12, defect 1): ``unless_closed(awaitable)`` runs a long step of
a session (a login waiting for its password hash) and cancels it when the peer closes or
resets the connection meanwhile, so no work is done for a client that will never read the
answer. It needs no read: the protocol buffers whatever arrives, so bytes a client pipelined
behind the command stay for the next ``read``; only end of stream counts. A peer that only
half-closes is gone too: the transport closes on end of stream, nothing it was sent after
would reach it.

Compression (RFC 4978 COMPRESS=DEFLATE): ``start_compression()`` makes both directions raw
DEFLATE from the next byte, over TLS if TLS is on. Output is compressed as it is written and
flushed with Z_SYNC_FLUSH once per batch (the writes of one loop turn, and at ``close``),
so a client never waits on bytes held in the compressor: the flush is a callback of the
loop, so it runs as soon as the session waits for anything (``drain`` need not flush).
Input is inflated at most ``_HIGH_WATER`` bytes ahead of what the session has read; the
compressed rest waits with reading paused, so a small "bomb" never expands in memory.
The pace and the limits of the line and literal readers see the inflated bytes. A corrupt
stream ends the connection like an end of stream (``compression_error`` says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import socket
import ssl
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar, cast

from posthouse.net.deadlines import DeadlineEntry, DeadlineQueue, for_loop
from posthouse.net.limits import MinRate

T = TypeVar("T")


class Resumable(Protocol):
    """A session that can wait parked on its connection (``Connection.park``)."""

    def resume(self) -> Coroutine[Any, Any, None]:
        """Go on after the wait (the first call should be ``Connection.read_parked``)."""


_RESUMED: set[asyncio.Task[None]] = set()  # resumed tasks not owned by a listener

_HIGH_WATER = 256 * 1024
_COALESCE = 64 * 1024  # small writes are joined up to this many bytes per send
_QUICKACK: int = getattr(socket, "TCP_QUICKACK", 0)  # Linux only; 0: not available
_TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def _now() -> float:
    """The running loop's time (a bound ``loop.time`` per connection would cost 64 bytes
    each); the monotonic clock outside a loop (a test double)."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


def tcp_socket(transport: asyncio.BaseTransport) -> Any | None:
    """The transport's TCP socket (a socket or uvloop's pseudo-socket), None otherwise."""
    sock = transport.get_extra_info("socket")
    if sock is None or getattr(sock, "family", None) not in _TCP_FAMILIES:
        return None
    return sock


def _fd_setter(option: int) -> Callable[[int], None] | None:
    """A function turning ``option`` on for a socket given by its descriptor, through libc.

    Setting an option through uvloop's socket object builds a Python socket object per
    call; libc's setsockopt on the descriptor costs a fraction of that.
    None where libc cannot be loaded (the socket object is used then)."""
    try:
        call = ctypes.CDLL(None, use_errno=True).setsockopt
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint]
    call.restype = ctypes.c_int
    one = ctypes.c_int(1)
    size = ctypes.sizeof(one)

    def turn_on(fd: int) -> None:
        call(fd, socket.IPPROTO_TCP, option, ctypes.byref(one), size)  # errors ignored

    return turn_on


_FORCE_ACK = _fd_setter(_QUICKACK) if _QUICKACK else None
_NODELAY = _fd_setter(socket.TCP_NODELAY)


def set_option(sock: Any, option: int) -> None:
    """Turn on a TCP-level socket option, ignoring a socket that refuses it."""
    try:  # noqa: SIM105 (contextlib.suppress costs more, and this runs after every read)
        sock.setsockopt(socket.IPPROTO_TCP, option, 1)
    except OSError:
        pass


def _descriptor(sock: Any) -> int | None:
    """The socket's descriptor, or None for an object that has none (a test double)."""
    try:
        fd = sock.fileno()
    except (AttributeError, OSError):
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


class ConnectionClosed(Exception):
    """The peer closed the connection or it was reset."""


class TooSlow(TimeoutError):
    """The client was too slow (a command line past its deadline, bulk input below the
    minimum rate, a TLS handshake not done in time); ``reason`` says which, for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ReadInterrupted(Exception):
    """``interrupt()`` woke a read made with ``interruptible=True``: the session has
    something else to look at (the server began to shut down, say)."""


class GraceExpired(Exception):
    """The server's shutdown grace ended while this connection was still in use: the
    session says goodbye in its protocol and ends (the listener cancels it soon after)."""


class Connection(asyncio.Protocol):
    """One client connection; created by the listener, driven by one adapter task.

    Slotted (issue 15: memory per idle connection): an instance dict of these ~35
    attributes cost more than the rest of the object."""

    __slots__ = (
        "_buffer",
        "_deadline",
        "_deadline_entry",
        "_deadlines",
        "_deflater",
        "_drain_waiters",
        "_eof",
        "_flush_due",
        "_gone_waiters",
        "_grace_expired",
        "_inflater",
        "_interrupted",
        "_line_started",
        "_out",
        "_out_due",
        "_park_line",
        "_park_until",
        "_parked",
        "_paused",
        "_quickack_fd",
        "_quickack_sock",
        "_received",
        "_transport",
        "_unanswered",
        "_waiter",
        "_window_base",
        "_window_start",
        "_write_paused",
        "_zin",
        "compression_error",
        "handshake_seconds",
        "peer",
        "slow_reason",
        "tls_cipher",
        "tls_version",
    )

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        # received, not yet read: the bytes as they came while one chunk waits (no copy,
        # no bytearray on an idle connection), a bytearray once a second one joins it
        self._buffer: bytes | bytearray = b""
        self._eof = False
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        # made when first needed (an empty list is 56 bytes on every idle connection)
        self._drain_waiters: list[asyncio.Future[None]] | None = None
        self._gone_waiters: list[asyncio.Future[None]] | None = None  # unless_closed
        self._write_paused = False
        self._quickack_sock: Any | None = None  # the TCP socket to force ACKs on
        self._quickack_fd = -1  # its descriptor, when libc can set the option directly
        self._unanswered = False  # input arrived since the last write (its ACK is pending)
        self._deadline = 0.0  # loop time at which the waiting read times out
        self._deadline_entry: DeadlineEntry | None = None  # its place in the loop's DeadlineQueue
        self._deadlines: DeadlineQueue | None = None
        self._parked: Resumable | None = None  # the session waiting without a task (park)
        self._park_until = 0.0  # its idle deadline (loop time)
        self._park_line: float | None = None  # its line_seconds
        self._grace_expired = False
        self._received = 0  # bytes received in all
        self._line_started: float | None = None  # first byte of the unfinished line
        self._window_start: float | None = None  # the current min_rate window
        self._window_base = 0  # _received when that window started
        self.handshake_seconds = 30.0  # STARTTLS/STLS handshake deadline (the listener's)
        self.slow_reason: str | None = None  # why TooSlow ended the connection
        self.peer: tuple[str, int] = ("", 0)
        self.tls_version: str | None = None
        self.tls_cipher: str | None = None
        self._inflater: Any | None = None  # zlib decompress object once compression is on
        self._deflater: Any | None = None
        self._zin: bytes | bytearray = b""  # compressed input not yet inflated
        self._flush_due = False  # compressed output waits for its sync flush
        # small writes of this loop turn, sent as one (_send_out); None between batches
        self._out: bytearray | None = None
        self._out_due = False
        self.compression_error: str | None = None
        self._interrupted = False  # interrupt() was called, no interruptible read saw it

    # asyncio.Protocol callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("", 0)
        self.peer = (str(peer[0]), int(peer[1]))
        self._note_tls(transport)
        self._tune_socket(transport)

    def data_received(self, data: bytes) -> None:
        self._unanswered = True
        if self._inflater is not None:
            self._zin += data
            self._inflate()
            return
        self._take(data)

    def _take(self, data: bytes) -> None:
        """Plain input into the buffer, with the pace bookkeeping."""
        if not data:
            return
        if not self._buffer:
            self._buffer = data if type(data) is bytes else bytes(data)
        elif isinstance(self._buffer, bytearray):
            self._buffer += data
        else:
            self._buffer = bytearray(self._buffer) + data
        self._received += len(data)
        end = data.rfind(b"\n")
        if end == len(data) - 1:
            self._line_started = None
        elif end >= 0 or self._line_started is None:
            self._line_started = _now()
        if len(self._buffer) > _HIGH_WATER and self._transport and not self._paused:
            self._transport.pause_reading()
            self._paused = True
        self._wake()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._wake()
        self._wake_gone()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._wake()
        self._wake_gone()
        self._stop_idle_timer()
        self._release_drain()

    def _release_drain(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, None
        for w in waiters or ():
            if not w.done():
                w.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._release_drain()

    # adapter API
    @property
    def is_tls(self) -> bool:
        """Whether the stream is encrypted now."""
        return self.tls_version is not None

    async def read(self, idle_seconds: float | None = None, *, line_seconds: float | None = None,
                   min_rate: MinRate | None = None, interruptible: bool = False) -> bytes:
        """Whatever bytes have arrived (at least one), or b"" at end of stream.

        Raises TimeoutError after ``idle_seconds`` without input, TooSlow when, while it
        waits, an unfinished line is older than ``line_seconds`` or bulk input fell below
        ``min_rate`` (see the module docstring), and GraceExpired once ``expire_grace`` was
        called (even with input waiting: a client still streaming would otherwise never be
        stopped).

        ``interruptible``: with no input waiting, ReadInterrupted once ``interrupt()`` was
        called (before or during the read); the session need not race the read against
        another future (a task and its timer per read, on every idle connection).
        """
        if self._grace_expired:
            raise GraceExpired
        if min_rate is None:
            self._window_start = None
        idle_deadline: float | None = None
        while not self._buffer and not self._eof:
            if interruptible and self._interrupted:
                self._interrupted = False
                raise ReadInterrupted
            if self._unanswered:
                self._ack_now()
            loop = asyncio.get_running_loop()
            now = loop.time()
            if idle_seconds is not None and idle_deadline is None:
                idle_deadline = now + idle_seconds
            wake = self._pace_deadline(now, line_seconds, min_rate)
            if wake is None or (idle_deadline is not None and idle_deadline < wake):
                wake = idle_deadline
            self._waiter = loop.create_future()
            if wake is None:
                self._stop_idle_timer()
            else:
                self._arm_idle_timer(loop, wake)
            try:
                await self._waiter
            except TimeoutError:
                if idle_deadline is not None and loop.time() >= idle_deadline:
                    raise
                continue  # a pace deadline: checked again at the top of the loop
            finally:
                self._waiter = None
            if self._grace_expired:
                raise GraceExpired
        return self._take_buffered(min_rate)

    def _take_buffered(self, min_rate: MinRate | None) -> bytes:
        """The buffered input (b"" at end of stream), with the bookkeeping of a read."""
        data = bytes(self._buffer)  # (bytes: the same object)
        self._buffer = b""
        if min_rate is not None:
            self._line_started = None  # the bulk ended no line: the next one starts afresh
        if self._zin:
            self._inflate()  # the next part of what waited, up to the high-water mark
        if self._paused and not self._zin and self._transport is not None:
            self._transport.resume_reading()
            self._paused = False
        return data

    def _pace_deadline(self, now: float, line_seconds: float | None,
                       min_rate: MinRate | None) -> float | None:
        """When the pace check is due next (None: no pace asked); TooSlow if it failed."""
        if min_rate is not None:
            if self._window_start is None or now >= self._window_start + min_rate.window_seconds:
                if (self._window_start is not None
                        and self._received - self._window_base < min_rate.per_window):
                    raise self._too_slow(
                        f"input below {min_rate.bytes_per_second} bytes/s over "
                        f"{min_rate.window_seconds:g} s")
                self._window_start, self._window_base = now, self._received
            return self._window_start + min_rate.window_seconds
        if line_seconds is not None and self._line_started is not None:
            due = self._line_started + line_seconds
            if now >= due:
                raise self._too_slow(f"command line not complete within {line_seconds:g} s")
            return due
        return None

    def _too_slow(self, reason: str) -> TooSlow:
        self.slow_reason = reason
        return TooSlow(reason)

    async def unless_closed(self, awaitable: Awaitable[T]) -> T:
        """The result of ``awaitable``, or ConnectionClosed as soon as the peer closes or
        resets the connection: the awaitable is then cancelled (and waited for). Input that
        arrives meanwhile stays buffered for the next ``read``."""
        task = asyncio.ensure_future(awaitable)
        if self._eof:  # already gone: the work must not start
            task.cancel()
            await asyncio.wait({task})
            self._retrieve(task)
            raise ConnectionClosed
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._gone_waiters is None:
            self._gone_waiters = []
        self._gone_waiters.append(gone)
        try:
            both: set[asyncio.Future[Any]] = {task, gone}
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            if self._gone_waiters is not None:
                with contextlib.suppress(ValueError):
                    self._gone_waiters.remove(gone)
                if not self._gone_waiters:
                    self._gone_waiters = None
            gone.cancel()
        if task.done():
            return task.result()
        task.cancel()
        await asyncio.wait({task})
        self._retrieve(task)
        raise ConnectionClosed

    @staticmethod
    def _retrieve(task: asyncio.Future[Any]) -> None:
        """Mark a finished task's outcome as seen (the caller does not want it)."""
        if not task.cancelled():
            task.exception()

    def _wake_gone(self) -> None:
        for gone in self._gone_waiters or ():
            if not gone.done():
                gone.set_result(None)

    def write(self, data: bytes) -> None:
        """Queue bytes for sending (ignored once the connection is gone).

        Small writes made in one turn of the event loop go out as one send (a FETCH of
        many messages is thousands of responses): they wait in ``_out`` until the writer
        next yields to the loop, awaits ``drain()``, or has queued ``_COALESCE`` bytes."""
        self._unanswered = False  # the reply carries the ACK
        if self._transport is None or self._transport.is_closing():
            return
        if self._deflater is not None:
            out = self._deflater.compress(data)
            if out:
                self._transport.write(out)
            if not self._flush_due:
                self._flush_due = True
                asyncio.get_running_loop().call_soon(self._flush)
            return
        if len(data) >= _COALESCE:  # a big payload goes out as it is, not copied
            self._send_out()
            self._transport.write(data)
            return
        out = self._out
        if out is None:
            out = self._out = bytearray(data)
        else:
            out += data
        if len(out) >= _COALESCE:
            self._send_out()
        elif not self._out_due:
            self._out_due = True
            asyncio.get_running_loop().call_soon(self._send_out)

    def _send_out(self) -> None:
        """Hand the coalesced small writes to the transport."""
        self._out_due = False
        out, self._out = self._out, None
        if not out:
            return
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(bytes(out))

    def _flush(self) -> None:
        """End the batch: what was compressed goes out whole (Z_SYNC_FLUSH)."""
        if not self._flush_due or self._deflater is None:
            return
        self._flush_due = False
        out = self._deflater.flush(zlib.Z_SYNC_FLUSH)
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(out)

    @property
    def is_compressed(self) -> bool:
        """Whether COMPRESS=DEFLATE is on."""
        return self._deflater is not None

    def start_compression(self) -> None:
        """Raw DEFLATE both ways from the next byte (RFC 4978 3); once per connection.

        Bytes received and not yet read were sent after the client saw the tagged OK, so
        they are compressed already."""
        if self._deflater is not None:
            raise RuntimeError("compression is already on")
        self._send_out()  # the reply that announced compression goes out uncompressed
        self._deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        self._inflater = zlib.decompressobj(-15)
        self._zin += self._buffer
        self._buffer = b""
        self._inflate()

    def _inflate(self) -> None:
        """Inflate pending input up to the high-water mark; pause reading beyond it."""
        inflater = self._inflater
        assert inflater is not None
        while self._zin and len(self._buffer) < _HIGH_WATER:
            try:
                out = inflater.decompress(bytes(self._zin), _HIGH_WATER - len(self._buffer))
            except zlib.error as exc:
                self._corrupt(f"corrupt compressed input: {exc}")
                return
            self._zin = bytearray(inflater.unconsumed_tail)
            if inflater.eof:  # a final block: nothing may follow in an IMAP stream
                self._corrupt("compressed stream ended")
                return
            self._take(out)
            if not out:
                break
        if self._zin and self._transport is not None and not self._paused:
            self._transport.pause_reading()
            self._paused = True
        self._wake()

    def _corrupt(self, reason: str) -> None:
        """The compressed input cannot be read on: end of stream for the session."""
        self.compression_error = reason
        self._zin = b""
        self._eof = True
        self._wake()
        self._wake_gone()

    async def drain(self) -> None:
        """Wait until the send buffer is below the high-water mark (small writes still
        waiting to be joined count for at most ``_COALESCE`` bytes)."""
        if self._transport is None or self._transport.is_closing():
            raise ConnectionClosed
        if self._write_paused:
            fut = asyncio.get_running_loop().create_future()
            if self._drain_waiters is None:
                self._drain_waiters = []
            self._drain_waiters.append(fut)
            await fut
            if self._transport.is_closing():
                raise ConnectionClosed

    async def start_tls(self, context: ssl.SSLContext,
                        handshake_seconds: float | None = None) -> None:
        """Upgrade to TLS as the server, discarding unread plaintext first.

        ``loop.start_tls`` is awaited directly (not through ``wait_for``, which would start
        it one loop turn later): everything up to its first suspension, including
        ``pause_reading`` and the protocol swap, then runs right after the buffer is cleared,
        so no byte can slip in between.
        """
        if self._deflater is not None:
            raise RuntimeError("TLS cannot start under compression")
        self._send_out()  # the reply that announced TLS goes out in the clear
        self._buffer = b""
        self._line_started = None
        loop = asyncio.get_running_loop()
        assert self._transport is not None
        seconds = self.handshake_seconds if handshake_seconds is None else handshake_seconds
        started = loop.time()
        try:
            new = await loop.start_tls(self._transport, self, context, server_side=True,
                                       ssl_handshake_timeout=seconds)
        except (ConnectionAbortedError, TimeoutError) as exc:
            if loop.time() - started < seconds:
                raise
            raise self._too_slow(f"TLS handshake not complete within {seconds:g} s") from exc
        if new is None:
            raise ConnectionClosed
        self._transport = new
        self._note_tls(new)

    def close(self) -> None:
        """Close after flushing what was written."""
        self._send_out()
        self._flush()
        self._stop_idle_timer()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def interrupt(self) -> None:
        """Wake the waiting read: an interruptible one raises ReadInterrupted (if none
        waits, the next interruptible read without input does); others wait on."""
        self._interrupted = True
        self._wake()

    def expire_grace(self) -> None:
        """Shutdown: the waiting read, and every later one, raises GraceExpired."""
        self._grace_expired = True
        self._wake()

    def abort(self) -> None:
        """Drop the connection at once."""
        self._stop_idle_timer()
        if self._transport is not None:
            self._transport.abort()

    # The idle timeout: one deadline per connection in the loop's DeadlineQueue (one loop
    # timer for all connections), not one timer per read. A read only moves the deadline;
    # when the queue calls back early, the connection waits again until the deadline.

    def _arm_idle_timer(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Make the waiting read (or the parked session) time out at ``deadline``."""
        self._deadline = deadline
        entry = self._deadline_entry
        if entry is not None and entry.when <= deadline:
            return  # it comes first and then waits for the rest
        queue = self._deadlines
        if queue is None:
            queue = self._deadlines = for_loop(loop)
        queue.at(deadline, self)

    def deadline_passed(self) -> None:
        """The DeadlineQueue's call: time out the waiting read or resume the parked
        session (it finds out why), or wait on for a later deadline."""
        waiter = self._waiter
        parked = self._parked
        if (waiter is None or waiter.done()) and parked is None:
            return  # nothing waits: the next read arms the deadline again
        if _now() < self._deadline:
            assert self._deadlines is not None
            self._deadlines.at(self._deadline, self)
        elif waiter is not None and not waiter.done():
            waiter.set_exception(TimeoutError())
        else:
            self._unpark()

    def _stop_idle_timer(self) -> None:
        if self._deadline_entry is not None and self._deadlines is not None:
            self._deadlines.cancel(self)

    # Parking (issue 15): a session with nothing to do until input arrives need not keep a
    # task and its chain of coroutine frames. ``park`` records it; input, end of stream,
    # ``interrupt()``, ``expire_grace()`` or its deadline then calls ``resume_parked``,
    # which starts a task for ``session.resume()`` (the listener's override); the session
    # calls ``read_parked`` first to learn what ended the wait.

    @property
    def parked(self) -> bool:
        """Whether a session waits parked on this connection."""
        return self._parked is not None

    def park(self, session: Resumable, idle_seconds: float, *,
             line_seconds: float | None = None) -> bool:
        """Wait for input with no task: ``session.resume()`` runs (in a new task) once
        something happens, see ``read_parked``. The session's coroutine must return right
        after a True answer, without awaiting anything. False: input, end of stream, an
        interrupt or the grace's end is already there, nothing was parked (read it).

        The wait is interruptible (``interrupt()`` resumes it) and has the pace of
        ``read``'s ``line_seconds`` (an unfinished line the session holds already)."""
        if self._parked is not None or self._waiter is not None:
            raise RuntimeError("a read or a parked session waits already")
        if self._buffer or self._eof or self._interrupted or self._grace_expired:
            return False
        self._window_start = None
        if self._unanswered:
            self._ack_now()
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._park_until = wake = now + idle_seconds
        self._park_line = line_seconds
        if line_seconds is not None and self._line_started is not None:
            wake = min(wake, self._line_started + line_seconds)
        self._arm_idle_timer(loop, wake)
        self._parked = session
        return True

    def read_parked(self) -> bytes | None:
        """What ended a park (the resumed session calls it first): the input as ``read``
        gives it (b"" at end of stream); GraceExpired, ReadInterrupted, TooSlow or
        TimeoutError as ``read`` raises them; None when nothing did yet (park again)."""
        if self._grace_expired:
            raise GraceExpired
        if self._buffer or self._eof:
            return self._take_buffered(None)
        if self._interrupted:
            self._interrupted = False
            raise ReadInterrupted
        now = _now()
        line = self._park_line
        started = self._line_started
        if line is not None and started is not None and now >= started + line:
            raise self._too_slow(f"command line not complete within {line:g} s")
        if now >= self._park_until:
            raise TimeoutError
        return None

    def cancel_park(self) -> None:
        """Forget a parked session, unresumed (the listener does when the session failed,
        or at the end of shutdown)."""
        if self._parked is not None:
            self._parked = None
            self._stop_idle_timer()

    def _unpark(self) -> None:
        session = self._parked
        if session is None:
            return
        self._parked = None
        self._stop_idle_timer()
        self.resume_parked(session)

    def resume_parked(self, session: Resumable) -> None:
        """Run ``session.resume()`` in a new task (a listener overrides this to own it)."""
        task = asyncio.get_running_loop().create_task(session.resume())
        _RESUMED.add(task)
        task.add_done_callback(_RESUMED.discard)

    def _tune_socket(self, transport: asyncio.BaseTransport) -> None:
        """TCP_NODELAY once, and remember the socket for TCP_QUICKACK (Linux, TCP only)."""
        sock = tcp_socket(transport)
        if sock is None:
            return
        fd = _descriptor(sock)
        if fd is not None and _NODELAY is not None:
            _NODELAY(fd)
        else:
            set_option(sock, socket.TCP_NODELAY)
        if not _QUICKACK:
            return
        if fd is not None and _FORCE_ACK is not None:
            self._quickack_fd = fd
        else:  # the socket object only when libc cannot take the descriptor
            self._quickack_sock = sock

    def _ack_now(self) -> None:
        """Send the ACK of unanswered input now, not after the kernel's delay."""
        self._unanswered = False
        if self._transport is None or self._transport.is_closing():
            return  # the descriptor may be gone
        if self._quickack_fd >= 0 and _FORCE_ACK is not None:
            _FORCE_ACK(self._quickack_fd)
        elif self._quickack_sock is not None:
            set_option(self._quickack_sock, _QUICKACK)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        elif self._parked is not None:
            self._unpark()

    def _note_tls(self, transport: asyncio.BaseTransport) -> None:
        obj = transport.get_extra_info("ssl_object")
        if obj is not None:  # interned: one copy of each name for all connections
            version = obj.version()
            self.tls_version = sys.intern(version) if version is not None else None
            cipher = obj.cipher()
            self.tls_cipher = sys.intern(cipher[0]) if cipher else None
