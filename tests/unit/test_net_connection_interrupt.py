"""Connection.interrupt: wakes an interruptible read (ReadInterrupted), never another one,
and is kept for the next interruptible read when none waits (issue 15)."""

from __future__ import annotations

import asyncio

import pytest

from posthouse.net.connection import ReadInterrupted
from tests.unit.test_net_connection_idle import _connected


def test_interrupt_wakes_an_interruptible_read() -> None:
    async def main() -> None:
        conn = _connected()
        asyncio.get_running_loop().call_later(0.01, conn.interrupt)
        with pytest.raises(ReadInterrupted):
            await conn.read(5, interruptible=True)

    asyncio.run(main())


def test_other_reads_wait_on_for_input() -> None:
    async def main() -> bytes:
        conn = _connected()
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, conn.interrupt)
        loop.call_later(0.03, conn.data_received, b"a1 NOOP\r\n")
        return await conn.read(5)

    assert asyncio.run(main()) == b"a1 NOOP\r\n"


def test_an_interrupt_is_kept_for_the_next_interruptible_read() -> None:
    async def main() -> bytes:
        conn = _connected()
        conn.interrupt()
        with pytest.raises(ReadInterrupted):
            await conn.read(5, interruptible=True)
        conn.data_received(b"x")  # seen once: the next read returns input as usual
        return await conn.read(5, interruptible=True)

    assert asyncio.run(main()) == b"x"


def test_input_waiting_wins_over_an_interrupt() -> None:
    async def main() -> bytes:
        conn = _connected()
        conn.data_received(b"DONE\r\n")
        conn.interrupt()
        return await conn.read(5, interruptible=True)

    assert asyncio.run(main()) == b"DONE\r\n"
