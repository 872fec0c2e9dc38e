"""Connection tunes TCP sockets: TCP_NODELAY once; TCP_QUICKACK only when a read must wait
for more after input that no reply acknowledged."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from posthouse.net import connection
from posthouse.net.connection import Connection

QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class FakeSocket:
    """Records setsockopt calls; ``fail`` makes each raise OSError."""

    def __init__(self, family: int = socket.AF_INET, *, fail: bool = False) -> None:
        self.family = family
        self.fail = fail
        self.options: list[tuple[int, int, int]] = []

    def setsockopt(self, level: int, option: int, value: int) -> None:
        if self.fail:
            raise OSError("not supported")
        self.options.append((level, option, value))


class FakeTransport(asyncio.Transport):
    """Only the extra info a Connection reads."""

    def __init__(self, sock: Any) -> None:
        super().__init__()
        self._sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"socket": self._sock, "peername": ("127.0.0.1", 1)}.get(name, default)


def _connected(sock: Any) -> Connection:
    conn = Connection()
    conn.connection_made(FakeTransport(sock))
    return conn


class FakeWritingTransport(FakeTransport):
    """Also takes writes (and drops them)."""

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def _reads(conn: Connection, *, answer: bool) -> None:
    """Read what arrived; optionally answer it; then start a read that has to wait."""
    async def main() -> None:
        assert await conn.read() == b"partial"
        if answer:
            conn.write(b"reply\r\n")
        waiting = asyncio.ensure_future(conn.read())
        await asyncio.sleep(0)
        waiting.cancel()

    asyncio.run(main())


def test_nodelay_once_and_no_quickack_while_input_arrives() -> None:
    sock = FakeSocket()
    conn = _connected(sock)
    assert sock.options == [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    sock.options.clear()
    conn.data_received(b"a")
    conn.data_received(b"b")
    assert sock.options == []


@pytest.mark.skipif(QUICKACK is None, reason="Linux only")
def test_quickack_when_a_read_waits_after_unanswered_input() -> None:
    sock = FakeSocket()
    conn = Connection()
    conn.connection_made(FakeWritingTransport(sock))
    sock.options.clear()
    conn.data_received(b"partial")  # e.g. an APPEND literal whose CRLF Nagle holds back
    _reads(conn, answer=False)
    assert sock.options == [(socket.IPPROTO_TCP, QUICKACK, 1)]


def test_no_quickack_when_a_reply_carried_the_ack() -> None:
    sock = FakeSocket()
    conn = Connection()
    conn.connection_made(FakeWritingTransport(sock))
    sock.options.clear()
    conn.data_received(b"partial")
    _reads(conn, answer=True)
    assert sock.options == []


@pytest.mark.parametrize("sock", [None, FakeSocket(socket.AF_UNIX)])
def test_non_tcp_sockets_are_left_alone(sock: FakeSocket | None) -> None:
    conn = _connected(sock)
    conn.data_received(b"x")
    assert sock is None or sock.options == []


def test_socket_errors_are_ignored() -> None:
    conn = _connected(FakeSocket(fail=True))
    conn.data_received(b"still read")
    assert bytes(conn._buffer) == b"still read"


def test_real_accepted_socket_gets_nodelay() -> None:
    async def main() -> int:
        accepted: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

        def factory() -> Connection:
            conn = Connection()
            accepted.set_result(conn)
            return conn

        server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = await accepted
        await asyncio.sleep(0)
        assert conn._transport is not None
        sock = conn._transport.get_extra_info("socket")
        value = int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()
        server.close()
        await server.wait_closed()
        return value

    assert asyncio.run(main()) != 0


@pytest.mark.skipif(QUICKACK is None or connection._FORCE_ACK is None, reason="Linux libc only")
def test_libc_setter_turns_quickack_on_for_the_descriptor() -> None:
    force_ack = connection._FORCE_ACK
    assert QUICKACK is not None
    assert force_ack is not None
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()):
        accepted, _ = server.accept()
        with accepted:
            accepted.setsockopt(socket.IPPROTO_TCP, QUICKACK, 0)
            assert accepted.getsockopt(socket.IPPROTO_TCP, QUICKACK) == 0
            force_ack(accepted.fileno())
            assert accepted.getsockopt(socket.IPPROTO_TCP, QUICKACK) == 1
