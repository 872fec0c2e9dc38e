"""The web admin's pure parts: escaping templates, the session table (expiry, logout,
CSRF), the same-origin rule, form bodies, and the DNS record parser."""

from __future__ import annotations

import pytest

from posthouse.admin.dnscheck import parse_record, txt_value
from posthouse.admin.guard import form
from posthouse.admin.html import Html, join, render
from posthouse.web.messages import HttpRequest
from posthouse.web.origin import same_origin
from posthouse.web.sessions import WebSessions
from tests.support.clock import FakeClock


def test_values_are_escaped_unless_they_are_html() -> None:
    page = render('<a title="{t}">{x}</a>{y}', t='"><script>', x="<b>&", y=Html("<i>ok</i>"))
    assert page == '<a title="&quot;&gt;&lt;script&gt;">&lt;b&gt;&amp;</a><i>ok</i>'
    assert isinstance(page, Html)
    assert join(["<", Html("<br>"), "'"]) == "&lt;<br>&#x27;"
    # A value is never parsed as a template, whatever braces it holds.
    assert render("{v}", v="{v} {0}") == "{v} {0}"


def test_sessions_expire_when_idle_and_at_their_lifetime() -> None:
    clock = FakeClock()
    sessions = WebSessions(clock, idle=100, lifetime=250)
    s = sessions.create("a@example.test")
    assert len(s.id) >= 43
    assert s.csrf != s.id
    clock.mono += 99
    assert sessions.get(s.id) is s  # touched: idle time starts again
    clock.mono += 99
    assert sessions.get(s.id) is s
    clock.mono += 60  # 258 s after the login: past the lifetime
    assert sessions.get(s.id) is None
    t = sessions.create("a@example.test")
    clock.mono += 101
    assert sessions.get(t.id) is None
    assert len(sessions) == 0


def test_logout_and_role_loss_end_sessions() -> None:
    sessions = WebSessions(FakeClock())
    a, b = sessions.create("a@example.test"), sessions.create("a@example.test")
    c = sessions.create("c@example.test")
    sessions.end(a.id)
    assert sessions.get(a.id) is None
    sessions.end_all_of("a@example.test")
    assert sessions.get(b.id) is None
    assert sessions.get(c.id) is c
    assert sessions.get("") is None
    assert sessions.get(None) is None


def test_the_table_is_bounded() -> None:
    sessions = WebSessions(FakeClock(), max_sessions=3)
    first = sessions.create("a@example.test")
    for _ in range(3):
        sessions.create("b@example.test")
    assert len(sessions) == 3
    assert sessions.get(first.id) is None


def test_csrf_tokens_compare_whole() -> None:
    s = WebSessions(FakeClock()).create("a@example.test")
    assert s.csrf_matches(s.csrf)
    assert not s.csrf_matches(s.csrf[:-1])
    assert not s.csrf_matches("")
    assert not s.csrf_matches(None)


def _request(scheme: str = "https", **headers: str) -> HttpRequest:
    pairs = tuple((k.replace("_", "-"), v) for k, v in headers.items())
    return HttpRequest("POST", "/admin/x", "/admin/x", {}, pairs, b"", "mail.example",
                       scheme, "192.0.2.1")


@pytest.mark.parametrize(("headers", "allowed"), [
    ({"origin": "https://mail.example"}, True),
    ({"origin": "https://MAIL.example"}, True),
    ({"origin": "https://mail.example:8443"}, False),
    ({"origin": "http://mail.example"}, False),
    ({"origin": "https://evil.example"}, False),
    ({"origin": "null"}, False),
    ({"origin": "null", "sec_fetch_site": "same-origin"}, True),
    ({"origin": "null", "sec_fetch_site": "cross-site"}, False),
    ({"origin": "null", "sec_fetch_site": "same-site"}, False),
    ({"origin": "https://mail.example", "sec_fetch_site": "cross-site"}, False),
    ({"sec_fetch_site": "same-origin"}, True),
    ({"referer": "https://mail.example/admin/users"}, True),
    ({"referer": "https://mail.example.evil.example/"}, False),
    ({"referer": "https://mail.example"}, False),
    ({}, False),
])
def test_same_origin(headers: dict[str, str], allowed: bool) -> None:
    assert same_origin(_request(host="mail.example", **headers)) is allowed


def test_same_origin_needs_tls_and_a_host() -> None:
    assert not same_origin(_request("http", host="mail.example", origin="http://mail.example"))
    assert not same_origin(_request(origin="https://"))


def test_form_bodies() -> None:
    def req(ctype: str, body: bytes) -> HttpRequest:
        return HttpRequest("POST", "/", "/", {}, (("content-type", ctype),), body, "h",
                           "https", "192.0.2.1")

    assert form(req("application/x-www-form-urlencoded; charset=UTF-8",
                    b"a=1&b=x+y&a=2&c=")) == {"a": "1", "b": "x y", "c": ""}
    assert form(req("multipart/form-data", b"a=1")) == {}
    assert form(req("application/x-www-form-urlencoded", b"a=%ff")) == {}


def test_record_lines() -> None:
    assert parse_record("example.org. MX 10 mx.example.org.") == (
        "example.org", "MX", "10 mx.example.org.")
    assert parse_record('; a comment') is None
    assert parse_record("") is None
    assert txt_value('"v=spf1 mx -all"') == "v=spf1 mx -all"
    assert txt_value('"abc" "def"') == "abcdef"
    assert txt_value('"say \\"hi\\""') == 'say "hi"'


def test_records_checked_against_a_zone() -> None:
    """Every verdict, through the same resolver protocol the server uses."""
    import asyncio

    from posthouse.admin.dnscheck import check_records
    from tests.support.dns_zone import ZoneResolver

    zone = ZoneResolver({
        "a.test": {"MX": ["20 mx.host.test."], "TXT": ['"v=spf1 a -all"', '"other"']},
        "_imaps._tcp.a.test": {"SRV": ["5 5 993 mx.host.test."]},
        "autoconfig.a.test": {"A": ["192.0.2.1"]},
        "mx.host.test": {"A": ["192.0.2.1"]},
    })
    zone.servfail.add("_dmarc.a.test")
    lines = ["a.test. MX 10 mx.host.test.", 'a.test. TXT "v=spf1 mx -all"',
             '_dmarc.a.test. TXT "v=DMARC1; p=none"', "; a comment",
             "_imaps._tcp.a.test. SRV 0 1 993 mx.host.test.",
             "_pop3s._tcp.a.test. SRV 10 1 995 mx.host.test.",
             "autoconfig.a.test. CNAME mx.host.test.", "a.test. CAA 0 issue \"x\""]
    checks = asyncio.run(check_records(zone, "mx.host.test", lines))
    assert [(c.name, c.rtype, c.verdict) for c in checks] == [
        ("a.test", "MX", "ok"), ("a.test", "TXT", "different"),
        ("_dmarc.a.test", "TXT", "lookup failed"), ("_imaps._tcp.a.test", "SRV", "ok"),
        ("_pop3s._tcp.a.test", "SRV", "missing"), ("autoconfig.a.test", "CNAME", "ok"),
        ("a.test", "CAA", "not checked")]
    assert checks[1].found == "v=spf1 a -all"
