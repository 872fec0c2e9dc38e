"""web/messages.py: target splitting (no traversal), Host names, cookies, Basic credentials."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posthouse.web.messages import BadTarget, HttpRequest, HttpResponse, host_name, split_target
from posthouse.web.mobileconfig import basic_credentials


def _request(**fields: object) -> HttpRequest:
    base: dict[str, object] = {
        "method": "GET", "target": "/", "path": "/", "query": {}, "headers": (), "body": b"",
        "host": "", "scheme": "https", "peer": "127.0.0.1"}
    base.update(fields)
    return HttpRequest(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("target", "path", "query"), [
    ("/", "/", {}),
    ("/a/b?x=1&x=2&y=", "/a/b", {"x": ["1", "2"], "y": [""]}),
    ("/caf%C3%A9", "/café", {}),
    ("/a#frag", "/a", {}),
    ("http://host.example/p?q=1", "/p", {"q": ["1"]}),
    ("/.well-known/mta-sts.txt", "/.well-known/mta-sts.txt", {}),
    ("/a..b/c.", "/a..b/c.", {}),  # dots inside a segment are names, not dot segments
])
def test_split_target(target: str, path: str, query: dict[str, list[str]]) -> None:
    assert split_target(target) == (path, query)


@pytest.mark.parametrize("target", [
    "*", "relative/path", "/..", "/../x", "/a/../b", "/a/./b", "/%2e%2e/x", "/%2E%2e/x",
    "/.%2e/x", "/a%2fb", "/a%2Fb", "/a%5cb", "/a\\b", "/a%00", "/%ff", "/a%0d%0ab", "/a%7f",
])
def test_split_target_refuses(target: str) -> None:
    with pytest.raises(BadTarget):
        split_target(target)


@given(st.lists(st.sampled_from(["a", ".", "..", "%2e", "%2E%2e", ".%2e", "b%2f..", "x"]),
                max_size=6))
def test_no_accepted_path_has_a_dot_segment(segments: list[str]) -> None:
    try:
        path, _ = split_target("/" + "/".join(segments))
    except BadTarget:
        return
    assert not {".", ".."} & set(path.split("/"))


@given(st.text(max_size=30))
def test_any_encoded_text_is_refused_or_safe(text: str) -> None:
    try:
        path, _ = split_target("/" + quote(text, safe="/"))
    except BadTarget:
        return
    assert not {".", ".."} & set(path.split("/"))
    assert "\\" not in path
    assert "\x00" not in path


@pytest.mark.parametrize(("value", "name"), [
    (None, ""), ("", ""), ("Example.ORG", "example.org"), ("example.org:8443", "example.org"),
    ("mta-sts.example.org.", "mta-sts.example.org"), ("[::1]:443", "[::1]"),
])
def test_host_name(value: str | None, name: str) -> None:
    assert host_name(value) == name


def test_request_accessors() -> None:
    request = _request(headers=(("cookie", "a=1; b=two"), ("x-thing", "v")),
                       query={"Email": ["u@example.org"]})
    assert request.header("X-Thing") == "v"
    assert request.header("missing") is None
    assert request.cookies() == {"a": "1", "b": "two"}
    assert request.param("email") is None
    assert request.param("email", fold_case=True) == "u@example.org"
    assert request.is_tls
    assert _request(headers=(("cookie", 'bad"cookie'),)).cookies() == {}


def test_set_cookie_defaults_are_strict() -> None:
    response = HttpResponse(200).set_cookie("session", "abc", max_age=60)
    assert response.header("set-cookie") == (
        "session=abc; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Strict")
    with pytest.raises(ValueError, match="not allowed"):
        HttpResponse(200).set_cookie("s", "a;b")


def test_error_page() -> None:
    response = HttpResponse.error(404)
    assert response.status == 404
    assert response.body == b"404 Not Found\n"
    assert response.header("content-type") == "text/plain; charset=utf-8"


@pytest.mark.parametrize(("header", "expected"), [
    ("Basic YWxpY2VAZXhhbXBsZS5vcmc6cHc6d2l0aDpjb2xvbnM=",
     ("alice@example.org", "pw:with:colons")),
    ("basic  YTpi", ("a", "b")),
    (None, None), ("Bearer x", None), ("Basic !!!", None), ("Basic YWJj", None),
    ("Basic OmI=", None),  # empty user
    ("Basic /w==", None),  # not UTF-8
])
def test_basic_credentials(header: str | None, expected: tuple[str, str] | None) -> None:
    assert basic_credentials(header) == expected
