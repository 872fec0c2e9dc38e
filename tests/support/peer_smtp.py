"""A scripted SMTP peer on 127.0.0.1 (own thread and loop) for outbound delivery tests.

Replies are scripted per command and consumed in order, then the default applies::

    peer.replies["MESSAGE"] = ["451 4.3.0 try later"] * 3     # end of data: 451 x3, then 250
    peer.rcpt_replies["bob@peer.test"] = "550 5.1.1 no such user"   # a str: every time

Commands are "GREETING", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "MESSAGE" (the
reply after the data), "RSET", "QUIT". The reply "CLOSE" drops the connection instead.
Every message (with its envelope and parameters) is recorded in ``messages``.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from posthouse.net.tls import generate_self_signed
from tests.support.loop_thread import LoopThread

DEFAULT_EXTENSIONS = ("PIPELINING", "SIZE 10240000", "8BITMIME", "SMTPUTF8", "DSN",
                      "ENHANCEDSTATUSCODES")
_DEFAULTS = {
    "EHLO": "", "MAIL": "250 2.1.0 sender ok", "RCPT": "250 2.1.5 recipient ok",
    "DATA": "354 go ahead", "MESSAGE": "250 2.0.0 queued", "RSET": "250 2.0.0 reset",
    "QUIT": "221 2.0.0 bye", "NOOP": "250 2.0.0 ok", "STARTTLS": "220 2.0.0 go ahead",
}



def self_signed(directory: Path, hostname: str) -> tuple[ssl.SSLContext, Path]:
    """A server context with a fresh self-signed certificate, and the certificate's path
    (a client trusts it with ``ssl.create_default_context(cafile=...)``)."""
    cert, key = directory / f"{hostname}.crt", directory / f"{hostname}.key"
    generate_self_signed(cert, key, hostname)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx, cert


@dataclass
class Received:
    """One transaction as the peer saw it."""

    mail_from: str
    mail_params: list[str]
    rcpts: list[str]
    rcpt_params: dict[str, list[str]]
    data: bytes
    reply: str
    tls: bool
    auth: str | None
    connection: int
    helo: str = ""  # the name the client gave in EHLO/HELO

    @property
    def accepted(self) -> bool:
        return self.reply.startswith("2")


@dataclass
class _Tx:
    mail_from: str | None = None
    mail_params: list[str] = field(default_factory=list)
    rcpts: list[str] = field(default_factory=list)
    rcpt_params: dict[str, list[str]] = field(default_factory=dict)


class _Drop(Exception):
    """The script says: close the connection now."""


class PeerSmtp(LoopThread):
    """A scripted SMTP server; ``start()`` binds a random port."""

    def __init__(self, *, hostname: str = "mx.peer.test",
                 extensions: tuple[str, ...] = DEFAULT_EXTENSIONS,
                 tls: ssl.SSLContext | None = None, implicit_tls: bool = False,
                 auth: tuple[str, str] | None = None, address: str = "127.0.0.1",
                 port: int = 0) -> None:
        super().__init__()
        self.address = address
        self.hostname = hostname
        self.extensions = extensions
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.auth = auth
        self.replies: dict[str, list[str]] = {}
        self.rcpt_replies: dict[str, list[str] | str] = {}
        self.messages: list[Received] = []
        self.commands: list[str] = []
        self.connections = 0
        self.open_now = 0  # connections open at this moment
        self.most_open = 0  # the most that were ever open at once
        self.delay = 0.0  # seconds to wait before answering the end of data
        self.port = port
        self._cond = threading.Condition()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def accepted(self) -> list[Received]:
        """The messages answered with 2xx."""
        with self._cond:
            return [m for m in self.messages if m.accepted]

    def wait_accepted(self, count: int, timeout: float = 20) -> list[Received]:
        """Block until ``count`` messages were accepted (AssertionError on timeout)."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.accepted()) >= count, timeout)
        assert ok, f"peer accepted {len(self.accepted())} of {count} messages"
        return self.accepted()

    async def _bind(self) -> None:
        ctx = self.tls if self.implicit_tls else None
        self._server = await asyncio.start_server(self._client, self.address, self.port,
                                                  ssl=ctx)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await asyncio.sleep(0)  # let the aborted transports close
            await self._server.wait_closed()

    def _next(self, command: str, address: str | None = None) -> str:
        if address is not None and address.lower() in self.rcpt_replies:
            scripted = self.rcpt_replies[address.lower()]
            if isinstance(scripted, str):
                return scripted
            if scripted:
                return scripted.pop(0)
        queue = self.replies.get(command)
        if queue:
            return queue.pop(0)
        return _DEFAULTS.get(command, "502 5.5.1 not implemented")

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._cond:
            self.connections += 1
            number = self.connections
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)
        session = _Session(self, reader, writer, number)
        self._writers.add(writer)
        try:
            await session.run()
        except (_Drop, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with self._cond:
                self.open_now -= 1

    def _record(self, message: Received) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()


class _Session:
    """One connection to the peer."""

    def __init__(self, peer: PeerSmtp, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, number: int) -> None:
        self.peer = peer
        self.reader = reader
        self.writer = writer
        self.number = number
        self.tls = peer.implicit_tls
        self.authed: str | None = None
        self.helo = ""
        self.tx = _Tx()

    async def say(self, reply: str) -> None:
        if reply == "CLOSE":
            raise _Drop
        if reply == "HANG":  # say nothing until the client gives up
            await self.reader.read()
            raise _Drop
        self.writer.write(reply.encode() + b"\r\n")
        await self.writer.drain()

    async def line(self) -> str:
        raw = await self.reader.readline()
        if not raw:
            raise _Drop
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        self.peer.commands.append(text)
        return text

    async def run(self) -> None:
        await self.say(self.peer._next("GREETING") if self.peer.replies.get("GREETING")
                       else f"220 {self.peer.hostname} ESMTP peer")
        while True:
            text = await self.line()
            verb, _, arg = text.partition(" ")
            handler = getattr(self, f"do_{verb.lower()}", None)
            if handler is None:
                await self.say("502 5.5.1 not implemented")
                continue
            await handler(arg)

    async def do_ehlo(self, arg: str) -> None:
        self.helo = arg
        scripted = self.peer._next("EHLO")
        if scripted:
            await self.say(scripted)
            return
        lines = [self.peer.hostname, *self.peer.extensions]
        if self.peer.tls is not None and not self.tls:
            lines.append("STARTTLS")
        if self.peer.auth is not None:
            lines.append("AUTH PLAIN")
        await self.say("\r\n".join(f"250{'-' if i < len(lines) - 1 else ' '}{x}"
                                   for i, x in enumerate(lines)))

    async def do_helo(self, arg: str) -> None:
        self.helo = arg
        await self.say(f"250 {self.peer.hostname}")

    async def do_starttls(self, arg: str) -> None:
        reply = self.peer._next("STARTTLS")
        await self.say(reply)
        if reply.startswith("220") and self.peer.tls is not None:
            await self.writer.start_tls(self.peer.tls)
            self.tls = True
            self.tx = _Tx()

    async def do_auth(self, arg: str) -> None:
        mech, _, initial = arg.partition(" ")
        if not initial:
            await self.say("334 ")
            initial = await self.line()
        scripted = self.peer.replies.get("AUTH")
        if scripted:
            await self.say(scripted.pop(0))
            return
        decoded = base64.b64decode(initial).split(b"\0")
        given = (decoded[1].decode(), decoded[2].decode()) if len(decoded) == 3 else None
        if mech.upper() == "PLAIN" and given == self.peer.auth:
            self.authed = given[0] if given else None
            await self.say("235 2.7.0 authenticated")
        else:
            await self.say("535 5.7.8 bad credentials")

    async def do_mail(self, arg: str) -> None:
        path, params = _path(arg, "FROM:")
        if self.peer.auth is not None and self.authed is None:
            await self.say("530 5.7.0 authentication required")
            return
        problem = self._param_problem(path, params)
        if problem:
            await self.say(problem)
            return
        reply = self.peer._next("MAIL")
        if reply.startswith("2"):
            self.tx = _Tx(path, params)
        await self.say(reply)

    def _param_problem(self, path: str, params: list[str]) -> str | None:
        offered = {e.split(" ")[0].upper() for e in self.peer.extensions}
        upper = [p.upper() for p in params]
        if "SMTPUTF8" in upper and "SMTPUTF8" not in offered:
            return "555 5.5.4 SMTPUTF8 not offered"
        if not path.isascii() and "SMTPUTF8" not in upper:
            return "553 5.6.7 non-ASCII address without SMTPUTF8"
        for p in upper:
            if p.startswith("SIZE="):
                limit = next((e.split(" ")[1] for e in self.peer.extensions
                              if e.upper().startswith("SIZE ")), "0")
                if int(limit) and int(p[5:]) > int(limit):
                    return "552 5.3.4 message too big"
        return None

    async def do_rcpt(self, arg: str) -> None:
        path, params = _path(arg, "TO:")
        if self.tx.mail_from is None:
            await self.say("503 5.5.1 MAIL first")
            return
        if not path.isascii() and "SMTPUTF8" not in [p.upper() for p in self.tx.mail_params]:
            await self.say("553 5.6.7 non-ASCII address without SMTPUTF8")
            return
        reply = self.peer._next("RCPT", path)
        if reply.startswith("2"):
            self.tx.rcpts.append(path)
            self.tx.rcpt_params[path] = params
        await self.say(reply)

    async def do_data(self, arg: str) -> None:
        if not self.tx.rcpts:
            await self.say("554 5.5.1 no valid recipients")
            return
        reply = self.peer._next("DATA")
        await self.say(reply)
        if not reply.startswith("354"):
            return
        data = await self._content()
        if self.peer.delay:
            await asyncio.sleep(self.peer.delay)
        final = self.peer._next("MESSAGE")
        tx = self.tx
        self.peer._record(Received(tx.mail_from or "", tx.mail_params, tx.rcpts,
                                   tx.rcpt_params, data, final, self.tls, self.authed,
                                   self.number, self.helo))
        self.tx = _Tx()
        await self.say(final)

    async def _content(self) -> bytes:
        out = bytearray()
        while True:
            raw = await self.reader.readline()
            if not raw:
                raise _Drop
            if raw == b".\r\n":
                return bytes(out)
            out += raw[1:] if raw.startswith(b"..") else raw

    async def do_rset(self, arg: str) -> None:
        self.tx = _Tx()
        await self.say(self.peer._next("RSET"))

    async def do_noop(self, arg: str) -> None:
        await self.say(self.peer._next("NOOP"))

    async def do_quit(self, arg: str) -> None:
        await self.say(self.peer._next("QUIT"))
        raise _Drop


def _path(arg: str, prefix: str) -> tuple[str, list[str]]:
    """("addr", params) from "FROM:<addr> P1 P2"."""
    rest = arg[len(prefix):] if arg.upper().startswith(prefix) else arg
    path, _, params = rest.partition(">")
    return path.lstrip("<"), params.split()
