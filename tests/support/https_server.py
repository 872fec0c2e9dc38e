"""A tiny HTTPS server on 127.0.0.1 for MTA-STS policy fetches in tests.

``pages`` maps a request path to (status, content type, body); every request line and Host
is recorded in ``requests``. One HTTP/1.1 request per connection, then close.
"""

from __future__ import annotations

import asyncio
import ssl

from tests.support.loop_thread import LoopThread

Page = tuple[int, str, bytes]


class HttpsServer(LoopThread):
    """Serves ``pages`` over TLS with ``context``."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self.context = context
        self.pages: dict[str, Page] = {}
        self.requests: list[tuple[str, str]] = []  # (request line, Host)
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _bind(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0,
                                                  ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            host = next((h.split(":", 1)[1].strip() for h in head[1:]
                         if h.lower().startswith("host:")), "")
            self.requests.append((head[0], host))
            path = head[0].split(" ")[1] if " " in head[0] else "/"
            status, ctype, body = self.pages.get(path, (404, "text/plain", b"not found"))
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                         + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
