"""The HTTPS requests of the ACME client (RFC 8555 6.1: HTTPS only), on the standard
library's urllib in a worker thread: a few requests a day need no HTTP stack of their own.

Owns nothing but the request/response exchange; the protocol is client.py's.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

USER_AGENT = "posthouse-acme/0.1"
MAX_BODY = 1024 * 1024  # a directory, an order or a chain is a few KB


class AcmeUnreachable(Exception):
    """The ACME server could not be reached (connection, TLS or timeout)."""


@dataclass(frozen=True)
class AcmeResponse:
    """One HTTP response: status, headers (lower-case names; repeated ones joined by a
    list) and body."""

    status: int
    headers: dict[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def json(self) -> Any:
        """The body as JSON (an empty object for an empty body)."""
        return json.loads(self.body) if self.body else {}


class HttpsTransport:
    """Sends requests over HTTPS with ``context`` (verifying; the CA file of tests)."""

    def __init__(self, context: ssl.SSLContext, timeout: float = 30.0) -> None:
        self.context = context
        self.timeout = timeout

    async def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        *,
        content_type: str = "",
        accept: str = "",
    ) -> AcmeResponse:
        """One request; any HTTP status is a response, only transport trouble raises."""
        if not url.startswith("https://"):
            raise AcmeUnreachable(f"refusing a non-HTTPS ACME URL: {url}")
        return await asyncio.to_thread(self._blocking, method, url, body, content_type, accept)

    def _blocking(
        self, method: str, url: str, body: bytes | None, content_type: str, accept: str
    ) -> AcmeResponse:
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - https only
        request.add_header("User-Agent", USER_AGENT)
        if content_type:
            request.add_header("Content-Type", content_type)
        if accept:
            request.add_header("Accept", accept)
        try:
            opened = urllib.request.urlopen(request, context=self.context, timeout=self.timeout)  # noqa: S310
            with opened as response:
                return _response(response.status, response.headers.items(), _read(response))
        except urllib.error.HTTPError as exc:
            with exc:
                return _response(exc.code, exc.headers.items(), _read(exc))
        except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AcmeUnreachable(f"{method} {url}: {reason}") from None


def _read(stream: Any) -> bytes:
    data: bytes = stream.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise AcmeUnreachable(f"an ACME response exceeds {MAX_BODY} bytes")
    return data


def _response(status: int, items: list[tuple[str, str]], body: bytes) -> AcmeResponse:
    headers: dict[str, list[str]] = {}
    for name, value in items:
        headers.setdefault(name.lower(), []).append(value)
    return AcmeResponse(status, headers, body)
