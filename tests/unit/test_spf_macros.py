"""SPF macro expansion (RFC 7208 7), with every example of RFC 7208 7.4."""

from __future__ import annotations

import ipaddress

import pytest

from posthouse.mailauth.spf_macros import (
    MacroValues,
    SpfMacroError,
    expand,
    parse_macro_string,
)

V4 = MacroValues(sender="strong-bad@email.example.com", domain="email.example.com",
                 ip=ipaddress.ip_address("192.0.2.3"), helo="mx.example.org")
V6 = MacroValues(sender="strong-bad@email.example.com", domain="email.example.com",
                 ip=ipaddress.ip_address("2001:db8::cb01"), helo="mx.example.org")


def x(text: str, values: MacroValues = V4, *, explanation: bool = False) -> str:
    return expand(parse_macro_string(text, explanation=explanation), values,
                  domain=not explanation)


@pytest.mark.parametrize(("macro", "want"), [
    ("%{s}", "strong-bad@email.example.com"),
    ("%{o}", "email.example.com"),
    ("%{d}", "email.example.com"),
    ("%{d4}", "email.example.com"),
    ("%{d3}", "email.example.com"),
    ("%{d2}", "example.com"),
    ("%{d1}", "com"),
    ("%{dr}", "com.example.email"),
    ("%{d2r}", "example.email"),
    ("%{l}", "strong-bad"),
    ("%{l-}", "strong.bad"),
    ("%{lr}", "strong-bad"),
    ("%{lr-}", "bad.strong"),
    ("%{l1r-}", "strong"),
])
def test_rfc7208_7_4_single_macros(macro: str, want: str) -> None:
    assert x(macro) == want


@pytest.mark.parametrize(("macro", "want"), [
    ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
])
def test_rfc7208_7_4_domain_specs(macro: str, want: str) -> None:
    assert x(macro) == want


def test_rfc7208_7_4_ipv6_nibbles() -> None:
    assert x("%{ir}.%{v}._spf.%{d2}", V6) == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com")


def test_literal_escapes_and_case() -> None:
    assert x("%%%_%-", explanation=True) == "% %20"
    assert x("%{D2}") == "example.com"  # letters are case-insensitive


def test_uppercase_letter_url_escapes() -> None:
    values = MacroValues(sender="a b/c@example.com", domain="example.com",
                         ip=ipaddress.ip_address("192.0.2.3"), helo="h.example.com")
    assert x("%{S}", values) == "a%20b%2Fc%40example.com"
    assert x("%{s}", values) == "a b/c@example.com"


def test_delimiters_and_digits() -> None:
    values = MacroValues(sender="a+b=c@example.com", domain="example.com",
                         ip=ipaddress.ip_address("192.0.2.3"), helo="h")
    assert x("%{l+=}", values) == "a.b.c"
    assert x("%{l2r+=}", values) == "b.a"
    assert x("%{d9}", values) == "example.com"  # more parts asked than there are: all


def test_explanation_letters() -> None:
    values = MacroValues(sender="s@example.com", domain="example.com",
                         ip=ipaddress.ip_address("2001:db8::cb01"), helo="h",
                         receiver="mx.example.net", timestamp=1234)
    assert x("%{c} %{r} %{t}", values, explanation=True) == "2001:db8::cb01 mx.example.net 1234"
    with pytest.raises(SpfMacroError):
        parse_macro_string("%{c}.example.com")  # c, r, t: in exp= text only (7.1)


def test_local_part_defaults_to_postmaster() -> None:
    values = MacroValues(sender="example.com", domain="example.com",
                         ip=ipaddress.ip_address("192.0.2.3"), helo="h")
    assert x("%{l}", values) == "postmaster"


def test_long_result_is_cut_from_the_left() -> None:
    values = MacroValues(sender="s@" + "a" * 60 + ".example.com", domain="example.com",
                         ip=ipaddress.ip_address("192.0.2.3"), helo="h")
    full = ".".join([values.sender_domain] * 5)
    got = x("%{o}.%{o}.%{o}.%{o}.%{o}", values)
    assert 253 - 61 < len(got) <= 253
    assert full.endswith("." + got)  # whole labels dropped from the left (RFC 7208 7.3)


@pytest.mark.parametrize("bad", ["%", "%x", "%{", "%{s", "%{z}", "%{s0}", "%{s!}", "a b",
                                 "caf\u00e9"])
def test_syntax_errors(bad: str) -> None:
    with pytest.raises(SpfMacroError):
        parse_macro_string(bad)
