"""Connection.unless_closed over a real loopback socket (issue 12, defect 1): a session's
long step (a login waiting for its hash) is cancelled when the client hangs up, and input
the client pipelined meanwhile stays for the next read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from posthouse.net.connection import Connection, ConnectionClosed

Scenario = Callable[[Connection, asyncio.StreamWriter], Awaitable[None]]


def over_loopback(scenario: Scenario) -> None:
    async def main() -> None:
        accepted: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

        def factory() -> Connection:
            conn = Connection()
            accepted.set_result(conn)
            return conn

        server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = await asyncio.wait_for(accepted, 10)
        try:
            await scenario(conn, writer)
        finally:
            writer.close()
            conn.close()
            server.close()
            await server.wait_closed()

    asyncio.run(main())


def test_the_result_comes_back_and_pipelined_input_stays() -> None:
    async def scenario(conn: Connection, client: asyncio.StreamWriter) -> None:
        async def step() -> str:
            client.write(b"NEXT COMMAND\r\n")
            await client.drain()
            await asyncio.sleep(0.05)
            return "done"

        assert await conn.unless_closed(step()) == "done"
        assert await asyncio.wait_for(conn.read(), 10) == b"NEXT COMMAND\r\n"

    over_loopback(scenario)


def test_a_client_that_hangs_up_cancels_the_step() -> None:
    async def scenario(conn: Connection, client: asyncio.StreamWriter) -> None:
        started = asyncio.Event()
        cancelled = asyncio.Event()

        async def step() -> None:
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        waiting = asyncio.ensure_future(conn.unless_closed(step()))
        await started.wait()
        client.close()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(waiting, 10)
        assert cancelled.is_set()

    over_loopback(scenario)


def test_nothing_starts_for_a_client_already_gone() -> None:
    async def scenario(conn: Connection, client: asyncio.StreamWriter) -> None:
        client.write(b"a LOGIN x y\r\n")
        client.close()
        assert await asyncio.wait_for(conn.read(), 10) == b"a LOGIN x y\r\n"
        while await asyncio.wait_for(conn.read(), 10):
            pass  # until end of stream
        ran = []

        async def step() -> None:
            ran.append(True)

        with pytest.raises(ConnectionClosed):
            await conn.unless_closed(step())
        assert ran == []

    over_loopback(scenario)
