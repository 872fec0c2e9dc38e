"""RFC 4978 COMPRESS=DEFLATE over real sockets: imaplib with zlib wrapped around its socket
after the tagged OK, in IMAP4rev1 and IMAP4rev2; a second COMPRESS, garbage and a
decompression bomb."""

from __future__ import annotations

import imaplib
import os
import socket
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.imap_msg_support import (
    USER,
    Connections,
    RawImap,
    fill,
    imaplib_client,
    message,
    status,
)
from tests.support.server import PASSWORD, ServerThread

MODES = ["rev1", "rev2"]
imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))  # imaplib has no COMPRESS


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    server.add_user(USER)
    for n in (1, 2, 3):
        fill(server, message(n, body="compressible text " * 200))
    opened = Connections(server)
    yield opened
    opened.close_all()


class Deflated:
    """imaplib's IO through raw DEFLATE (zlib wbits=-15), as RFC 4978 asks of a client."""

    def __init__(self, imap: imaplib.IMAP4) -> None:
        self.imap = imap
        self.zout = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.zin = zlib.decompressobj(-15)
        self.plain = b""
        self.wire_in = 0
        imap.send = self.send  # type: ignore[method-assign]
        imap.read = self.read  # type: ignore[method-assign]
        imap.readline = self.readline  # type: ignore[method-assign]

    def send(self, data: bytes) -> None:
        self.imap.sock.sendall(self.zout.compress(data) + self.zout.flush(zlib.Z_SYNC_FLUSH))

    def _more(self) -> None:
        chunk = self.imap.sock.recv(65536)
        if not chunk:
            raise imaplib.IMAP4.abort("closed")
        self.wire_in += len(chunk)
        self.plain += self.zin.decompress(chunk)

    def read(self, size: int) -> bytes:
        while len(self.plain) < size:
            self._more()
        out, self.plain = self.plain[:size], self.plain[size:]
        return out

    def readline(self) -> bytes:
        while b"\n" not in self.plain:
            self._more()
        out, _, self.plain = self.plain.partition(b"\n")
        return out + b"\n"


def _compressed(server: ServerThread, mode: str) -> tuple[imaplib.IMAP4_SSL, Deflated]:
    imap = imaplib_client(server)
    if mode == "rev2":
        imap.enable("IMAP4rev2")
    typ, data = imap._simple_command("COMPRESS", "DEFLATE")
    assert typ == "OK", data
    return imap, Deflated(imap)


def test_capability_lists_compress(conns: Connections) -> None:
    raw = conns.raw(None)
    assert b"COMPRESS=DEFLATE" in raw.greeting
    raw = conns.raw()
    assert b" COMPRESS=DEFLATE" in raw.ok("CAPABILITY")[0]


@pytest.mark.parametrize("mode", MODES)
def test_imaplib_session_after_compress(conns: Connections, mode: str) -> None:
    """Every later command and response goes through DEFLATE: SELECT, FETCH of bodies,
    APPEND with a literal, SEARCH, LOGOUT."""
    imap, wire = _compressed(conns.server, mode)
    try:
        typ, data = imap.select("INBOX")
        assert typ == "OK"
        assert data == [b"3"]
        typ, data = imap.fetch("1:3", "(BODY.PEEK[])")
        assert typ == "OK"
        bodies = [part[1] for part in data if isinstance(part, tuple)]
        assert len(bodies) == 3
        assert all(b"compressible text" in b for b in bodies)
        plain_size = sum(len(b) for b in bodies)
        assert wire.wire_in < plain_size / 3  # the repetitive bodies did shrink on the wire
        big = message(9, subject="appended", body="line of text\r\n" * 5000)
        typ, data = imap.append("INBOX", None, None, big)
        assert typ == "OK", data
        typ, data = imap.search(None, "ALL")
        assert typ == "OK"
        if mode == "rev1":
            assert data == [b"1 2 3 4"]
        else:  # IMAP4rev2 answers ESEARCH
            assert imap.untagged_responses["ESEARCH"][-1].endswith(b"ALL 1:4")
        typ, data = imap.fetch("4", "(BODY.PEEK[])")
        assert data[0][1] == big  # type: ignore[index]
        typ, _ = imap._simple_command("COMPRESS", "DEFLATE")
        assert typ == "NO"  # RFC 4978 3: once per connection
    finally:
        imap.logout()


def test_second_compress_is_no_compressionactive(conns: Connections) -> None:
    imap, _ = _compressed(conns.server, "rev1")
    try:
        tag = imap._new_tag()
        imap.send(tag + b" COMPRESS DEFLATE\r\n")
        line = imap.readline()
        assert line.startswith(tag + b" NO [COMPRESSIONACTIVE]"), line
        assert imap.noop()[0] == "OK"
    finally:
        imap.logout()


def test_compress_refusals(conns: Connections) -> None:
    """Unknown mechanism: BAD; before login: BAD (authenticated state only)."""
    raw = conns.raw(None)
    assert status(raw.command("COMPRESS DEFLATE")).startswith(b"BAD")
    raw = conns.raw()
    assert status(raw.command("COMPRESS LZMA")).startswith(b"BAD")
    assert status(raw.command("NOOP")).startswith(b"OK")


