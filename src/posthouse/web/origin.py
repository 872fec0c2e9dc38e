"""Whether a state-changing browser request comes from a page of this origin (the web
admin's forms, the webmail's fetches): one rule for every cookie-authenticated page.

The Origin header (RFC 6454 7), when it names one, must be exactly ``https://<Host>``. Our
pages' ``Referrer-Policy: no-referrer`` makes browsers send ``Origin: null`` on their own
form POSTs (Fetch, "serializing a request origin"), so then the Fetch Metadata header
``Sec-Fetch-Site`` (set by the browser, never by a page) must say ``same-origin``; a client
sending neither must send a Referer starting with our origin; with none of them the request
is refused. A ``Sec-Fetch-Site`` other than same-origin is refused whatever else is sent.
Never does IO.
"""

from __future__ import annotations

from posthouse.web.messages import HttpRequest


def same_origin(request: HttpRequest) -> bool:
    """Whether the request comes from a page of this origin (see the module docstring)."""
    host = (request.header("host") or "").strip().lower()
    if not host or not request.is_tls:
        return False
    origin = f"https://{host}"
    fetch_site = request.header("sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() != "same-origin":
        return False
    sent = request.header("origin")
    if sent is not None and sent.strip().lower() != "null":
        return sent.strip().lower() == origin
    if fetch_site is not None:  # same-origin, said by the browser itself
        return True
    if sent is not None:  # "null" from a client that sends no Fetch Metadata
        return False
    referer = request.header("referer")
    return referer is not None and referer.lower().startswith(origin + "/")


def origin_matches(request: HttpRequest) -> bool:
    """Whether the Origin header names exactly ``https://<Host>``: what a browser's
    WebSocket handshake must send (RFC 6455 10.2), as it sends one on every handshake."""
    sent = request.header("origin")
    host = (request.header("host") or "").strip().lower()
    return (sent is not None and bool(host) and request.is_tls
            and sent.strip().lower() == f"https://{host}")
