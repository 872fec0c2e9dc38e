"""The async IMAP session loop: reader -> parser -> state gate -> handler -> updates -> wire.

One ``ImapSession`` per connection, over a ``Stream`` (serve/imap.py adapts a net
Connection to it; this module never sees a socket). The loop:

1. read bytes into the ImapConnection; a literal is accepted (``+ Ready`` if synchronizing)
   or refused with ``[TOOBIG]`` before the client sends it (APPEND up to
   limits.max_message_size, other commands 64 KiB, 8 KiB before login);
2. parse the command (ParseError -> tagged BAD/NO), check it against the state table;
3. run its handler (handlers/__init__.py); before the handler's tagged response the store
   events are applied to the selected mailbox's view and the allowed updates are sent;
4. after LOGOUT, an autologout (RFC 9051 5.4), server shutdown (between commands) or too
   many bad commands in a row, ``* BYE`` and close.

A handler's unexpected exception is answered ``NO [SERVERBUG]`` and logged; the session
goes on. The session implements the handlers' SessionPort: SASL lines, STARTTLS (the
reader's buffered plaintext is dropped, RFC 9051 6.2.1) and IDLE's wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from typing import TYPE_CHECKING, Any, Protocol

from posthouse.imap import commands as c
from posthouse.imap.capabilities import capability_code
from posthouse.imap.connection import ImapConnection
from posthouse.imap.events import AuthLine, IdleDone, NeedLiteral, RawCommand, ReaderError
from posthouse.imap.handlers import HANDLERS, Handler, HandlerContext
from posthouse.imap.parser import parse_command
from posthouse.imap.replies import ParseError, ResponseCode, error_response, server_bug
from posthouse.imap.responses import (
    Bye,
    Continuation,
    Response,
    Status,
    Tagged,
    UntaggedStatus,
    response_chunks,
)
from posthouse.imap.states import ImapState, allowed, may_expunge
from posthouse.log import new_session_id
from posthouse.wire.events import NEED_DATA

if TYPE_CHECKING:
    from posthouse.services import Services

log = logging.getLogger("posthouse.imap")

MAX_LINE = 64 * 1024  # RFC 7162 4: at least 8192 octets per command line
MAX_LITERAL = 64 * 1024  # literals of commands other than APPEND
MAX_PREAUTH_LITERAL = 8 * 1024
PREAUTH_IDLE_SECONDS = 300.0
MAX_BAD_IN_A_ROW = 10
BYE_DRAIN_SECONDS = 5.0


class Stream(Protocol):
    """The byte stream a session runs on (serve/imap.py wraps a net Connection)."""

    @property
    def peer(self) -> tuple[str, int]: ...

    @property
    def is_tls(self) -> bool: ...

    @property
    def tls_version(self) -> str | None: ...

    async def read(self, idle_seconds: float | None = None) -> bytes:
        """Some bytes, b"" at end of stream."""

    def write(self, data: bytes) -> None:
        """Queue bytes for sending."""

    async def drain(self) -> None:
        """Wait for the send buffer to empty enough; ClientGone if the peer is gone."""

    async def start_tls(self) -> None:
        """Server-side TLS handshake, dropping unread plaintext first."""

    def close(self) -> None:
        """Close after flushing."""


class ClientGone(Exception):
    """The client closed the connection."""


class SessionEnd(Exception):
    """End the session with ``* BYE``."""

    def __init__(self, bye: Bye) -> None:
        super().__init__(bye.text)
        self.bye = bye


def _is_loopback(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


class ImapSession:
    """One IMAP conversation; ``await run()`` until the client leaves."""

    def __init__(
        self, services: Services, stream: Stream, *, shutting_down: asyncio.Event,
        handlers: dict[type[c.ImapCommand], Handler] | None = None,
    ) -> None:
        self.sid = new_session_id("i")
        self.services = services
        self.stream = stream
        self.handlers = HANDLERS if handlers is None else handlers
        self._shutting_down = shutting_down
        self._limits = services.config.limits
        self.reader = ImapConnection(
            max_line=MAX_LINE, max_literal=max(self._limits.max_message_size, MAX_LITERAL))
        self.ctx = HandlerContext(services, self)
        self._bad = 0
        self._logout = False
        self._idle_deadline: float | None = None
        self._mid_command = False  # a literal was accepted: shutdown waits for the command

    # -- SessionPort -------------------------------------------------------------------

    @property
    def is_tls(self) -> bool:
        """Whether the connection is encrypted."""
        return self.stream.is_tls

    @property
    def secure(self) -> bool:
        """Passwords may be sent: TLS, or loopback when the configuration allows it."""
        if self.stream.is_tls:
            return True
        return (self.services.config.auth.allow_plaintext_on_loopback
                and _is_loopback(self.remote_ip))

    @property
    def remote_ip(self) -> str:
        """The client's address."""
        return self.stream.peer[0]

    async def read_auth_line(self) -> AuthLine:
        """The next line, as a SASL response."""
        self.reader.expect_auth_line()
        while True:
            event = self.reader.next()
            if isinstance(event, AuthLine):
                return event
            self.reader.feed(await self._read(self._idle_seconds()))

    async def start_tls(self) -> None:
        """Drop what the reader buffered, then the handshake (RFC 9051 6.2.1)."""
        self.reader.discard_buffered()
        await self.stream.start_tls()
        log.info("tls version=%s", self.stream.tls_version)

    async def idle_wait(self) -> IdleDone | None:
        """IdleDone when the client ended IDLE, None after a store event was applied."""
        loop = asyncio.get_running_loop()
        if self._idle_deadline is None:
            self.reader.expect_idle_done()
            self._idle_deadline = loop.time() + self._limits.imap_idle_command_seconds
        while True:
            event = self.reader.next()
            if isinstance(event, IdleDone):
                self._idle_deadline = None
                return event
            if await self._wait_input_or_event(self._idle_deadline - loop.time()):
                return None

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Greet, serve commands, say BYE; never raises for ordinary disconnects."""
        log.info("connect peer=%s:%d tls=%s", *self.stream.peer, self.stream.tls_version)
        self._shutdown_waiter = asyncio.ensure_future(self._shutting_down.wait())
        try:
            self._write(UntaggedStatus(Status.OK, "posthouse ready",
                                       capability_code(self.ctx.capabilities())))
            await self._loop()
        except SessionEnd as end:
            log.info("bye: %s", end.bye.text)
            self._write(end.bye)
            with contextlib.suppress(ClientGone, OSError, TimeoutError):
                await asyncio.wait_for(self.stream.drain(), BYE_DRAIN_SECONDS)
        except ClientGone as exc:
            log.info("client gone %s", exc)
        finally:
            self._shutdown_waiter.cancel()
            if self.ctx.events is not None:
                self.ctx.events.close()
            self.stream.close()
            log.info("disconnect user=%s", self.ctx.user.address if self.ctx.user else "-")

    async def _loop(self) -> None:
        while not self._logout:
            event = self.reader.next()
            if event is NEED_DATA:
                if self._shutting_down.is_set() and not self._mid_command:
                    raise SessionEnd(Bye("Server shutting down",
                                         ResponseCode.UNAVAILABLE.code()))
                self.reader.feed(await self._read(self._idle_seconds()))
            elif isinstance(event, NeedLiteral):
                self._literal(event)
            elif isinstance(event, ReaderError):
                self._mid_command = False
                self._write(event.response())
                self._count_bad(event.status)
            elif isinstance(event, RawCommand):
                self._mid_command = False
                await self._command(event)
                await self.stream.drain()

    def _idle_seconds(self) -> float:
        if self.ctx.user is None:
            return min(PREAUTH_IDLE_SECONDS, float(self._limits.imap_idle_seconds))
        return float(self._limits.imap_idle_seconds)

    def _literal(self, need: NeedLiteral) -> None:
        """Accept a literal or refuse it before the client sends it (RFC 7888, RFC 7889)."""
        if self.ctx.user is None:
            limit = MAX_PREAUTH_LITERAL
        elif need.name == "APPEND":
            limit = self._limits.max_message_size
        else:
            limit = MAX_LITERAL
        if need.size > limit:
            self.reader.reject_literal()
            status = Status.BAD if need.nonsync else Status.NO
            self._write(Tagged(need.tag, status, "Literal too big",
                               ResponseCode.TOOBIG.code()))
            self._count_bad(status)
            return
        self.reader.accept_literal()
        self._mid_command = True
        if not need.nonsync:
            self._write(Continuation("Ready"))

    def _state(self) -> ImapState:
        if self.ctx.user is None:
            return ImapState.NOT_AUTHENTICATED
        return ImapState.AUTHENTICATED if self.ctx.selected is None else ImapState.SELECTED

    async def _command(self, raw: RawCommand) -> None:
        try:
            cmd = parse_command(raw, utf8=self.ctx.utf8)
        except ParseError as exc:
            self._write(exc.response(raw.tag))
            self._count_bad(exc.status)
            return
        except Exception:
            log.exception("parser failed on %s", raw.name)
            self._write(server_bug(raw.tag))
            return
        handler = self.handlers.get(type(cmd))
        if not allowed(cmd, self._state()):
            self._write(Tagged(raw.tag, Status.BAD, f"{cmd.NAME} not allowed now"))
            self._count_bad(Status.BAD)
        elif handler is None:
            self._write(Tagged(raw.tag, Status.NO, f"{cmd.NAME} is not implemented"))
        else:
            tagged = await self._run(raw.tag, cmd, handler)
            log.debug("%s %s", cmd.NAME, tagged.status.value)
            self._count_bad(tagged.status)
            self._logout = isinstance(cmd, c.LogoutCommand)

    async def _run(self, tag: str, cmd: c.ImapCommand, handler: Handler) -> Tagged:
        """Drive one handler; the updates go out just before its tagged response."""
        tagged: Tagged | None = None
        try:
            async for response in handler(self.ctx, tag, cmd):
                if tagged is None and isinstance(response, Tagged) and response.tag == tag:
                    await self._send_updates(cmd)
                    tagged = response
                self._write(response)
                await self.stream.drain()
        except (SessionEnd, ClientGone, ConnectionError):
            raise
        except Exception as exc:
            if tagged is not None:
                log.exception("%s failed after its tagged response", cmd.NAME)
                raise SessionEnd(Bye("Internal server error",
                                     ResponseCode.SERVERBUG.code())) from None
            tagged = error_response(tag, exc)
            if tagged is None:
                log.exception("%s failed", cmd.NAME)
                tagged = server_bug(tag)
            await self._send_updates(cmd)
            self._write(tagged)
        if tagged is None:
            log.error("%s handler gave no tagged response", cmd.NAME)
            tagged = server_bug(tag)
            self._write(tagged)
        return tagged

    async def _send_updates(self, cmd: c.ImapCommand) -> None:
        for update in await self.ctx.updates(allow_expunge=may_expunge(cmd)):
            self._write(update)

    def _count_bad(self, status: Status) -> None:
        """Reset on a good command; BYE after MAX_BAD_IN_A_ROW bad ones."""
        if status is not Status.BAD:
            self._bad = 0
            return
        self._bad += 1
        if self._bad >= MAX_BAD_IN_A_ROW:
            raise SessionEnd(Bye("Too many invalid commands", ResponseCode.CLIENTBUG.code()))

    def _write(self, response: Response) -> None:
        for chunk in response_chunks(response, utf8=self.ctx.utf8):
            self.stream.write(chunk)

    # -- waiting -------------------------------------------------------------------------

    async def _read(self, seconds: float) -> bytes:
        """Input, racing the autologout timer and (between commands) server shutdown."""
        read = asyncio.ensure_future(self.stream.read(None))
        waiters: set[asyncio.Future[Any]] = {read}
        if not self._mid_command:
            waiters.add(self._shutdown_waiter)
        done, _ = await asyncio.wait(waiters, timeout=seconds,
                                     return_when=asyncio.FIRST_COMPLETED)
        if read not in done:
            read.cancel()
            raise self._end_for_wait()
        data = read.result()
        if not data:
            raise ClientGone
        return data

    def _end_for_wait(self) -> SessionEnd:
        if self._shutting_down.is_set() and not self._mid_command:
            return SessionEnd(Bye("Server shutting down", ResponseCode.UNAVAILABLE.code()))
        return SessionEnd(Bye("Autologout: idle for too long"))

    async def _wait_input_or_event(self, seconds: float) -> bool:
        """Wait in IDLE; True if a store event was applied, False if input was fed."""
        read = asyncio.ensure_future(self.stream.read(None))
        waiters: set[asyncio.Future[Any]] = {read, self._shutdown_waiter}
        events = self.ctx.events
        got = asyncio.ensure_future(events.get()) if events is not None else None
        if got is not None:
            waiters.add(got)
        done, _ = await asyncio.wait(waiters, timeout=max(seconds, 0.0),
                                     return_when=asyncio.FIRST_COMPLETED)
        for task in (read, got):
            if task is not None and task not in done:
                task.cancel()
        applied = got is not None and got in done
        if applied and got is not None and self.ctx.selected is not None:
            self.ctx.selected.view.apply(got.result())
        if read in done:
            data = read.result()
            if not data:
                raise ClientGone
            self.reader.feed(data)
        elif not applied:
            raise self._end_for_wait()
        return applied
