"""IMAP IO adapter (143 with STARTTLS, 993 implicit TLS): one ``ImapSession`` per connection.

The session drives the sans-IO core and the engine: connection core (imap/connection.py)
-> parser -> state gate (imap/states.py) -> handler (imap/handlers) -> updates -> wire:

1. read bytes into the ImapConnection; a literal is accepted (``+ Ready`` if synchronizing)
   or refused with ``[TOOBIG]`` before the client sends it (APPEND up to max_message_size,
   other commands ImapConfig.max_literal, less before login);
2. parse the command (ParseError -> tagged BAD/NO), check it against the state table;
3. run its handler; before the handler's tagged response the store events are applied to the
   selected mailbox's view and the allowed updates are sent;
4. move the state with ``imap.states.next_state`` from the tagged response: the session's
   ``state`` is the one source of truth for the gate (handlers set the data that goes with
   it: the logged-in user, the selected mailbox);
5. after LOGOUT, an autologout (RFC 9051 5.4), server shutdown (between commands) or too
   many bad commands in a row, ``* BYE`` and close.

A handler's unexpected exception is answered ``NO [SERVERBUG]`` and logged; the session
goes on. The session implements the handlers' SessionPort: SASL lines, STARTTLS (the
core's buffered plaintext is dropped, RFC 9051 6.2.1), COMPRESS (the same, RFC 4978 3) and
IDLE (after ``+ idling`` the session itself waits for DONE and sends the updates).

Idle sessions park (issue 15): see ``ImapSession``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

from posthouse.imap import commands as c
from posthouse.imap import uidonly
from posthouse.imap.capabilities import capability_code
from posthouse.imap.config import ImapConfig
from posthouse.imap.connection import ImapConnection
from posthouse.imap.events import BadInput, IdleDone, NeedLiteral, RawCommand
from posthouse.imap.handlers import HANDLERS, CommandHandler, HandlerContext
from posthouse.imap.handlers.notify import session_updates
from posthouse.imap.parser import parse_command
from posthouse.imap.replies import ImapError, ParseError, ResponseCode, error_response, server_bug
from posthouse.imap.responses import (
    Atom,
    Bye,
    Continuation,
    Response,
    Status,
    Tagged,
    UntaggedStatus,
    response_chunks,
)
from posthouse.imap.states import ImapState, allowed, may_expunge, next_state
from posthouse.log import new_session_id, session_id
from posthouse.net.connection import (
    Connection,
    ConnectionClosed,
    ReadInterrupted,
    Resumable,
    TooSlow,
)
from posthouse.net.limits import MinRate
from posthouse.net.listeners import Handler, SessionContext
from posthouse.net.peers import plaintext_login_allowed
from posthouse.net.tls import TlsContextFactory
from posthouse.sasl.events import AuthResponse
from posthouse.services import Services
from posthouse.wire.events import NEED_DATA

log = logging.getLogger("posthouse.imap")

T = TypeVar("T")

# Commands that may wait for a password hash: dropped when the client leaves meanwhile.
_LOGIN_COMMANDS = (c.LoginCommand, c.AuthenticateCommand)

class ClientGone(Exception):
    """The client closed the connection."""


class SessionEnd(Exception):
    """End the session with ``* BYE``."""

    def __init__(self, bye: Bye) -> None:
        super().__init__(bye.text)
        self.bye = bye


class ConnectionStream:
    """The session's view of a net Connection: end of stream and failed writes become
    ClientGone, a failed handshake too."""

    __slots__ = ("_conn", "_tls")

    def __init__(self, conn: Connection, tls: TlsContextFactory) -> None:
        self._conn = conn
        self._tls = tls

    async def read(self, idle_seconds: float | None, *, line_seconds: float | None = None,
                   min_rate: MinRate | None = None, interruptible: bool = False) -> bytes:
        """Some bytes, b"" at end of stream; TooSlow past the pace, TimeoutError after
        idle_seconds, ReadInterrupted after interrupt() (net/connection.py)."""
        return await self._conn.read(idle_seconds, line_seconds=line_seconds,
                                     min_rate=min_rate, interruptible=interruptible)

    def park(self, session: Resumable, idle_seconds: float, line_seconds: float) -> bool:
        """Wait with no task (Connection.park): False if input or an interrupt is there."""
        return self._conn.park(session, idle_seconds, line_seconds=line_seconds)

    def read_parked(self) -> bytes | None:
        """What ended the park (Connection.read_parked)."""
        return self._conn.read_parked()

    @property
    def peer(self) -> tuple[str, int]:
        """The client's (ip, port)."""
        return self._conn.peer

    @property
    def is_tls(self) -> bool:
        """Whether TLS is active."""
        return self._conn.is_tls

    @property
    def tls_version(self) -> str | None:
        """The negotiated TLS version, if any."""
        return self._conn.tls_version

    def interrupt(self) -> None:
        """Wake an interruptible read or resume the parked session (Connection.interrupt)."""
        self._conn.interrupt()

    def __call__(self) -> None:
        """``interrupt()``: the stream itself is IDLE's Subscription.on_event (a bound
        method would be 64 bytes more on every connection in IDLE)."""
        self._conn.interrupt()

    def write(self, data: bytes) -> None:
        """Queue bytes."""
        self._conn.write(data)

    async def unless_closed(self, awaitable: Awaitable[T]) -> T:
        """The awaitable's result; cancelled and ClientGone if the client leaves meanwhile."""
        try:
            return await self._conn.unless_closed(awaitable)
        except ConnectionClosed:
            raise ClientGone("while logging in") from None

    async def drain(self) -> None:
        """Flow control; ClientGone when the connection is gone."""
        try:
            await self._conn.drain()
        except ConnectionClosed:
            raise ClientGone from None

    @property
    def is_compressed(self) -> bool:
        """Whether COMPRESS=DEFLATE is on."""
        return self._conn.is_compressed

    @property
    def compression_error(self) -> str | None:
        """Why the compressed input could not be read, if it could not."""
        return self._conn.compression_error

    def start_compression(self) -> None:
        """DEFLATE both ways from the next byte."""
        self._conn.start_compression()

    async def start_tls(self) -> None:
        """The server-side handshake with the current certificate; a failed handshake
        (ssl.SSLError is an OSError) ends the session like a disconnect."""
        try:
            await self._conn.start_tls(self._tls.context)
        except (ConnectionClosed, OSError) as exc:
            raise ClientGone(f"TLS handshake failed: {exc!r}") from None

    def close(self) -> None:
        """Close after flushing."""
        self._conn.close()


