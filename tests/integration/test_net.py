"""net/: listeners, limits, TLS and the STARTTLS boundary, over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import ssl
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from posthouse.net.connection import Connection, ReadInterrupted
from posthouse.net.limits import ConnectionLimiter
from posthouse.net.listeners import ListenerGroup, ListenerSpec, SessionContext
from posthouse.net.tls import TlsContextFactory, generate_self_signed

Handler = Callable[[Connection, SessionContext], Awaitable[None]]


def make_tls(tmp_path: Path, name: str = "a.example") -> TlsContextFactory:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    generate_self_signed(cert, key, name)
    return TlsContextFactory(cert, key)


def client_ctx(tmp_path: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    ctx.check_hostname = False
    return ctx


async def start_group(tmp_path: Path, handler: Handler, *, implicit: bool = False,
                      per_ip: int = 10) -> ListenerGroup:
    group = ListenerGroup(make_tls(tmp_path), ConnectionLimiter(max_total=100, max_per_ip=per_ip))
    await group.start([ListenerSpec("imap", "127.0.0.1", 0, handler, implicit_tls=implicit,
                                    busy_reply=b"* BYE busy\r\n")])
    return group


async def echo_line(conn: Connection, ctx: SessionContext) -> None:
    conn.write(f"hello {conn.tls_version}\r\n".encode())
    data = await conn.read(5)
    conn.write(b"echo " + data)
    await conn.drain()


def test_implicit_tls_handshake_and_version(tmp_path: Path) -> None:
    async def main() -> None:
        group = await start_group(tmp_path, echo_line, implicit=True)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", group.port("imap"),
                                                 ssl=client_ctx(tmp_path))
            assert (await r.readline()).startswith(b"hello TLSv1.")
            w.write(b"ping\r\n")
            assert await r.readline() == b"echo ping\r\n"
            w.close()
            old = client_ctx(tmp_path)
            with warnings.catch_warnings():  # the client side of this test is deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                old.maximum_version = ssl.TLSVersion.TLSv1_1
                old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            with pytest.raises((ssl.SSLError, ConnectionError)):
                await asyncio.open_connection("127.0.0.1", group.port("imap"), ssl=old)
        finally:
            await group.stop(1)

    asyncio.run(main())


def test_per_ip_limit_gives_busy_reply(tmp_path: Path) -> None:
    async def hold(conn: Connection, ctx: SessionContext) -> None:
        conn.write(b"* OK\r\n")
        await conn.read(10)

    async def main() -> None:
        group = await start_group(tmp_path, hold, per_ip=2)
        try:
            conns = [await asyncio.open_connection("127.0.0.1", group.port("imap"))
                     for _ in range(2)]
            for r, _w in conns:
                assert await r.readline() == b"* OK\r\n"
            r3, w3 = await asyncio.open_connection("127.0.0.1", group.port("imap"))
            assert await r3.readline() == b"* BYE busy\r\n"
            assert await r3.read() == b""
            w3.close()
            for _r, w in conns:
                w.close()
            await asyncio.sleep(0.2)
            r4, w4 = await asyncio.open_connection("127.0.0.1", group.port("imap"))
            assert await r4.readline() == b"* OK\r\n"
            w4.close()
        finally:
            await group.stop(1)

    asyncio.run(main())


def test_start_tls_drops_plaintext_sent_before_handshake(tmp_path: Path) -> None:
    """RFC 3207 4.2: input pipelined after STARTTLS must not be read inside TLS."""
    got: list[bytes] = []

    async def upgrade(conn: Connection, ctx: SessionContext) -> None:
        data = b""
        while b"STARTTLS\r\n" not in data:
            data += await conn.read(5)
        await asyncio.sleep(0.3)  # the injected plaintext arrives meanwhile
        conn.write(b"220 go ahead\r\n")
        await conn.start_tls(ctx.tls.context)
        got.append(await conn.read(5))
        conn.write(b"done\r\n")

    async def main() -> None:
        group = await start_group(tmp_path, upgrade)
        try:
            sock = socket.create_connection(("127.0.0.1", group.port("imap")))
            sock.sendall(b"STARTTLS\r\n")
            sock.sendall(b"INJECTED\r\n")
            await asyncio.sleep(0.05)
            buf = await asyncio.to_thread(sock.recv, 100)
            assert buf == b"220 go ahead\r\n"
            tls = await asyncio.to_thread(
                client_ctx(tmp_path).wrap_socket, sock, server_hostname="a.example")
            await asyncio.to_thread(tls.sendall, b"GOOD\r\n")
            assert await asyncio.to_thread(tls.recv, 100) == b"done\r\n"
            tls.close()
        finally:
            await group.stop(1)

    asyncio.run(main())
    assert got == [b"GOOD\r\n"]


def test_tls_reload_serves_new_certificate(tmp_path: Path) -> None:
    factory = make_tls(tmp_path, "old.example")
    generate_self_signed(factory.cert_path, factory.key_path, "new.example")
    assert factory.reload()
    (tmp_path / "cert.pem").write_text("garbage")
    assert not factory.reload()  # keeps serving the previous one
    assert factory.context is not None


def test_graceful_stop_lets_a_session_finish(tmp_path: Path) -> None:
    finished: list[bool] = []

    async def slow(conn: Connection, ctx: SessionContext) -> None:
        await conn.read(5)
        await asyncio.sleep(0.5)  # an in-flight transaction
        conn.write(b"250 stored\r\n")
        finished.append(True)

    async def main() -> None:
        group = await start_group(tmp_path, slow)
        r, w = await asyncio.open_connection("127.0.0.1", group.port("imap"))
        w.write(b"x\r\n")
        await asyncio.sleep(0.1)
        stopper = asyncio.create_task(group.stop(5))
        assert await r.readline() == b"250 stored\r\n"
        await stopper
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", group.port("imap"))
        w.close()

    asyncio.run(main())
    assert finished == [True]


class ParkingEcho:
    """Echoes lines, parked between them (Connection.park): no task while it waits."""

    def __init__(self, conn: Connection, ctx: SessionContext) -> None:
        self.conn = conn
        self.ctx = ctx

    async def resume(self) -> None:
        try:
            data = self.conn.read_parked()
        except ReadInterrupted:
            if self.ctx.shutting_down.is_set():
                self.conn.write(b"bye\r\n")
                await self.conn.drain()
                return
            data = None
        if data == b"":
            return
        if data is not None:
            self.conn.write(b"echo " + data)
            await self.conn.drain()
        self.park()

    def park(self) -> None:
        assert self.conn.park(self, 30)


async def parking_echo(conn: Connection, ctx: SessionContext) -> None:
    conn.write(b"hello\r\n")
    ParkingEcho(conn, ctx).park()


def test_parked_sessions_hold_no_task_and_are_resumed(tmp_path: Path) -> None:
    """A parked session's connection stays open and counted; input resumes it in a new
    task, end of stream ends it (its slot is released), stop() resumes it to say bye."""
    async def main() -> None:
        group = await start_group(tmp_path, parking_echo, per_ip=2)
        try:
            r1, w1 = await asyncio.open_connection("127.0.0.1", group.port("imap"))
            r2, w2 = await asyncio.open_connection("127.0.0.1", group.port("imap"))
            assert await r1.readline() == b"hello\r\n"
            assert await r2.readline() == b"hello\r\n"
            await asyncio.sleep(0.05)
            assert group.sessions == (0, 2)
            w1.write(b"one\r\n")
            assert await r1.readline() == b"echo one\r\n"
            r3, w3 = await asyncio.open_connection("127.0.0.1", group.port("imap"))
            assert await r3.readline() == b"* BYE busy\r\n"  # parked ones keep their slots
            w3.close()
            w2.close()  # end of stream: the session ends, its slot is free again
            await asyncio.sleep(0.1)
            assert group.sessions == (0, 1)
            r4, w4 = await asyncio.open_connection("127.0.0.1", group.port("imap"))
            assert await r4.readline() == b"hello\r\n"
            await group.stop(5)
            assert await r1.readline() == b"bye\r\n"
            assert await r4.readline() == b"bye\r\n"
            assert group.sessions == (0, 0)
            w1.close()
            w4.close()
        finally:
            await group.stop(0)

    asyncio.run(main())
