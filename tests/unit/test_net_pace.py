"""Connection.read's pace (issue 12, defect 4): a command-line deadline that trickled bytes
do not move, a minimum rate for bulk input, and ConnectionLimiter's per-listener caps."""

from __future__ import annotations

import asyncio

import pytest

from posthouse.net.connection import TooSlow
from posthouse.net.limits import ConnectionLimiter, MinRate
from tests.unit.test_net_connection_idle import _connected


def test_a_trickled_line_is_cut_at_its_deadline() -> None:
    async def main() -> str | None:
        conn = _connected()
        loop = asyncio.get_running_loop()
        for _ in range(100):  # a byte every 0.02 s, never a LF, for at most 2 s
            loop.call_later(0.02, conn.data_received, b"x")
            try:
                assert await conn.read(1.0, line_seconds=0.1) == b"x"
            except TooSlow:
                return conn.slow_reason
        return None

    assert asyncio.run(main()) == "command line not complete within 0.1 s"


def test_whole_lines_only_meet_the_idle_timeout() -> None:
    async def main() -> None:
        conn = _connected()
        loop = asyncio.get_running_loop()
        for _ in range(8):  # whole lines 0.05 s apart: past the 0.1 s line deadline in all
            loop.call_later(0.05, conn.data_received, b"NOOP\r\n")
            assert await conn.read(1.0, line_seconds=0.1) == b"NOOP\r\n"
        with pytest.raises(TimeoutError) as caught:
            await conn.read(0.1, line_seconds=0.05)
        assert not isinstance(caught.value, TooSlow)

    asyncio.run(main())


def test_bulk_input_below_the_rate_is_cut_and_above_it_is_not() -> None:
    async def main(chunk: bytes) -> int:
        conn = _connected()
        loop = asyncio.get_running_loop()
        rate = MinRate(bytes_per_second=1000, window_seconds=0.1)  # 100 bytes a window
        got = 0
        for _ in range(20):  # a chunk every 0.02 s for 0.4 s: four windows
            loop.call_later(0.02, conn.data_received, chunk)
            got += len(await conn.read(1.0, min_rate=rate))
        return got

    assert asyncio.run(main(b"y" * 40)) == 800  # 200 bytes a window
    with pytest.raises(TooSlow, match="below 1000 bytes/s"):
        asyncio.run(main(b"y"))  # 5 bytes a window


def test_limiter_caps_each_listener_under_the_ceiling() -> None:
    lim = ConnectionLimiter(max_total=5, max_per_ip=4, max_per_listener=3,
                            max_per_ip_per_listener=2)
    assert lim.acquire("a", "imap")
    assert lim.acquire("a", "imap")
    assert not lim.acquire("a", "imap")  # the address's cap on imap
    assert lim.acquire("b", "imap")
    assert not lim.acquire("c", "imap")  # imap's cap
    assert lim.acquire("a", "pop3")
    assert lim.acquire("a", "pop3")
    assert not lim.acquire("d", "smtp")  # the ceiling
    lim.release("a", "imap")
    assert lim.count("imap") == 2
    assert lim.acquire("d", "smtp")
    assert not lim.acquire("a", "smtp")  # the address's overall cap (4)
