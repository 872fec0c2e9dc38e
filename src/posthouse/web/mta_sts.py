"""The MTA-STS policy (RFC 8461 3.2) at ``https://mta-sts.<domain>/.well-known/mta-sts.txt``.

One text for every local domain: ``version: STSv1``, the mode of ``[http] mta_sts_mode``,
this server's host name as the one ``mx`` (the MX record ``posthouse dns`` prints), and
``max_age``. ``posthouse dns`` prints the ``_mta-sts`` TXT record whose id is derived from
the same text (``policy_id``), so the id changes exactly when the policy does (RFC 8461 3.1).
Served over HTTPS only (3.3: senders fetch it with a validated certificate); another host,
or a domain that is not ours, is 404.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from posthouse.web.messages import HttpRequest, HttpResponse
from posthouse.web.routes import HTTPS_ONLY, HttpRoutes

POLICY_PATH = "/.well-known/mta-sts.txt"
HOST_PREFIX = "mta-sts."


def mta_sts_policy(hostname: str, mode: str = "testing", max_age: int = 604800) -> str:
    """The policy text (RFC 8461 3.2; lines end in CRLF) for mail served by ``hostname``."""
    return f"version: STSv1\r\nmode: {mode}\r\nmx: {hostname}\r\nmax_age: {max_age}\r\n"


def policy_id(policy: str) -> str:
    """The ``id`` of the ``_mta-sts`` TXT record for this policy text (1-32 alphanumerics,
    RFC 8461 3.1): it changes whenever the text does."""
    return hashlib.sha256(policy.encode()).hexdigest()[:16]


def register(routes: HttpRoutes, policy: str,
             is_local_domain: Callable[[str], Awaitable[bool]]) -> None:
    """Serve ``policy`` for every local domain's mta-sts host."""

    async def page(request: HttpRequest) -> HttpResponse:
        domain = request.host[len(HOST_PREFIX):]
        if not domain or not await is_local_domain(domain):
            return HttpResponse.error(404)
        return HttpResponse(200, policy.encode(), [("Content-Type", "text/plain")])

    routes.add("GET", POLICY_PATH, page, host=HOST_PREFIX + "*", schemes=HTTPS_ONLY)
