"""The SPF record parser (RFC 7208 4.5, 4.6, 12)."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posthouse.mailauth.spf_parse import SpfSyntaxError, is_spf_record, parse_record


def test_version_selection() -> None:
    assert is_spf_record("v=spf1")
    assert is_spf_record("v=spf1 -all")
    assert is_spf_record("V=SPF1 -all")
    assert not is_spf_record("v=spf10 -all")
    assert not is_spf_record("v=spf1-all")
    assert not is_spf_record("spf1 -all")


def test_terms_in_order_with_qualifiers() -> None:
    record = parse_record("v=spf1 +a mx/24 -ptr ~exists:%{i}.x.example ?ip4:192.0.2.0/24 all")
    assert [(d.qualifier, d.name) for d in record.directives] == [
        ("+", "a"), ("+", "mx"), ("-", "ptr"), ("~", "exists"), ("?", "ip4"), ("+", "all")]
    assert record.directives[1].cidr4 == 24
    assert record.directives[4].network == ipaddress.ip_network("192.0.2.0/24")


def test_dual_cidr() -> None:
    (a, mx, only6) = parse_record("v=spf1 a:h.example.com/24//64 mx/30 a//48").directives
    assert (a.cidr4, a.cidr6) == (24, 64)
    assert (mx.cidr4, mx.cidr6) == (30, 128)
    assert (only6.cidr4, only6.cidr6) == (32, 48)
    assert only6.domain_spec is None


def test_ip_networks_keep_host_bits_out() -> None:
    (v4, v6) = parse_record("v=spf1 ip4:192.0.2.77/24 ip6:2001:db8::1/32").directives
    assert v4.network == ipaddress.ip_network("192.0.2.0/24")
    assert v6.network == ipaddress.ip_network("2001:db8::/32")


def test_modifiers() -> None:
    record = parse_record("v=spf1 -all exp=explain.%{d} redirect=_spf.example.com other=x%{d}")
    assert record.redirect == ("_spf.example.com",)
    assert record.explanation is not None
    assert len(record.directives) == 1


def test_mechanism_names_are_case_insensitive() -> None:
    record = parse_record("v=spf1 IP4:192.0.2.1 MX -ALL")
    assert [d.name for d in record.directives] == ["ip4", "mx", "all"]


@pytest.mark.parametrize("bad", [
    "v=spf1 foo",                        # unknown mechanism
    "v=spf1 foo:bar",
    "v=spf1 include",                    # include needs a domain-spec
    "v=spf1 exists",
    "v=spf1 all:x.example.com",
    "v=spf1 ip4:300.1.1.1",
    "v=spf1 ip4:192.0.2.0/33",
    "v=spf1 ip4:192.0.2.0/024",          # no leading zeros in a CIDR length
    "v=spf1 ip4:192.0.2.0/",
    "v=spf1 ip6:2001:db8::/129",
    "v=spf1 ip6:192.0.2.1",
    "v=spf1 ip4",
    "v=spf1 a/33",
    "v=spf1 a//129",
    "v=spf1 a:example.123",              # the top label may not be all digits
    "v=spf1 a:example",                  # a domain-spec needs a dot before its top label
    "v=spf1 a:%{x}.example.com",         # unknown macro letter
    "v=spf1 a:%{c}.example.com",         # c is for explanations only
    "v=spf1 exists:%(ir).example.com",   # '%' not followed by '{', '%', '_' or '-'
    "v=spf1 redirect=a.example.com redirect=b.example.com",
    "v=spf1 exp=a.example.com exp=b.example.com",
    "v=spf1 redirect=",
    "v=spf1 -",
    "v=spf1 =all",
])
def test_syntax_errors(bad: str) -> None:
    with pytest.raises(SpfSyntaxError):
        parse_record(bad)


def test_trailing_and_double_spaces_allowed() -> None:
    assert len(parse_record("v=spf1  a   -all  ").directives) == 2


def test_domain_spec_may_end_in_macro_or_dot() -> None:
    parse_record("v=spf1 exists:%{i}.%{d} a:example.com. include:_spf.%{d2}")


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("v=spf1 aAmxptrl4i6:./%{}-+~?_0123,\u00e9")),
               max_size=60))
def test_parser_only_raises_its_own_error(body: str) -> None:
    with contextlib.suppress(SpfSyntaxError):
        parse_record("v=spf1 " + body)
