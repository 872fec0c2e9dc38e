"""/healthz, /readyz and /metrics, for the operator's monitoring only.

Reachable from ``[http] metrics_networks`` (loopback by default) or with
``Authorization: Bearer <[http] metrics_token>``; anyone else gets 403 and learns nothing.
/healthz answers while the process runs its loop; /readyz only when the store answers and
the listeners accept (``ready``, given by app.py); /metrics is the Prometheus text format of
the App's own registry (metrics.py).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from posthouse.config import HttpConfig
from posthouse.web.messages import HttpRequest, HttpResponse
from posthouse.web.routes import HttpRoutes

Ready = Callable[[], Awaitable[str | None]]  # None: ready; else what is not
Exposition = Callable[[], Awaitable[tuple[bytes, str]]]  # (body, content type)


class MonitoringAccess:
    """Who may read the monitoring pages: the configured networks, or the bearer token."""

    def __init__(self, cfg: HttpConfig) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in cfg.metrics_networks]
        self.token = cfg.metrics_token

    def allows(self, request: HttpRequest) -> bool:
        """Whether this request may see the monitoring pages."""
        if self.token:
            auth = request.header("authorization") or ""
            scheme, _, given = auth.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                given.strip().encode(), self.token.encode()
            ):
                return True
        try:
            addr = ipaddress.ip_address(request.peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.networks)


def register(
    routes: HttpRoutes, cfg: HttpConfig, *, ready: Ready, exposition: Exposition | None = None
) -> None:
    """Add /healthz, /readyz and (with an exposition) /metrics."""
    access = MonitoringAccess(cfg)

    def guarded(
        page: Callable[[], Awaitable[HttpResponse]],
    ) -> Callable[[HttpRequest], Awaitable[HttpResponse]]:
        async def handler(request: HttpRequest) -> HttpResponse:
            if not access.allows(request):
                return HttpResponse.error(403)
            response = await page()
            return response.with_header("Cache-Control", "no-store")

        return handler

    async def healthz() -> HttpResponse:
        return HttpResponse.text("ok\n")

    async def readyz() -> HttpResponse:
        problem = await ready()
        if problem is not None:
            return HttpResponse.text(f"not ready: {problem}\n", 503)
        return HttpResponse.text("ready\n")

    routes.add("GET", "/healthz", guarded(healthz))
    routes.add("GET", "/readyz", guarded(readyz))
    if exposition is not None:

        async def metrics() -> HttpResponse:
            body, content_type = await exposition()
            return HttpResponse(200, body, [("Content-Type", content_type)])

        routes.add("GET", "/metrics", guarded(metrics))
