"""Received-SPF (RFC 7208 9.1) and the Authentication-Results spf resinfo (RFC 8601 2.7.2)."""

from __future__ import annotations

from posthouse.mailauth.spf import SpfResult, SpfVerdict
from posthouse.mailauth.spf_header import received_spf_field, spf_resinfo

PASS = SpfVerdict(SpfResult.PASS, "mailfrom", "192.0.2.1", "myname@example.com",
                  "example.com", "foo.example.com", mechanism="ip4:192.0.2.0/24")


def test_received_spf_pass() -> None:
    field = received_spf_field(PASS, "mybox.example.org").decode()
    assert field.endswith("\r\n")
    first, *rest = field.rstrip("\r\n").split("\r\n")
    assert first == ("Received-SPF: pass (mybox.example.org: domain of myname@example.com"
                     " designates 192.0.2.1 as permitted sender)")
    assert rest == ["\treceiver=mybox.example.org;", "\tclient-ip=192.0.2.1;",
                    '\tenvelope-from="myname@example.com";', "\thelo=foo.example.com;",
                    '\tmechanism="ip4:192.0.2.0/24";', "\tidentity=mailfrom;"]


def test_received_spf_ipv6_and_problem_are_quoted() -> None:
    verdict = SpfVerdict(SpfResult.PERMERROR, "helo", "2001:db8::1", "postmaster@h.example",
                         "h.example", "h.example", problem='two records (a "b")')
    field = received_spf_field(verdict, "mx.example.net").decode()
    assert field.startswith("Received-SPF: permerror (mx.example.net: permanent error")
    assert '\tclient-ip="2001:db8::1";' in field
    assert '\tproblem="two records (a \\"b\\")";' in field
    assert "envelope-from" not in field
    assert "\tidentity=helo;" in field


def test_client_text_cannot_break_the_field() -> None:
    verdict = SpfVerdict(SpfResult.FAIL, "mailfrom", "192.0.2.1", "a\r\nX-Evil: 1@example.com",
                         "example.com", "h)\r\nX: y")
    field = received_spf_field(verdict, "mx").decode()
    assert field.count("\r\n") == len(field.split("\r\n")) - 1
    assert "\r\nX" not in field
    assert all(line.startswith(("Received-SPF:", "\t")) for line in field.split("\r\n")[:-1])


def test_resinfo() -> None:
    assert spf_resinfo(PASS) == "spf=pass smtp.mailfrom=myname@example.com"
    helo = SpfVerdict(SpfResult.NONE, "helo", "192.0.2.1", "postmaster@h.example",
                      "h.example", "h.example")
    assert spf_resinfo(helo) == "spf=none smtp.helo=h.example"
    fail = SpfVerdict(SpfResult.FAIL, "mailfrom", "192.0.2.1", "x y@example.com",
                      "example.com", "h", explanation="not (allowed)")
    assert spf_resinfo(fail) == 'spf=fail (not \\(allowed\\)) smtp.mailfrom="x y@example.com"'
