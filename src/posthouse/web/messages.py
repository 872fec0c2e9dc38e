"""HTTP request and response values, with the header and cookie helpers handlers need.

A request is complete when a handler sees it: head and body read, the target split and
percent-decoded once (``path``, ``query``), the Host header reduced to a lower-case name.
A response is a status, headers and a whole body; serve/http.py adds Date, Server,
Content-Length and the default security headers. Never does IO.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class BadTarget(ValueError):
    """A request target that names no path this server could serve (400)."""


@dataclass(frozen=True)
class HttpRequest:
    """One complete request as a handler sees it."""

    method: str  # upper case, as sent (RFC 9110 9.1: methods are case-sensitive)
    target: str  # the raw request-target
    path: str  # percent-decoded, dot segments refused (see ``split_target``)
    query: dict[str, list[str]]
    headers: tuple[tuple[str, str], ...]  # names in lower case, in the order received
    body: bytes
    host: str  # the Host header's name, lower case, without the port; "" when absent
    scheme: str  # http | https
    peer: str  # the client's IP address
    listener: str = ""  # the listener name (http | https)

    def header(self, name: str) -> str | None:
        """The first field of that name (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def param(self, name: str, *, fold_case: bool = False) -> str | None:
        """The first query parameter of that name; ``fold_case``: the name in any case
        (Outlook sends ``Email`` or ``email``)."""
        if not fold_case:
            values = self.query.get(name)
            return values[0] if values else None
        wanted = name.lower()
        for key, values in self.query.items():
            if key.lower() == wanted and values:
                return values[0]
        return None

    def cookies(self) -> dict[str, str]:
        """The Cookie header's pairs (RFC 6265 5.4); a malformed header gives none."""
        jar: SimpleCookie = SimpleCookie()
        for key, value in self.headers:
            if key == "cookie":
                try:
                    jar.load(value)
                except CookieError:
                    return {}
        return {name: morsel.value for name, morsel in jar.items()}

    def form(self) -> dict[str, list[str]]:
        """An ``application/x-www-form-urlencoded`` body's fields ({} for any other body
        or a malformed one)."""
        content_type = (self.header("content-type") or "").partition(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return {}
        try:
            return parse_qs(self.body.decode("utf-8"), keep_blank_values=True,
                            errors="strict", max_num_fields=1000)
        except (UnicodeDecodeError, ValueError):
            return {}

    @property
    def is_tls(self) -> bool:
        """Whether the request came over TLS."""
        return self.scheme == "https"


@dataclass
class HttpResponse:
    """A status, headers and a whole body; or, with ``stream``, a body sent as its chunks
    come (chunked, for server-sent events): the connection closes when it ends, when the
    client goes or at shutdown."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Callable[[], AsyncIterator[bytes]] | None = None
    # status 101: after the head is sent, the connection (net.Connection) and the bytes the
    # client sent after its request go to this function, which owns them until it returns
    upgrade: Callable[[Any, bytes], Awaitable[None]] | None = None

    def with_header(self, name: str, value: str) -> HttpResponse:
        """Add a header field; returns self for chaining."""
        self.headers.append((name, value))
        return self

    def replace_headers(self, fields: Iterable[tuple[str, str]]) -> HttpResponse:
        """Set these header fields, dropping any already set of the same names (a page's
        security headers); returns self."""
        fields = list(fields)
        names = {name.lower() for name, _ in fields}
        self.headers = [(k, v) for k, v in self.headers if k.lower() not in names]
        self.headers.extend(fields)
        return self

    def header(self, name: str) -> str | None:
        """The first header field of that name already set, or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        path: str = "/",
        max_age: int | None = None,
        secure: bool = True,
        http_only: bool = True,
        same_site: str = "Strict",
    ) -> HttpResponse:
        """A Set-Cookie field (RFC 6265 4.1), Secure, HttpOnly and SameSite=Strict unless
        told otherwise; ``max_age`` 0 deletes the cookie."""
        if not _is_token(name) or any(c in value for c in ';,"\\ \r\n'):
            raise ValueError("cookie name or value not allowed")
        parts = [f"{name}={value}", f"Path={path}"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if secure:
            parts.append("Secure")
        if http_only:
            parts.append("HttpOnly")
        if same_site:
            parts.append(f"SameSite={same_site}")
        return self.with_header("Set-Cookie", "; ".join(parts))

    @classmethod
    def text(cls, body: str, status: int = 200, content_type: str = "text/plain") -> HttpResponse:
        """A UTF-8 text body."""
        return cls(status, body.encode(), [("Content-Type", f"{content_type}; charset=utf-8")])

    @classmethod
    def xml(cls, body: bytes, status: int = 200) -> HttpResponse:
        """An XML document (its encoding is in its declaration)."""
        return cls(status, body, [("Content-Type", "application/xml")])

    @classmethod
    def json(cls, value: Any, status: int = 200) -> HttpResponse:
        """A JSON body."""
        return cls(
            status,
            json.dumps(value, separators=(",", ":")).encode(),
            [("Content-Type", "application/json")],
        )

    @classmethod
    def error(cls, status: int, detail: str = "") -> HttpResponse:
        """A short text/plain error page: the reason phrase, and ``detail`` if given."""
        phrase = reason(status)
        return cls.text(f"{status} {phrase}\n{detail + chr(10) if detail else ''}", status)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> HttpResponse:
        """A redirect to ``location``."""
        return cls(status, b"", [("Location", location)])


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


def reason(status: int) -> str:
    """The standard reason phrase of a status code ("" for an unknown one)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def split_target(target: str) -> tuple[str, dict[str, list[str]]]:
    """The decoded path and the query of an origin-form (or absolute-form) target.

    Refused (BadTarget): anything but an absolute path; a dot segment ("." or "..", plain
    or percent-encoded: RFC 3986 5.2.4 would remove them, but a request that needs it is
    an attempt to climb out of a directory); an encoded slash, backslash or NUL; invalid
    UTF-8. So a path is safe to map to a file below a directory segment by segment."""
    if target.startswith(("http://", "https://")):  # absolute-form (RFC 9112 3.2.2)
        parts = urlsplit(target)
        raw_path, raw_query = parts.path or "/", parts.query
    else:
        raw_path, _, raw_query = target.partition("?")
        raw_path = raw_path.partition("#")[0]
    if not raw_path.startswith("/"):
        raise BadTarget("the target is not an absolute path")
    lowered = raw_path.lower()
    if any(code in lowered for code in ("%2f", "%5c", "%00")) or "\\" in raw_path:
        raise BadTarget("encoded slash, backslash or NUL in the path")
    try:
        path = unquote(raw_path, errors="strict")
    except UnicodeDecodeError:
        raise BadTarget("the path is not UTF-8") from None
    if any(segment in (".", "..") for segment in path.split("/")):
        raise BadTarget("dot segment in the path")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise BadTarget("control character in the path")
    try:
        query = parse_qs(raw_query, keep_blank_values=True, errors="strict", max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise BadTarget("malformed query") from None
    return path, query


def host_name(value: str | None) -> str:
    """The name part of a Host header, lower case, without the port or a trailing dot."""
    if not value:
        return ""
    value = value.strip().lower()
    if value.startswith("["):  # an IPv6 literal
        return value.partition("]")[0] + "]"
    return value.partition(":")[0].rstrip(".")


_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def _is_token(text: str) -> bool:
    """RFC 9110 5.6.2 token."""
    return bool(text) and all(c in _TOKEN_CHARS for c in text)


def header_pairs(headers: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """h11's (lower-case name, value) byte pairs as text (values are ISO-8859-1, RFC 9110
    5.5: obsolete text; valid ones are ASCII)."""
    return tuple((k.decode("ascii"), v.decode("iso-8859-1")) for k, v in headers)
