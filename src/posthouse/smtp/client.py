"""The sans-IO SMTP client connection (outbound delivery, smarthost).

Each command method returns the bytes to write and records that one reply is owed; replies
come back from ``next_event`` in order, paired with the command they answer. Several commands
may be outstanding only if the server advertised PIPELINING and the earlier ones may start a
group (RFC 2920 3.1: MAIL, RCPT, RSET, BDAT and the message content); everything else waits
for its reply. Example::

    conn = SmtpClientConnection()
    conn.receive_data(read())            # -> ServerReply("GREETING", 220 ...)
    write(conn.ehlo("me.example"))       # -> conn.capabilities
    write(conn.mail(sender, size=len(msg)) + conn.rcpt(rcpt) + conn.data())
    ...                                  # three ServerReply, the last one 354
    write(conn.message(msg))             # dot-stuffed, ends with CRLF.CRLF
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from posthouse.smtp.grammar import Address
from posthouse.smtp.params import Orcpt, xtext_encode
from posthouse.smtp.replies import Reply
from posthouse.smtp.reply_reader import (
    DEFAULT_MAX_LINE,
    DEFAULT_MAX_LINES,
    Capabilities,
    ReplyReader,
)
from posthouse.wire import LocalProtocolError, RemoteProtocolError
from posthouse.wire.events import NEED_DATA, Closed, NeedData
from posthouse.wire.transparency import dot_stuff, normalize_newlines

MAX_COMMAND = 1000  # octets including CRLF (RFC 5321 4.5.3.1.4, extended by parameters)
# After these the next command may follow without waiting (RFC 2920 3.1, RFC 3030 4.2).
_GROUP_CONTINUES = frozenset({"MAIL", "RCPT", "RSET", "BDAT", "MESSAGE"})


@dataclass(frozen=True)
class ServerReply:
    """A reply and the command it answers ("GREETING", "EHLO", "MAIL", "RCPT", "DATA",
    "MESSAGE" for the end of data, "BDAT", "AUTH", ...). ``argument`` is the address for
    MAIL/RCPT. An unsolicited 421 comes as command "NONE"."""

    command: str
    reply: Reply
    argument: str | None = None


class SmtpClientConnection:
    """One SMTP client connection, as a state machine over bytes."""

    def __init__(self, *, max_line: int = DEFAULT_MAX_LINE,
                 max_lines: int = DEFAULT_MAX_LINES) -> None:
        self._reader = ReplyReader(max_line=max_line, max_lines=max_lines)
        self._owed: deque[tuple[str, str | None]] = deque([("GREETING", None)])
        self.capabilities: Capabilities | None = None
        self._data_ready = False  # a 354 was received: the content must follow
        self._auth_ready = False  # a 334 was received: a SASL response must follow
        self._tls_pending = False  # a 220 to STARTTLS was received
        self._closed = False
        self._eof = False
        self._tx_smtputf8 = False
        self._tx_body: str | None = None

    @property
    def owed(self) -> tuple[str, ...]:
        """Commands still waiting for their reply, oldest first."""
        return tuple(verb for verb, _ in self._owed)

    @property
    def closed(self) -> bool:
        """True after QUIT was answered, a 421, or EOF."""
        return self._closed

    # -- Input -------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add received bytes; ``b""`` means the server closed the connection."""
        if not data:
            self._eof = True
        elif not self._closed:
            self._reader.feed(data)

    def next_event(self) -> ServerReply | NeedData | Closed:
        """The next reply paired with its command, NEED_DATA, or Closed.

        Raises RemoteProtocolError for malformed or unsolicited replies, and for bytes that
        follow a 220 to STARTTLS before the handshake (RFC 3207 4.2 response injection).
        """
        if self._closed:
            return Closed()
        reply = self._reader.next_reply()
        if reply is None:
            if self._eof:
                self._closed = True
                return Closed()
            return NEED_DATA
        if not self._owed:
            if reply.code != 421:
                raise RemoteProtocolError(f"unsolicited reply {reply.code}")
            self._closed = True
            return ServerReply("NONE", reply)
        verb, argument = self._owed.popleft()
        self._on_reply(verb, reply)
        return ServerReply(verb, reply, argument)

    def _on_reply(self, verb: str, reply: Reply) -> None:
        if reply.code == 421 or verb == "QUIT":
            self._closed = True
        elif verb == "EHLO" and reply.is_success:
            self.capabilities = Capabilities.from_ehlo(reply)
        elif verb == "HELO" and reply.is_success:
            self.capabilities = Capabilities()
        elif verb == "DATA":
            self._data_ready = reply.code == 354
        elif verb == "AUTH":
            self._auth_ready = reply.code == 334
        elif verb == "STARTTLS" and reply.code == 220:
            if self._reader.buffered:
                raise RemoteProtocolError("data after the 220 reply to STARTTLS")
            self._tls_pending = True

    def start_tls(self) -> None:
        """After the 220 to STARTTLS: forget the server's capabilities (RFC 3207 4.2)."""
        if not self._tls_pending:
            raise LocalProtocolError("start_tls() is only valid after a 220 to STARTTLS")
        self._tls_pending = False
        self._reader.discard()
        self.capabilities = None

    # -- Output ------------------------------------------------------------------------------

    def _send(self, verb: str, line: str, argument: str | None = None) -> bytes:
        self._may_send(verb)
        return self._emit(verb, line, argument)

    def _emit(self, verb: str, line: str, argument: str | None = None) -> bytes:
        if any(ord(c) < 32 or ord(c) == 127 for c in line):
            raise LocalProtocolError("control character in a command")
        raw = line.encode("utf-8") + b"\r\n"
        if len(raw) > MAX_COMMAND:
            raise LocalProtocolError("command line too long")
        self._owed.append((verb, argument))
        return raw

    def _may_send(self, verb: str) -> None:
        if self._closed or self._tls_pending:
            raise LocalProtocolError("connection closed" if self._closed else "call start_tls()")
        if self._data_ready != (verb == "MESSAGE"):
            raise LocalProtocolError("the message content must follow a 354, and only then")
        if self._auth_ready != (verb == "AUTH-RESPONSE"):
            raise LocalProtocolError("a SASL response must follow a 334, and only then")
        if not self._owed:
            return
        caps = self.capabilities
        if caps is None or "PIPELINING" not in caps or self._owed[-1][0] not in _GROUP_CONTINUES:
            raise LocalProtocolError(f"{verb} must wait for the reply to {self._owed[-1][0]}")

    def _need(self, keyword: str) -> None:
        if self.capabilities is None or keyword not in self.capabilities:
            raise LocalProtocolError(f"the server did not advertise {keyword}")

    def ehlo(self, name: str) -> bytes:
        """EHLO name."""
        return self._send("EHLO", f"EHLO {_word(name)}")

    def helo(self, name: str) -> bytes:
        """HELO name (for servers that refuse EHLO)."""
        return self._send("HELO", f"HELO {_word(name)}")

    def starttls(self) -> bytes:
        """STARTTLS (RFC 3207)."""
        self._need("STARTTLS")
        return self._send("STARTTLS", "STARTTLS")

    def auth(self, mechanism: str, initial_response: bytes | None = None) -> bytes:
        """AUTH mechanism [initial-response] (RFC 4954 4; b"" is sent as "=")."""
        self._need("AUTH")
        line = f"AUTH {_word(mechanism).upper()}"
        if initial_response is not None:
            line += " " + (base64.b64encode(initial_response).decode("ascii") or "=")
        return self._send("AUTH", line)

    def auth_response(self, data: bytes) -> bytes:
        """The base64 answer to a 334 challenge."""
        return self._send_auth(base64.b64encode(data).decode("ascii"))

    def auth_cancel(self) -> bytes:
        """"*": abandon the SASL exchange."""
        return self._send_auth("*")

    def _send_auth(self, line: str) -> bytes:
        self._may_send("AUTH-RESPONSE")
        self._auth_ready = False
        return self._emit("AUTH", line)  # answered like the AUTH command itself

    def mail(self, sender: Address | None, *, size: int | None = None, body: str | None = None,
             smtputf8: bool = False, ret: str | None = None, envid: str | None = None,
             auth: str | None = None, requiretls: bool = False) -> bytes:
        """MAIL FROM:<sender> with parameters; each needs its extension advertised."""
        path = "" if sender is None else sender.text
        if sender is not None and not sender.is_ascii and not smtputf8:
            raise LocalProtocolError("a non-ASCII sender needs SMTPUTF8")
        params = _mail_params(size=size, body=body, smtputf8=smtputf8, ret=ret, envid=envid,
                              auth=auth, requiretls=requiretls)
        for keyword, _ in params:
            self._need(keyword)
        line = f"MAIL FROM:<{path}>" + "".join(f" {p}" for _, p in params)
        out = self._send("MAIL", line, path)
        self._tx_smtputf8, self._tx_body = smtputf8, (body or "").upper() or None
        return out

    def rcpt(self, recipient: Address, *, notify: Sequence[str] = (),
             orcpt: Orcpt | None = None) -> bytes:
        """RCPT TO:<recipient> with DSN parameters (RFC 3461 4.1, 4.2)."""
        if not recipient.is_ascii and not self._tx_smtputf8:
            raise LocalProtocolError("a non-ASCII recipient needs SMTPUTF8 on MAIL")
        line = f"RCPT TO:<{recipient.text}>"
        if notify or orcpt:
            self._need("DSN")
        if notify:
            line += " NOTIFY=" + ",".join(_word(n).upper() for n in notify)
        if orcpt:
            line += f" ORCPT={_word(orcpt.addr_type)};{xtext_encode(orcpt.address)}"
        return self._send("RCPT", line, recipient.text)

    def data(self) -> bytes:
        """DATA; after its 354 send ``message``."""
        if self._tx_body == "BINARYMIME":
            raise LocalProtocolError("BODY=BINARYMIME needs BDAT (RFC 3030 3)")
        return self._send("DATA", "DATA")

    def message(self, content: bytes) -> bytes:
        """The message after the 354, dot-stuffed, with the end marker; one reply is owed."""
        self._may_send("MESSAGE")
        self._data_ready = False
        self._owed.append(("MESSAGE", None))
        self._tx_smtputf8, self._tx_body = False, None
        # Bare CR and bare LF become CRLF first, so we never send what a receiver could read
        # as a different end of data (SMTP smuggling).
        return dot_stuff(normalize_newlines(content))

    def bdat(self, chunk: bytes, *, last: bool = False) -> bytes:
        """BDAT size [LAST] followed by the raw chunk (RFC 3030)."""
        self._need("CHUNKING")
        head = self._send("BDAT", f"BDAT {len(chunk)}" + (" LAST" if last else ""))
        if last:
            self._tx_smtputf8, self._tx_body = False, None
        return head + chunk

    def rset(self) -> bytes:
        """RSET."""
        self._tx_smtputf8, self._tx_body = False, None
        return self._send("RSET", "RSET")

    def noop(self) -> bytes:
        """NOOP."""
        return self._send("NOOP", "NOOP")

    def quit(self) -> bytes:
        """QUIT."""
        return self._send("QUIT", "QUIT")


