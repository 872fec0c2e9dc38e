"""Connection.read's idle timeout: one timer per connection, moved by every read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from posthouse.net.connection import Connection


class QuietTransport(asyncio.Transport):
    """A transport that never delivers anything by itself."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


def _connected() -> Connection:
    conn = Connection()
    conn.connection_made(QuietTransport())
    return conn


def test_read_times_out_after_idle_seconds() -> None:
    async def main() -> float:
        conn = _connected()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await conn.read(0.05)
        return loop.time() - started

    assert asyncio.run(main()) >= 0.04


def test_input_keeps_the_connection_alive() -> None:
    async def main() -> list[bytes]:
        conn = _connected()
        loop = asyncio.get_running_loop()
        got = []
        for i in range(4):  # each read waits 0.03 s of its 0.05 s allowance
            loop.call_later(0.03, conn.data_received, b"%d" % i)
            got.append(await conn.read(0.05))
        return got

    assert asyncio.run(main()) == [b"0", b"1", b"2", b"3"]


def test_a_shorter_timeout_is_not_delayed_by_a_longer_one() -> None:
    async def main() -> None:
        conn = _connected()
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, conn.data_received, b"x")
        assert await conn.read(60) == b"x"
        await asyncio.wait_for(_expect_timeout(conn, 0.05), 5)

    asyncio.run(main())


async def _expect_timeout(conn: Connection, idle: float) -> None:
    with pytest.raises(TimeoutError):
        await conn.read(idle)


def test_no_timeout_after_a_read_without_one() -> None:
    async def main() -> bytes:
        conn = _connected()
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, conn.data_received, b"a")
        assert await conn.read(0.05) == b"a"
        loop.call_later(0.15, conn.data_received, b"b")
        return await conn.read(None)  # the earlier deadline must not fire here

    assert asyncio.run(main()) == b"b"


def test_eof_and_close_stop_the_timer() -> None:
    async def main() -> None:
        conn = _connected()
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, conn.eof_received)
        assert await conn.read(30) == b""
        assert conn._deadline_entry is not None
        conn.connection_lost(None)
        assert conn._deadline_entry is None

    asyncio.run(main())
