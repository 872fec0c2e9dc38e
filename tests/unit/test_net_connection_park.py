"""Connection.park (issue 15): a session waits with no task; input, end of stream, an
interrupt, the grace's end or its deadline resume it, and read_parked says which."""

from __future__ import annotations

import asyncio

import pytest

from posthouse.net.connection import (
    Connection,
    GraceExpired,
    ReadInterrupted,
    TooSlow,
)
from tests.unit.test_net_connection_idle import _connected


class Session:
    """Counts its resumptions and records what ended each park."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.outcomes: list[object] = []
        self.resumed = asyncio.Event()

    async def resume(self) -> None:
        try:
            self.outcomes.append(self.conn.read_parked())
        except (GraceExpired, ReadInterrupted, TimeoutError) as exc:
            self.outcomes.append(type(exc))
        self.resumed.set()


async def _park_and_wait(conn: Connection, idle: float = 5.0,
                         line: float | None = None) -> list[object]:
    session = Session(conn)
    assert conn.park(session, idle, line_seconds=line)
    assert conn.parked
    await asyncio.wait_for(session.resumed.wait(), 5)
    assert not conn.parked
    return session.outcomes


def test_input_resumes_a_parked_session() -> None:
    async def main() -> list[object]:
        conn = _connected()
        asyncio.get_running_loop().call_later(0.01, conn.data_received, b"a1 NOOP\r\n")
        return await _park_and_wait(conn)

    assert asyncio.run(main()) == [b"a1 NOOP\r\n"]


def test_end_of_stream_resumes_it_with_nothing() -> None:
    async def main() -> list[object]:
        conn = _connected()
        asyncio.get_running_loop().call_later(0.01, conn.eof_received)
        return await _park_and_wait(conn)

    assert asyncio.run(main()) == [b""]


def test_interrupt_and_grace_resume_it() -> None:
    async def main() -> list[object]:
        conn = _connected()
        asyncio.get_running_loop().call_later(0.01, conn.interrupt)
        first = await _park_and_wait(conn)
        asyncio.get_running_loop().call_later(0.01, conn.expire_grace)
        return first + await _park_and_wait(conn)

    assert asyncio.run(main()) == [ReadInterrupted, GraceExpired]


def test_the_idle_deadline_resumes_it_with_a_timeout() -> None:
    async def main() -> list[object]:
        return await _park_and_wait(_connected(), idle=0.03)

    assert asyncio.run(main()) == [TimeoutError]


def test_an_unfinished_line_keeps_its_pace_while_parked() -> None:
    async def main() -> list[object]:
        conn = _connected()
        conn.data_received(b"a1 NOO")
        assert conn.read_parked() == b"a1 NOO"  # the session took it, no LF yet
        return await _park_and_wait(conn, idle=60, line=0.03)  # long before 60 s

    assert asyncio.run(main()) == [TooSlow]


def test_nothing_is_parked_when_input_is_already_there() -> None:
    async def main() -> bytes | None:
        conn = _connected()
        conn.data_received(b"a1 NOOP\r\n")
        assert not conn.park(Session(conn), 5)
        conn.interrupt()
        assert not conn.park(Session(conn), 5)
        assert conn.read_parked() == b"a1 NOOP\r\n"  # input first, then the interrupt
        return conn.read_parked()

    with pytest.raises(ReadInterrupted):
        asyncio.run(main())
