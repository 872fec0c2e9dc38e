"""The sans-IO POP3 server connection: bytes in, events out; answers in, bytes out.

Each line is parsed (parser.py) and gated (``states.refusal``: the state table, then the
session rules) before its handler runs, so a handler only does what a permitted command
does. The core answers on its own everything it can decide from the protocol state and the
maildrop list (CAPA, STAT, LIST, UIDL, DELE, RSET, NOOP, errors), and emits a Request for
everything that needs the store, the authenticator or the TLS layer (see ``events``). Every
reply it sends is named in replies.py; it counts the -ERR replies and ends the session at
``max_errors``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar

from posthouse import sasl
from posthouse.pop3 import replies
from posthouse.pop3.capabilities import capabilities
from posthouse.pop3.commands import BadCommand, Pop3Command, Verb
from posthouse.pop3.config import Pop3Config
from posthouse.pop3.events import (
    Commit,
    Pass,
    Pop3Event,
    Request,
    Retr,
    Stls,
    Top,
    UserAccepted,
    Utf8,
    Write,
)
from posthouse.pop3.maildrop import Maildrop
from posthouse.pop3.parser import parse_command
from posthouse.pop3.replies import Err, Ok, Pop3Reply, render, status_line, top_part
from posthouse.pop3.states import Pop3State, refusal
from posthouse.sasl.events import AuthResponse, AuthStart
from posthouse.wire import LineBuffer, LineTooLong, LocalProtocolError
from posthouse.wire.events import NEED_DATA, Closed, NeedData
from posthouse.wire.transparency import CRLF, dot_stuff

_LOGIN_REQUESTS = (Pass, AuthStart, AuthResponse)
_R = TypeVar("_R", bound=Request)


class Pop3Connection:
    """One POP3 server connection, from the greeting to QUIT, as a state machine over bytes
    (RFC 1939, 2449, 2595, 5034, 6856)."""

    def __init__(self, config: Pop3Config) -> None:
        self.config = config
        self.state = Pop3State.AUTHORIZATION
        self.tls_active = config.tls_active
        self.utf8 = False
        self._buffer = LineBuffer(config.max_sasl_line)
        self._queue: deque[Pop3Event | Closed] = deque()
        self._pending: Request | None = None
        self._user: str | None = None  # the name from USER, valid for the next command only
        self._previous_user: str | None = None  # that name, while the next command is handled
        self._in_sasl = False
        self._errors = 0
        self._maildrop: Maildrop | None = None

    # --- introspection -------------------------------------------------------------------

    @property
    def plaintext_ok(self) -> bool:
        """Whether passwords may be sent (TLS is active or plaintext is allowed)."""
        return self.tls_active or self.config.allow_plaintext

    @property
    def tls_available(self) -> bool:
        """Whether STLS can be offered (a certificate is configured)."""
        return self.config.tls_available

    @property
    def user_given(self) -> bool:
        """Whether the command being handled came right after an accepted USER."""
        return self._previous_user is not None

    @property
    def sasl_mechanisms(self) -> tuple[str, ...]:
        """The SASL mechanisms offered now; pass as ``allowed`` to ``sasl.start``."""
        return sasl.mechanisms(secure=self.plaintext_ok, scram=self.config.scram,
                               tls_available=self.config.tls_available)

    @property
    def maildrop(self) -> Maildrop | None:
        """The session's maildrop view once logged in."""
        return self._maildrop

    # --- input ---------------------------------------------------------------------------

    def greeting(self) -> bytes:
        """The first line the server sends (RFC 1939 4)."""
        return render(replies.greeting())

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the client (ignored once the session is closed)."""
        if self.state is not Pop3State.CLOSED:
            self._buffer.feed(data)

    def next_event(self) -> Pop3Event | Request | NeedData | Closed:
        """The next thing for the adapter to do; see ``events``."""
        if self._pending is not None:
            raise LocalProtocolError(f"answer {type(self._pending).__name__} first")
        if self._queue:
            return self._queue.popleft()
        if self.state is Pop3State.CLOSED:
            return Closed()
        try:
            line = self._buffer.next_line()
        except LineTooLong:
            self._in_sasl = False  # a SASL exchange ends with the overlong line
            self._user = None
            return self._error(replies.line_too_long())
        if line is None:
            return NEED_DATA
        if self._in_sasl:
            return self._request(AuthResponse(line))
        return self._dispatch(line)

    def _dispatch(self, line: bytes) -> Pop3Event | Request:
        # USER's name lasts one line: PASS only immediately after USER (RFC 1939 7)
        self._previous_user, self._user = self._user, None
        parsed = parse_command(line, max_command=self.config.max_command_line)
        if isinstance(parsed, BadCommand):
            return self._error(parsed.reply)
        refused = refusal(self, parsed)  # the state table, then the session rules
        if refused is not None:
            return self._error(refused)
        return _HANDLERS[parsed.verb](self, parsed)

    # --- command handlers ----------------------------------------------------------------

    def _capa(self, cmd: Pop3Command) -> Pop3Event:
        return self._write(capabilities(
            self.config, state=self.state, tls_active=self.tls_active,
            mechanisms=self.sasl_mechanisms,
        ))

    def _user_cmd(self, cmd: Pop3Command) -> Pop3Event:
        self._user = cmd.text
        self._queue.append(UserAccepted(cmd.text))
        return self._write(replies.send_pass())

    def _pass_cmd(self, cmd: Pop3Command) -> Pop3Event:
        assert self._previous_user is not None  # the gate refuses PASS without USER
        return self._request(Pass(user=self._previous_user, password=cmd.text))

    def _auth(self, cmd: Pop3Command) -> Pop3Event | Request:
        if not cmd.text:  # the old listing form some clients still probe with
            return self._write(replies.mechanism_list(self.sasl_mechanisms))
        self._in_sasl = True
        return self._request(AuthStart(mechanism=cmd.text, initial=cmd.initial))

    def _stls(self, cmd: Pop3Command) -> Pop3Event:
        return self._request(Stls())

    def _utf8(self, cmd: Pop3Command) -> Pop3Event:
        self.utf8 = True
        self._queue.append(Utf8())
        return self._write(replies.utf8_enabled())

    def _apop(self, cmd: Pop3Command) -> Pop3Event:
        return self._error(replies.apop_not_supported())

    def _quit(self, cmd: Pop3Command) -> Pop3Event:
        if self.state is Pop3State.AUTHORIZATION:  # RFC 1939 4: no UPDATE state
            self._close()
            return self._write(replies.bye())
        drop = self._drop()
        self.state = Pop3State.UPDATE  # RFC 1939 6
        return self._request(Commit(drop.deleted_uids(), drop.retrieved_uids()))

    def _stat(self, cmd: Pop3Command) -> Pop3Event:
        return self._write(self._drop().stat())

    def _list(self, cmd: Pop3Command) -> Pop3Event:
        return self._write(self._drop().list(cmd.number))

    def _uidl(self, cmd: Pop3Command) -> Pop3Event:
        return self._write(self._drop().uidl_reply(cmd.number))

    def _dele(self, cmd: Pop3Command) -> Pop3Event:
        assert cmd.number is not None
        return self._write(self._drop().dele(cmd.number))

    def _rset(self, cmd: Pop3Command) -> Pop3Event:
        return self._write(self._drop().rset())

    def _noop(self, cmd: Pop3Command) -> Pop3Event:
        return self._write(replies.ok())

    def _retrieve(self, cmd: Pop3Command) -> Pop3Event:
        assert cmd.number is not None
        found = self._drop().lookup(cmd.number)
        if isinstance(found, Err):
            return self._write(found)
        if cmd.verb is Verb.TOP:
            assert cmd.lines is not None
            return self._request(Top(number=found.number, uid=found.uid, lines=cmd.lines))
        return self._request(Retr(number=found.number, uid=found.uid))

    # --- answers from the adapter --------------------------------------------------------

    def send(self, reply: Pop3Reply) -> bytes:
        """Answer the pending request with a plain reply.

        Any request may be answered with -ERR (e.g. ``Err("...", RespCode.AUTH)`` after a
        failed login, ``RespCode.IN_USE`` for a locked maildrop, ``SYS_TEMP`` when the store
        failed). +OK is only for Commit; logins, messages and STLS have their own methods.
        """
        if isinstance(reply, Ok) and not isinstance(self._pending, Commit):
            raise LocalProtocolError("use login_succeeded, send_message or start_tls for +OK")
        pending = self._answer()
        if isinstance(pending, _LOGIN_REQUESTS):
            self._in_sasl = False
        elif isinstance(pending, Commit):
            self._close()
        return render(reply)

    def login_succeeded(self, maildrop: Sequence[tuple[int, int]], *, uidvalidity: int) -> bytes:
        """Answer a login request: the user is in, with this (uid, size) maildrop."""
        if not isinstance(self._pending, _LOGIN_REQUESTS):
            raise LocalProtocolError("no login in progress")
        drop = Maildrop(maildrop, uidvalidity=uidvalidity)
        self._answer()
        self._maildrop = drop
        self._in_sasl = False
        self.state = Pop3State.TRANSACTION
        return render(drop.summary())

    def auth_challenge(self, challenge: sasl.Challenge | bytes) -> bytes:
        """Answer AuthStart/AuthResponse with a SASL challenge ("+ base64", RFC 5034 4)."""
        self._answer(AuthStart, AuthResponse)
        if isinstance(challenge, sasl.Challenge):
            encoded = challenge.encoded()
        else:
            encoded = sasl.Challenge(challenge).encoded()
        return b"+ " + encoded + CRLF

    def start_tls(self) -> bytes:
        """Answer STLS with +OK and forget all buffered input (RFC 2595 4): write the reply,
        then run the TLS handshake; later bytes are read from the TLS layer."""
        self._answer(Stls)
        self._buffer.discard()
        self._queue.clear()
        self.tls_active = True
        self.utf8 = False
        self._user = None
        return render(replies.begin_tls())

    def send_message(self, data: bytes) -> bytes:
        """Answer Retr/Top with the message's stored bytes: status, dot-stuffed body, "."."""
        pending = self._answer(Retr, Top)
        if isinstance(pending, Top):
            return status_line(replies.top_follows()) + dot_stuff(
                top_part(data, pending.lines)
            )
        assert isinstance(pending, Retr)
        self._drop().retrieved.add(pending.number)
        return status_line(replies.message_follows(len(data))) + dot_stuff(data)

    # --- helpers -------------------------------------------------------------------------

    def _answer(self, *kinds: type[Request]) -> Request:
        """Take the pending request (one of ``kinds``, if given)."""
        pending = self._pending
        if pending is None or (kinds and not isinstance(pending, kinds)):
            wanted = "/".join(k.__name__ for k in kinds) or "request"
            raise LocalProtocolError(f"no {wanted} to answer")
        self._pending = None
        return pending

    def _drop(self) -> Maildrop:
        if self._maildrop is None:
            raise LocalProtocolError("no maildrop loaded")
        return self._maildrop

    def _request(self, request: _R) -> _R:
        self._pending = request
        return request

    def _write(self, reply: Pop3Reply) -> Write:
        return Write(render(reply))

    def _error(self, reply: Err) -> Write:
        """Send ``reply`` for a refused command; the one that reaches ``max_errors`` is
        answered with ``too_many_errors`` instead, and the session ends."""
        self._errors += 1
        if self._errors >= self.config.max_errors:
            self._close()
            return self._write(replies.too_many_errors())
        return self._write(reply)

    def _close(self) -> None:
        self.state = Pop3State.CLOSED
        self._buffer.discard()
        self._queue.append(Closed())


_Handler = Callable[[Pop3Connection, Pop3Command], Pop3Event | Request]
_HANDLERS: dict[Verb, _Handler] = {
    Verb.CAPA: Pop3Connection._capa,
    Verb.USER: Pop3Connection._user_cmd,
    Verb.PASS: Pop3Connection._pass_cmd,
    Verb.AUTH: Pop3Connection._auth,
    Verb.STLS: Pop3Connection._stls,
    Verb.UTF8: Pop3Connection._utf8,
    Verb.APOP: Pop3Connection._apop,
    Verb.QUIT: Pop3Connection._quit,
    Verb.STAT: Pop3Connection._stat,
    Verb.LIST: Pop3Connection._list,
    Verb.UIDL: Pop3Connection._uidl,
    Verb.DELE: Pop3Connection._dele,
    Verb.RSET: Pop3Connection._rset,
    Verb.NOOP: Pop3Connection._noop,
    Verb.RETR: Pop3Connection._retrieve,
    Verb.TOP: Pop3Connection._retrieve,
}
