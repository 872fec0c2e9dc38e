"""Connection's DEFLATE layer (RFC 4978): bounded inflate, one sync flush per write batch,
a corrupt stream read as end of stream."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

from posthouse.net import connection as net
from posthouse.net.connection import Connection


class RecordingTransport(asyncio.Transport):
    """Keeps what is written and whether reading is paused."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = bytearray()
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.sent += data

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


def _compressing() -> tuple[Connection, RecordingTransport]:
    transport = RecordingTransport()
    conn = Connection()
    conn.connection_made(transport)
    conn.start_compression()
    return conn, transport


def test_a_bomb_is_inflated_only_as_far_as_it_is_read() -> None:
    async def main() -> None:
        conn, transport = _compressing()
        z = zlib.compressobj(9, zlib.DEFLATED, -15)
        size = 64 * 1024 * 1024
        bomb = z.compress(b"\0" * size) + z.flush(zlib.Z_SYNC_FLUSH)
        assert len(bomb) < 100_000
        conn.data_received(bomb)
        assert transport.paused
        got = 0
        while got < size:
            chunk = await conn.read(1.0)
            assert len(chunk) <= net._HIGH_WATER
            got += len(chunk)
        assert got == size
        assert not transport.paused

    asyncio.run(main())


def test_writes_of_one_turn_share_one_sync_flush() -> None:
    async def main() -> None:
        conn, transport = _compressing()
        for n in range(10):
            conn.write(b"* %d EXISTS\r\n" % n)
        await asyncio.sleep(0)
        inflater = zlib.decompressobj(-15)
        assert inflater.decompress(bytes(transport.sent)) == b"".join(
            b"* %d EXISTS\r\n" % n for n in range(10))
        assert transport.sent.endswith(b"\x00\x00\xff\xff")  # the sync flush marker
        assert transport.sent.count(b"\x00\x00\xff\xff") == 1

    asyncio.run(main())


def test_corrupt_input_reads_as_end_of_stream() -> None:
    async def main() -> None:
        conn, _ = _compressing()
        conn.data_received(b"\xff" * 32)
        assert await conn.read(1.0) == b""
        assert conn.compression_error is not None

    asyncio.run(main())


def test_unread_bytes_at_the_switch_are_compressed_input() -> None:
    async def main() -> None:
        transport = RecordingTransport()
        conn = Connection()
        conn.connection_made(transport)
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        conn.data_received(z.compress(b"a1 NOOP\r\n") + z.flush(zlib.Z_SYNC_FLUSH))
        conn.start_compression()
        assert await conn.read(1.0) == b"a1 NOOP\r\n"

    asyncio.run(main())
