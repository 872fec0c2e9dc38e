"""The route table of the HTTP listener: (method, path, host, scheme) -> handler.

Any module registers its pages here (app.py hands the one table to each): autoconfig, the
MTA-STS policy, metrics, and later the web admin and the ACME http-01 challenge. Matching,
most specific first:
- host: an exact name ("mta-sts.example.org"), a first label with any domain after it
  ("mta-sts.*"), or any host (None);
- path: exact, or a prefix when registered with ``prefix=True`` ("/static/" matches
  "/static/app.css"); ``fold_case=True`` compares it case-insensitively (Outlook sends
  "/Autodiscover/Autodiscover.xml");
- scheme: the listeners it answers on ("http", "https" or both).
A path that matches with another method is 405 with Allow (RFC 9110 15.5.6); none is 404.
HEAD runs the GET handler and the listener drops the body (RFC 9110 9.3.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from posthouse.web.messages import Handler, HttpRequest, HttpResponse

BOTH = ("http", "https")
HTTPS_ONLY = ("https",)
HTTP_ONLY = ("http",)  # e.g. the ACME http-01 challenge (RFC 8555 8.3: port 80)
ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/"


@dataclass(frozen=True)
class HttpRoute:
    """One registered page."""

    methods: tuple[str, ...]
    path: str
    handler: Handler
    host: str | None = None
    schemes: tuple[str, ...] = BOTH
    prefix: bool = False
    fold_case: bool = False

    def path_matches(self, path: str) -> bool:
        """Whether a request path is this route's."""
        mine, theirs = (self.path.lower(), path.lower()) if self.fold_case else (self.path, path)
        return theirs.startswith(mine) if self.prefix else theirs == mine

    def host_matches(self, host: str) -> bool:
        """Whether a request's host name is this route's."""
        if self.host is None:
            return True
        if self.host.endswith(".*"):
            label = self.host[:-1]  # "mta-sts."
            return host.startswith(label) and len(host) > len(label)
        return host == self.host

    @property
    def rank(self) -> tuple[int, int, int]:
        """Sort key: exact host, then wildcard host, then any; exact path before prefixes,
        longer prefixes first."""
        host_rank = 2 if self.host is None else (1 if self.host.endswith(".*") else 0)
        return (host_rank, 1 if self.prefix else 0, -len(self.path))


class HttpRoutes:
    """The table; ``add`` registers, ``dispatch`` answers a request."""

    def __init__(self) -> None:
        self._routes: list[HttpRoute] = []

    def add(
        self,
        methods: str | tuple[str, ...],
        path: str,
        handler: Handler,
        *,
        host: str | None = None,
        schemes: tuple[str, ...] = BOTH,
        prefix: bool = False,
        fold_case: bool = False,
    ) -> HttpRoute:
        """Register ``handler`` for a path; ValueError if the same method, path, host and
        scheme are taken already."""
        if isinstance(methods, str):
            methods = (methods,)
        if not path.startswith("/"):
            raise ValueError(f"route path {path!r} must start with /")
        route = HttpRoute(
            tuple(m.upper() for m in methods),
            path,
            handler,
            host.lower() if host else None,
            schemes,
            prefix,
            fold_case,
        )
        for old in self._routes:
            if (
                old.path == route.path
                and old.host == route.host
                and old.prefix == route.prefix
                and set(old.methods) & set(route.methods)
                and set(old.schemes) & set(route.schemes)
            ):
                raise ValueError(f"route {route.methods} {path} registered twice")
        self._routes.append(route)
        self._routes.sort(key=lambda r: r.rank)
        return route

    def find(self, request: HttpRequest) -> HttpRoute | HttpResponse:
        """The route for a request, or the 404/405 response."""
        method = "GET" if request.method == "HEAD" else request.method
        allowed: set[str] = set()
        for route in self._routes:
            if (
                request.scheme not in route.schemes
                or not route.host_matches(request.host)
                or not route.path_matches(request.path)
            ):
                continue
            if method in route.methods:
                return route
            allowed.update(route.methods)
        if allowed:
            if "GET" in allowed:
                allowed.add("HEAD")
            return HttpResponse.error(405).with_header("Allow", ", ".join(sorted(allowed)))
        return HttpResponse.error(404)

    async def dispatch(self, request: HttpRequest) -> HttpResponse:
        """Run the matching handler (404/405 when none)."""
        found = self.find(request)
        if isinstance(found, HttpResponse):
            return found
        return await found.handler(request)