class ImapSession:
    """One IMAP conversation; ``await run()`` until the client leaves or the session parks.

    Parked (issue 15: memory per idle connection): between commands and in IDLE, with
    nothing to read, the session holds no task and no coroutine: it parks on its
    connection (``Connection.park``) and returns; input, end of stream, an interrupt
    (server shutdown, a store event in IDLE) or its deadline (autologout, IDLE's time
    limit, a command line's pace) start a new task for ``resume()``. All state is in the
    session's fields, none in frames."""

    __slots__ = (
        "_bad", "_idle_tag", "_idle_until", "_logout", "_mid_command", "_min_rate",
        "_shutting_down", "_wait_until", "config", "core", "ctx", "services", "sid", "state",
        "stream",
    )

    def __init__(
        self, services: Services, stream: ConnectionStream, config: ImapConfig, *,
        shutting_down: asyncio.Event, min_rate: MinRate | None = None,
    ) -> None:
        self.sid = new_session_id("i")
        self.services = services
        self.stream = stream
        self.config = config
        self.state = ImapState.NOT_AUTHENTICATED
        # set at server shutdown; the listener then interrupts every connection's wait
        self._shutting_down = shutting_down
        self.core = ImapConnection(
            max_line=config.max_line, max_literal=max(config.max_message_size, config.max_literal))
        self.ctx = HandlerContext(services, self, config)
        self._bad = 0
        self._logout = False
        self._idle_tag: str | None = None  # IDLE in progress (RFC 2177): its tag
        self._idle_until = 0.0  # and its time limit (loop time)
        # NOTIFY between commands: the autologout, which notifications do not move
        self._wait_until: float | None = None
        self._mid_command = False  # a literal was accepted: shutdown waits for the command
        self._min_rate = min_rate or MinRate(config.min_bytes_per_second,
                                             config.rate_window_seconds)

    # -- SessionPort -------------------------------------------------------------------

    @property
    def is_tls(self) -> bool:
        """Whether the connection is encrypted."""
        return self.stream.is_tls

    @property
    def secure(self) -> bool:
        """Passwords may be sent: TLS, or loopback when the configuration allows it."""
        return plaintext_login_allowed(tls_active=self.stream.is_tls, peer_ip=self.remote_ip,
                                       loopback_ok=self.config.allow_plaintext_on_loopback)

    @property
    def remote_ip(self) -> str:
        """The client's address."""
        return self.stream.peer[0]

    async def read_auth_line(self) -> AuthResponse:
        """The next line, as a SASL response (raw); ImapError if it was too long to keep."""
        self.core.expect_auth_line()
        while True:
            event = self.core.next_event()
            if isinstance(event, AuthResponse):
                return event
            if isinstance(event, BadInput):  # the core skips the rest of the line
                raise ImapError(event.text, status=event.status)
            self.core.receive_data(await self._read(self._idle_seconds()))

    async def start_tls(self) -> None:
        """Drop what the core buffered, then the handshake (RFC 9051 6.2.1)."""
        self.core.discard_buffered()
        await self.stream.start_tls()
        log.info("tls version=%s", self.stream.tls_version)

    @property
    def is_compressed(self) -> bool:
        """Whether COMPRESS=DEFLATE is on."""
        return self.stream.is_compressed

    def start_compression(self) -> None:
        """Pipelined plaintext the core holds is dropped: the client had to wait for the
        OK (RFC 4978 3); what follows it is DEFLATE."""
        self.core.discard_buffered()
        self.stream.start_compression()

    def idle(self, tag: str) -> None:
        """The IDLE handler sent ``+ idling``: the session waits for DONE from now on,
        sending the store's updates as they come (``_idle_turn``), and ends the command."""
        self.core.expect_idle_done()
        self._idle_until = asyncio.get_running_loop().time() + self.config.idle_command_seconds
        self._idle_tag = tag

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Greet, then serve until the session ends or parks; never raises for ordinary
        disconnects."""
        log.info("connect peer=%s:%d tls=%s", *self.stream.peer, self.stream.tls_version)
        self._write(UntaggedStatus(Status.OK, "posthouse ready",
                                   capability_code(self.ctx.capabilities())))
        await self._serve(resumed=False)

    async def resume(self) -> None:
        """Go on after a park (a new task: the log context is set again)."""
        session_id.set(self.sid)
        await self._serve(resumed=True)

    async def _serve(self, *, resumed: bool) -> None:
        """Serve commands until the session parks, or ends with BYE and is cleaned up."""
        parked = False
        try:
            if resumed:
                self._take_parked()
            parked = await self._loop()
        except SessionEnd as end:
            log.info("bye: %s", end.bye.text)
            self._write(end.bye)
            with contextlib.suppress(ClientGone, OSError, TimeoutError):
                await asyncio.wait_for(self.stream.drain(), self.config.bye_drain_seconds)
        except ClientGone as exc:
            log.info("client gone %s", exc)
        finally:
            if not parked:
                await self._end()

    async def _end(self) -> None:
        if self.ctx.events is not None:
            self.ctx.events.on_event = None
            self.ctx.events.close()
        self.stream.close()
        log.info("disconnect user=%s", self.ctx.user.address if self.ctx.user else "-")
        self.ctx.select(None)  # last: what the store held for this session's view is freed
        with contextlib.suppress(Exception):
            await self.ctx.close_views()

    async def _loop(self) -> bool:
        """Commands until LOGOUT (False) or until the session parks (True)."""
        while not self._logout:
            if self._idle_tag is not None:
                if await self._idle_turn(self._idle_tag):
                    return True
                continue
            event = self.core.next_event()
            if event is NEED_DATA:
                if self._shutting_down.is_set() and not self._mid_command:
                    raise SessionEnd(Bye("Server shutting down",
                                         ResponseCode.UNAVAILABLE.code()))
                if self._notifying():
                    if await self._notify_turn():
                        return True
                elif self._mid_command or self.core.reading_literal:
                    self.core.receive_data(await self._read(self._idle_seconds()))
                elif self.stream.park(self, self._idle_seconds(),
                                      self.config.command_line_seconds):
                    return True
                else:
                    self._take_parked()  # what is there already
            else:
                self._wait_until = None
                if self.ctx.events is not None:  # a command: NOTIFY's wait is over
                    self.ctx.events.on_event = None
                if isinstance(event, NeedLiteral):
                    self._literal(event)
                elif isinstance(event, BadInput):
                    self._mid_command = False
                    self._write(event.response())
                    self._count_bad(event.status)
                elif isinstance(event, RawCommand):
                    self._mid_command = False
                    await self._command(event)
                    await self.stream.drain()
        return False

    def _take_parked(self) -> None:
        """Feed the core what ended the park (or the wait that needed none): input, or
        BYE for the autologout, a line too slow or server shutdown; an interrupt that was
        a store event in IDLE, or stale, leaves the next turn to find out."""
        try:
            data = self.stream.read_parked()
        except TooSlow:
            raise SessionEnd(Bye("Too slow, closing connection")) from None
        except TimeoutError:
            raise self._end_for_wait() from None
        except ReadInterrupted:
            if self._shutting_down.is_set():
                raise self._end_for_wait() from None
            return
        if data is None:
            return
        if not data:
            raise ClientGone(self.stream.compression_error or "")
        self._wait_until = None
        self.core.receive_data(data)

    async def _notify_turn(self) -> bool:
        """Between commands under NOTIFY (RFC 5465 3: the client listens all the time):
        the notifications of waiting store events go out now; True when the session
        parked to wait for input or the next event. Notifications do not move the
        autologout."""
        events = self.ctx.events
        assert events is not None
        loop = asyncio.get_running_loop()
        if self._wait_until is None:
            self._wait_until = loop.time() + self._idle_seconds()
        if events.pending:
            for update in await session_updates(self.ctx, allow_expunge=False,
                                                between_commands=True):
                self._write(update)
            await self.stream.drain()
            return False
        left = self._wait_until - loop.time()
        if left <= 0:
            raise self._end_for_wait()
        events.on_event = self.stream  # a store event resumes the session (interrupt)
        if self.stream.park(self, left, self.config.command_line_seconds):
            return True
        self._take_parked()
        return False

    async def _idle_turn(self, tag: str) -> bool:
        """One turn of IDLE (RFC 2177, RFC 9051 6.3.13): DONE ends the command; a store
        event's updates go out at once (EXPUNGE included: IDLE is a command in progress);
        True when the session parked to wait for the next of these."""
        loop = asyncio.get_running_loop()
        event = self.core.next_event()
        if isinstance(event, IdleDone):
            self._idle_tag = None
            if self.ctx.events is not None:
                self.ctx.events.on_event = None
            cmd = c.IdleCommand()
            status = Status.OK if event.ok else Status.BAD
            await self._send_updates(cmd)
            self._write(Tagged(tag, status, "IDLE terminated" if event.ok else "Expected DONE"))
            started = self._idle_until - self.config.idle_command_seconds
            self.services.metrics.imap_command(cmd.NAME, loop.time() - started)
            log.debug("%s %s", cmd.NAME, status.value)
            self._move(cmd, status)
            self._count_bad(status)
            await self.stream.drain()
            return False
        if self._shutting_down.is_set():
            raise self._end_for_wait()
        events = self.ctx.events
        pending = events.take() if events is not None else None
        if pending is not None:
            self.ctx.apply_event(pending)
            for update in await session_updates(self.ctx, allow_expunge=True):
                self._write(update)
            await self.stream.drain()
            return False
        left = self._idle_until - loop.time()
        if left <= 0:
            raise self._end_for_wait()
        if events is not None:
            events.on_event = self.stream  # a store event resumes the session (interrupt)
        if self.stream.park(self, left, self.config.command_line_seconds):
            return True
        self._take_parked()
        return False

    def _idle_seconds(self) -> float:
        if self.state is ImapState.NOT_AUTHENTICATED:
            return self.config.preauth_idle_seconds
        return self.config.idle_seconds

    def _literal(self, need: NeedLiteral) -> None:
        """Accept a literal or refuse it before the client sends it (RFC 7888, RFC 7889)."""
        if self.state is ImapState.NOT_AUTHENTICATED:
            limit = self.config.max_preauth_literal
        elif need.name == "APPEND":
            limit = self.config.max_message_size
        else:
            limit = self.config.max_literal
        code = ResponseCode.TOOBIG.code()
        if need.name == "SETMETADATA" and self.state is not ImapState.NOT_AUTHENTICATED:
            limit = self.config.metadata_max_entry_bytes  # RFC 5464 4.3
            code = ResponseCode.METADATA.code(Atom("MAXSIZE"), limit)
        if need.size > limit:
            self.core.reject_literal()
            status = Status.BAD if need.nonsync else Status.NO
            self._write(Tagged(need.tag, status, "Literal too big", code))
            self._count_bad(status)
            return
        self.core.accept_literal()
        self._mid_command = True
        if not need.nonsync:
            self._write(Continuation("Ready"))

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
        handler = HANDLERS.get(type(cmd))
        if not allowed(cmd, self.state):
            self._write(Tagged(raw.tag, Status.BAD, f"{cmd.NAME} not allowed now"))
            self._count_bad(Status.BAD)
        elif self.ctx.uidonly and (refused := uidonly.refusal(cmd)) is not None:
            self._write(refused.response(raw.tag))  # RFC 9586 3: BAD [UIDREQUIRED]
            self._count_bad(Status.BAD)
        elif handler is None:
            self._write(Tagged(raw.tag, Status.NO, f"{cmd.NAME} is not implemented"))
        else:
            run = self._run(raw.tag, cmd, handler)
            started = time.perf_counter()
            # A login waiting for its hash is dropped if the client hangs up (issue 12).
            tagged = await (self.stream.unless_closed(run) if isinstance(cmd, _LOGIN_COMMANDS)
                            else run)
            if tagged is None:  # IDLE goes on in the session (_idle_turn)
                return
            self.services.metrics.imap_command(cmd.NAME, time.perf_counter() - started)
            log.debug("%s %s", cmd.NAME, tagged.status.value)
            self._move(cmd, tagged.status)
            self._count_bad(tagged.status)
            self._logout = self.state is ImapState.LOGOUT

    def _move(self, cmd: c.ImapCommand, status: Status) -> None:
        """The state after the tagged response (imap/states.py); the handler has set the
        data that goes with it (the user at login, the selected mailbox). A BAD response
        means the command was not accepted, so it leaves the state as it was."""
        if status is Status.BAD:
            return
        self.state = next_state(cmd, self.state, ok=status is Status.OK)
        has_user = self.ctx.user is not None
        has_mailbox = self.ctx.selected is not None
        if self.state is not ImapState.LOGOUT and (
                has_user != (self.state is not ImapState.NOT_AUTHENTICATED)
                or has_mailbox != (self.state is ImapState.SELECTED)):
            log.error("state %s does not match the handler's data after %s", self.state.name,
                      cmd.NAME)

    async def _run(self, tag: str, cmd: c.ImapCommand,
                   handler: CommandHandler) -> Tagged | None:
        """Drive one handler; the updates go out just before its tagged response. None:
        the handler began IDLE (``idle``), whose tagged response comes at DONE."""
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
        if tagged is None and self._idle_tag is not None:
            return None
        if tagged is None:
            log.error("%s handler gave no tagged response", cmd.NAME)
            tagged = server_bug(tag)
            self._write(tagged)
        return tagged

    async def _send_updates(self, cmd: c.ImapCommand) -> None:
        if isinstance(cmd, c.LogoutCommand):  # RFC 9051 6.1.3: nothing more but BYE and OK
            return
        for update in await session_updates(self.ctx, allow_expunge=may_expunge(cmd)):
            self._write(update)

    def _count_bad(self, status: Status) -> None:
        """Reset on a good command; BYE after MAX_BAD_IN_A_ROW bad ones."""
        if status is not Status.BAD:
            self._bad = 0
            return
        self._bad += 1
        if self._bad >= self.config.max_bad_in_a_row:
            raise SessionEnd(Bye("Too many invalid commands", ResponseCode.CLIENTBUG.code()))

    def _write(self, response: Response) -> None:
        for chunk in response_chunks(response, utf8=self.ctx.utf8):
            self.stream.write(chunk)

    # -- waiting -------------------------------------------------------------------------

    async def _read(self, seconds: float) -> bytes:
        """Input within the autologout time while a command is under way (a literal, a
        SASL line: the session does not park then); server shutdown interrupts it between
        commands (ListenerGroup)."""
        while True:
            try:
                if self.core.reading_literal:
                    data = await self.stream.read(seconds, min_rate=self._min_rate)
                else:
                    data = await self.stream.read(
                        seconds, line_seconds=self.config.command_line_seconds,
                        interruptible=not self._mid_command)
                break
            except TooSlow:
                raise SessionEnd(Bye("Too slow, closing connection")) from None
            except TimeoutError:
                raise self._end_for_wait() from None
            except ReadInterrupted:
                if self._shutting_down.is_set():
                    raise self._end_for_wait() from None
                # else a stale interrupt (a store event in IDLE that came with input)
        if not data:
            raise ClientGone(self.stream.compression_error or "")
        return data

    def _end_for_wait(self) -> SessionEnd:
        if self._shutting_down.is_set() and not self._mid_command:
            return SessionEnd(Bye("Server shutting down", ResponseCode.UNAVAILABLE.code()))
        return SessionEnd(Bye("Autologout: idle for too long"))

    def _notifying(self) -> bool:
        """NOTIFY is set and no command is under way: notifications may go out now
        (RFC 5465 3: the client listens all the time). A partly received command line or
        a literal being read hold them back until its tagged response."""
        return (self.ctx.notify is not None and self.ctx.events is not None
                and not self._mid_command and not self.core.buffered)


def imap_config(services: Services) -> ImapConfig:
    """The IMAP engine's settings, from the server configuration."""
    cfg = services.config
    limits = cfg.limits
    return ImapConfig(
        max_message_size=limits.max_message_size,
        idle_seconds=float(limits.imap_idle_seconds),
        preauth_idle_seconds=float(min(limits.preauth_idle_seconds, limits.imap_idle_seconds)),
        command_line_seconds=float(limits.command_line_seconds),
        min_bytes_per_second=limits.data_min_bytes_per_second,
        rate_window_seconds=float(limits.data_rate_window_seconds),
        idle_command_seconds=float(limits.imap_idle_command_seconds),
        allow_plaintext_on_loopback=cfg.auth.allow_plaintext_on_loopback,
        metadata_max_entry_bytes=limits.metadata_max_entry_bytes,
        metadata_max_entries=limits.metadata_max_entries_per_user,
        notify_backlog=limits.imap_notify_backlog,
        metadata_admin=f"mailto:postmaster@{cfg.server.default_domain}",
    )


def make_handler(services: Services) -> Handler:
    """The listener handler for the imap and imaps listeners."""
    config = imap_config(services)
    # idle sessions are parked or in an interruptible read: ListenerGroup interrupts them
    # all when shutdown begins
    min_rate = MinRate(config.min_bytes_per_second, config.rate_window_seconds)  # shared

    async def handle(conn: Connection, ctx: SessionContext) -> None:
        await ImapSession(services, ConnectionStream(conn, ctx.tls), config,
                          shutting_down=ctx.shutting_down, min_rate=min_rate).run()

    return handle