def _raw_compressed(server: ServerThread) -> RawImap:
    """A TLS client logged in, with COMPRESS accepted (nothing sent after it yet)."""
    raw = RawImap(server)
    assert status(raw.command("COMPRESS DEFLATE")).startswith(b"OK")
    return raw


def _drop(raw: RawImap) -> None:
    """Close without LOGOUT (the stream is compressed or broken)."""
    raw.file.close()
    raw.sock.close()


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes the connection in time (whatever it sends first)."""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, OSError):
        return True
    return False


def test_garbage_stream_closes_only_that_connection(conns: Connections) -> None:
    other = conns.raw()
    other.ok("SELECT INBOX")
    raw = _raw_compressed(conns.server)
    raw.sock.sendall(b"\xff" * 64 + os.urandom(256))  # 0xff: BTYPE 11, an invalid block
    assert _closed_within(raw.sock, 10)
    _drop(raw)
    assert status(other.command("NOOP")).startswith(b"OK")
    again = conns.raw()
    assert status(again.command("NOOP")).startswith(b"OK")


def test_decompression_bomb_is_bounded(conns: Connections) -> None:
    """200 MB of one unfinished line in ~200 KB of DEFLATE: the line limit answers it, the
    server inflates no further ahead than it reads, and the session goes on after the line
    ends."""
    raw = _raw_compressed(conns.server)
    sock = raw.sock
    sock.settimeout(30)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = z.compress(b"a" * (1 << 20))
    started = time.monotonic()
    for _ in range(200):
        sock.sendall(chunk)
    sock.sendall(z.compress(b"\r\nt9 NOOP\r\n") + z.flush(zlib.Z_SYNC_FLUSH))
    inflater = zlib.decompressobj(-15)
    seen = b""
    while b"t9 " not in seen:
        got = sock.recv(65536)
        assert got, seen
        seen += inflater.decompress(got)
    assert time.monotonic() - started < 30
    assert seen.startswith(b"* BAD Line too long\r\n"), seen[:200]
    assert b"t9 OK" in seen
    _drop(raw)
    other = conns.raw()
    assert status(other.command("NOOP")).startswith(b"OK")


class DeflateSocket:
    """A line client over a plain socket that turns DEFLATE on when told to."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.zout: Any = None
        self.zin: Any = None
        self.plain = b""
        self.line()  # greeting

    def send(self, text: str) -> None:
        data = text.encode() + b"\r\n"
        if self.zout is not None:
            data = self.zout.compress(data) + self.zout.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.plain:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.plain += self.zin.decompress(chunk) if self.zin is not None else chunk
        out, _, self.plain = self.plain.partition(b"\r\n")
        return out

    def tagged(self, tag: str, text: str) -> list[bytes]:
        self.send(f"{tag} {text}")
        lines = [self.line()]
        while not lines[-1].startswith(tag.encode() + b" "):
            lines.append(self.line())
        return lines

    def compress(self) -> None:
        assert self.tagged("z", "COMPRESS DEFLATE")[-1].startswith(b"z OK")
        self.zout = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.zin = zlib.decompressobj(-15)

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("mode", MODES)
def test_idle_updates_are_flushed_at_once(loopback_server: ServerThread, mode: str) -> None:
    """An unsolicited EXISTS in IDLE reaches a compressed client without more input: every
    batch of writes ends with a sync flush (RFC 4978 4)."""
    loopback_server.add_user(USER)
    client = DeflateSocket(loopback_server.port("imap"))
    try:
        assert client.tagged("l", f'LOGIN "{USER}" "{PASSWORD}"')[-1].startswith(b"l OK")
        if mode == "rev2":
            client.tagged("e", "ENABLE IMAP4rev2")
        client.compress()
        client.tagged("s", "SELECT INBOX")
        client.send("i IDLE")
        assert client.line().startswith(b"+ ")
        fill(loopback_server, message(1))
        assert client.line() == b"* 1 EXISTS"
        client.send("DONE")
        rest = [client.line()]
        while not rest[-1].startswith(b"i "):
            rest.append(client.line())
        assert rest[-1].startswith(b"i OK")
        assert rest[:-1] == ([b"* 1 RECENT"] if mode == "rev1" else [])
    finally:
        client.close()


def test_no_starttls_under_compression(loopback_server: ServerThread) -> None:
    """UNAUTHENTICATE leaves DEFLATE on; TLS cannot start beneath it (BAD), the session
    goes on compressed."""
    loopback_server.add_user(USER)
    client = DeflateSocket(loopback_server.port("imap"))
    try:
        client.tagged("l", f'LOGIN "{USER}" "{PASSWORD}"')
        client.compress()
        assert client.tagged("u", "UNAUTHENTICATE")[-1].startswith(b"u OK")
        assert client.tagged("t", "STARTTLS")[-1].startswith(b"t BAD")
        assert client.tagged("n", "NOOP")[-1].startswith(b"n OK")
    finally:
        client.close()
