"""One HTTPS GET for MTA-STS policies (RFC 8461 3.3), over asyncio streams and stdlib ssl.

The host name is resolved through posthouse's own resolver, never the system's; the
connection goes to that address with SNI and the certificate check against the name. No
redirects are followed, the body is bounded in size and the whole fetch in time. Knows
nothing of policies: it returns the body or raises FetchError.
"""

from __future__ import annotations

import asyncio
import ssl

from posthouse.dns.resolver import NoRecords, Resolver, TempFail

MAX_BODY = 64 * 1024  # RFC 8461 3.3: senders may limit the policy to 64 KB
_MAX_HEAD = 16 * 1024


class FetchError(Exception):
    """The resource could not be fetched; the text says why."""


async def https_get(host: str, path: str, *, resolver: Resolver, context: ssl.SSLContext,
                    port: int = 443, within: float = 30.0, max_body: int = MAX_BODY,
                    ) -> tuple[str, bytes]:
    """(Content-Type, body) of a 200 answer to GET https://host/path."""
    try:
        return await asyncio.wait_for(
            _get(host, path, resolver, context, port, max_body), within)
    except TimeoutError:
        raise FetchError(f"https://{host}{path}: timed out") from None
    except (OSError, ssl.SSLError, ssl.CertificateError, asyncio.IncompleteReadError,
            asyncio.LimitOverrunError, ValueError) as exc:
        raise FetchError(f"https://{host}{path}: {exc or type(exc).__name__}") from None


async def _get(host: str, path: str, resolver: Resolver, context: ssl.SSLContext, port: int,
               max_body: int) -> tuple[str, bytes]:
    answer = await resolver.a_aaaa(host)
    if isinstance(answer, TempFail | NoRecords):
        raise FetchError(f"{host}: no address ({answer})")
    problems: list[str] = []
    for address in answer:
        try:
            reader, writer = await asyncio.open_connection(
                address, port, ssl=context, server_hostname=host, limit=_MAX_HEAD)
        except (OSError, ssl.SSLError) as exc:
            problems.append(f"{address}: {exc}")
            continue
        try:
            return await _exchange(reader, writer, host, path, max_body)
        finally:
            writer.transport.abort()
    raise FetchError(f"{host}: " + "; ".join(problems))


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
                    path: str, max_body: int) -> tuple[str, bytes]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: posthouse\r\n"
                 "Accept: text/plain\r\nConnection: close\r\n\r\n".encode("ascii"))
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise FetchError(f"{host}: not an HTTP answer")
    if parts[1] != "200":  # RFC 8461 3.3: redirects are not followed; any non-200 fails
        raise FetchError(f"{host}: HTTP status {parts[1]}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _chunked(reader, max_body)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if length > max_body:
            raise FetchError(f"{host}: body of {length} bytes is too large")
        body = await reader.readexactly(length)
    else:
        body = await _until_eof(reader, max_body)
    return headers.get("content-type", ""), body


async def _until_eof(reader: asyncio.StreamReader, max_body: int) -> bytes:
    """A body delimited by the end of the connection, bounded."""
    body = bytearray()
    while chunk := await reader.read(max_body + 1 - len(body)):
        body += chunk
        if len(body) > max_body:
            raise FetchError("body too large")
    return bytes(body)


async def _chunked(reader: asyncio.StreamReader, max_body: int) -> bytes:
    """The body of a chunked answer (RFC 9112 7.1), bounded."""
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            return bytes(body)
        if len(body) + size > max_body:
            raise FetchError("body too large")
        body += await reader.readexactly(size)
        await reader.readexactly(2)