def _word(text: str) -> str:
    """A command argument: printable ASCII, no spaces."""
    if not text or not text.isascii() or not text.isprintable() or " " in text:
        raise LocalProtocolError(f"bad command argument {text!r}")
    return text


def _mail_params(*, size: int | None, body: str | None, smtputf8: bool, ret: str | None,
                 envid: str | None, auth: str | None, requiretls: bool = False,
                 ) -> list[tuple[str, str]]:
    """(needed EHLO keyword, rendered parameter) for each MAIL parameter given."""
    out: list[tuple[str, str]] = []
    if size is not None:
        if size < 0:
            raise LocalProtocolError("negative SIZE")
        out.append(("SIZE", f"SIZE={size}"))
    if body is not None:
        kind = _word(body).upper()
        out.append(("BINARYMIME" if kind == "BINARYMIME" else "8BITMIME", f"BODY={kind}"))
    if smtputf8:
        out.append(("SMTPUTF8", "SMTPUTF8"))
    if ret is not None:
        out.append(("DSN", f"RET={_word(ret).upper()}"))
    if envid is not None:
        out.append(("DSN", f"ENVID={xtext_encode(envid)}"))
    if auth is not None:
        out.append(("AUTH", f"AUTH={xtext_encode(auth)}"))
    if requiretls:  # RFC 8689 4.1
        out.append(("REQUIRETLS", "REQUIRETLS"))
    return out
