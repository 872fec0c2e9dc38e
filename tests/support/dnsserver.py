"""A tiny authoritative DNS server on 127.0.0.1 (UDP and TCP, one random port) for tests.

Records are a dict: name -> type -> list of rdata in zone-file text, e.g.::

    {"peer.test": {"MX": ["10 mx.peer.test."]}, "mx.peer.test": {"A": ["127.0.0.1"]},
     "null.test": {"MX": ["0 ."]}}

A name not in the dict answers NXDOMAIN, a known name without the type answers NODATA, a name
in ``servfail`` answers SERVFAIL, an
answer for a name in ``secure`` carries the AD bit (as from a validating resolver; nothing
is signed: this is a test server). ``records`` may be changed while the server runs. UDP
answers too large for the client's buffer are truncated (TC), so clients retry over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from tests.support.loop_thread import LoopThread

Records = dict[str, dict[str, list[str]]]



def txt_rdata(value: str) -> str:
    """A TXT value as zone-file rdata, split into 255-octet character-strings."""
    chunks = [value[i:i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


class DnsServer(LoopThread):
    """Answers from ``records``; ``start()`` binds, ``stop()`` shuts down."""

    def __init__(self, records: Records | None = None) -> None:
        super().__init__()
        self.records: Records = {k.lower().rstrip("."): v for k, v in (records or {}).items()}
        self.servfail: set[str] = set()
        self.secure: set[str] = set()
        self.queries: list[tuple[str, str]] = []
        self.tcp_queries = 0
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        """"127.0.0.1:port", the form config queue.resolver takes."""
        return f"127.0.0.1:{self.port}"

    async def _bind(self) -> None:
        for _ in range(20):  # the TCP port may be taken: find a number free for both
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            try:
                self._tcp = await asyncio.start_server(self._tcp_client, "127.0.0.1", port)
            except OSError:
                sock.close()
                continue
            self._udp, _ = await self._loop.create_datagram_endpoint(
                lambda: _Udp(self), sock=sock)
            self.port = port
            return
        raise RuntimeError("no free port for the test DNS server")

    async def _close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for writer in list(self._clients):
                writer.transport.abort()
            await asyncio.sleep(0)  # let the aborted transports close
            await self._tcp.wait_closed()

    async def _tcp_client(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                self.tcp_queries += 1
                answer = self.answer(await reader.readexactly(size), tcp=True)
                writer.write(len(answer).to_bytes(2, "big") + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._clients.discard(writer)
            writer.close()

    def answer(self, wire: bytes, *, tcp: bool = False) -> bytes:
        """The response to one query message."""
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        entry = self.records.get(name)
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif entry is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif entry.get(rdtype):
            response.answer.append(dns.rrset.from_text_list(
                question.name, 300, dns.rdataclass.IN, question.rdtype, entry[rdtype]))
        if name in self.secure and name not in self.servfail:
            response.flags |= dns.flags.AD
        limit = 65535 if tcp else (query.payload if query.edns >= 0 else 512)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(dns.exception.DNSException):  # not a query: no answer
            self.transport.sendto(self.server.answer(data), addr)

