"""web/routes.py: matching by method, path, host and scheme; 404 and 405."""

from __future__ import annotations

import asyncio

import pytest

from posthouse.web.messages import HttpRequest, HttpResponse
from posthouse.web.routes import HTTPS_ONLY, HttpRoutes


def _page(name: str):  # type: ignore[no-untyped-def]
    async def handler(_request: HttpRequest) -> HttpResponse:
        return HttpResponse.text(name)
    return handler


def _ask(routes: HttpRoutes, method: str, path: str, host: str = "h.example",
         scheme: str = "https") -> HttpResponse:
    request = HttpRequest(method=method, target=path, path=path, query={}, headers=(),
                          body=b"", host=host, scheme=scheme, peer="127.0.0.1")
    return asyncio.run(routes.dispatch(request))


@pytest.fixture
def routes() -> HttpRoutes:
    table = HttpRoutes()
    table.add("GET", "/a", _page("any-host"))
    table.add("GET", "/a", _page("wildcard"), host="mta-sts.*")
    table.add("GET", "/a", _page("exact"), host="mta-sts.example.org")
    table.add("GET", "/static/", _page("prefix"), prefix=True)
    table.add("GET", "/static/special", _page("exact-path"))
    table.add("POST", "/Mixed/Case.xml", _page("folded"), fold_case=True)
    table.add(("GET", "POST"), "/secure", _page("secure"), schemes=HTTPS_ONLY)
    return table


@pytest.mark.parametrize(("method", "path", "host", "scheme", "body"), [
    ("GET", "/a", "other.example", "https", b"any-host"),
    ("GET", "/a", "mta-sts.other.example", "https", b"wildcard"),
    ("GET", "/a", "mta-sts.example.org", "http", b"exact"),
    ("HEAD", "/a", "x", "https", b"any-host"),
    ("GET", "/static/app.css", "x", "https", b"prefix"),
    ("GET", "/static/special", "x", "https", b"exact-path"),
    ("POST", "/mixed/CASE.XML", "x", "https", b"folded"),
    ("POST", "/secure", "x", "https", b"secure"),
])
def test_most_specific_route_wins(routes: HttpRoutes, method: str, path: str, host: str,
                                  scheme: str, body: bytes) -> None:
    response = _ask(routes, method, path, host, scheme)
    assert (response.status, response.body.split(b";")[0]) == (200, body)


def test_not_found_and_method_not_allowed(routes: HttpRoutes) -> None:
    assert _ask(routes, "GET", "/nothing").status == 404
    assert _ask(routes, "GET", "/secure", scheme="http").status == 404  # https only
    assert _ask(routes, "GET", "/A").status == 404  # case matters unless folded
    assert _ask(routes, "GET", "/mta-sts.").status == 404
    response = _ask(routes, "DELETE", "/a")
    assert response.status == 405
    assert response.header("allow") == "GET, HEAD"


def test_wildcard_host_needs_a_domain_after_the_label(routes: HttpRoutes) -> None:
    assert _ask(routes, "GET", "/a", host="mta-sts.").body == b"any-host"


def test_duplicate_routes_are_refused(routes: HttpRoutes) -> None:
    with pytest.raises(ValueError, match="twice"):
        routes.add("GET", "/a", _page("again"))
    routes.add("PUT", "/a", _page("other method"))  # another method is fine
    with pytest.raises(ValueError, match="must start with /"):
        routes.add("GET", "relative", _page("x"))
