"""IMAP IO adapter: a net Connection becomes the session's Stream; one session per client.

143 starts in plaintext (STARTTLS upgrades it through the one TLS context factory); 993 is
already TLS when the session starts (implicit TLS, RFC 8314).
"""

from __future__ import annotations

from posthouse.imap.session import ClientGone, ImapSession
from posthouse.net.connection import Connection, ConnectionClosed
from posthouse.net.listeners import Handler, SessionContext
from posthouse.net.tls import TlsContextFactory
from posthouse.services import Services


class ConnectionStream:
    """A Connection seen through the session's Stream protocol."""

    def __init__(self, conn: Connection, tls: TlsContextFactory) -> None:
        self._conn = conn
        self._tls = tls

    @property
    def peer(self) -> tuple[str, int]:
        """The client's (ip, port)."""
        return self._conn.peer

    @property
    def is_tls(self) -> bool:
        """Whether TLS is active."""
        return self._conn.is_tls

    @property
    def tls_version(self) -> str | None:
        """The negotiated TLS version, if any."""
        return self._conn.tls_version

    async def read(self, idle_seconds: float | None = None) -> bytes:
        """Some bytes; b"" at end of stream."""
        return await self._conn.read(idle_seconds)

    def write(self, data: bytes) -> None:
        """Queue bytes."""
        self._conn.write(data)

    async def drain(self) -> None:
        """Flow control; ClientGone when the connection is gone."""
        try:
            await self._conn.drain()
        except ConnectionClosed:
            raise ClientGone from None

    async def start_tls(self) -> None:
        """The server-side handshake with the current certificate; a failed handshake
        (ssl.SSLError is an OSError) ends the session like a disconnect."""
        try:
            await self._conn.start_tls(self._tls.context)
        except (ConnectionClosed, OSError) as exc:
            raise ClientGone(f"TLS handshake failed: {exc!r}") from None

    def close(self) -> None:
        """Close after flushing."""
        self._conn.close()


def make_handler(services: Services) -> Handler:
    """The listener handler for the imap and imaps listeners."""

    async def handle(conn: Connection, ctx: SessionContext) -> None:
        stream = ConnectionStream(conn, ctx.tls)
        await ImapSession(services, stream, shutting_down=ctx.shutting_down).run()

    return handle
