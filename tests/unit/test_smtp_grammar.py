"""RFC 5321 4.1.2 paths and mailboxes, RFC 6531 UTF-8, RFC 5321 4.5.3.1 length limits."""

from __future__ import annotations

import pytest

from posthouse.smtp.grammar import (
    Address,
    AddressError,
    AddressProblem,
    is_domain_or_literal,
    parse_address,
    parse_path,
    quote_local,
)


def path(text: str, **kw: bool) -> Address | None:
    address, end = parse_path(text, **kw)
    assert end == len(text)
    return address


@pytest.mark.parametrize(
    ("text", "local", "domain"),
    [
        ("<user@example.org>", "user", "example.org"),
        ("<first.last@sub.example.co.uk>", "first.last", "sub.example.co.uk"),
        ("<a+tag@x>", "a+tag", "x"),  # single-label domains match the grammar
        ("<!#$%&'*+-/=?^_`{|}~@example.org>", "!#$%&'*+-/=?^_`{|}~", "example.org"),
        ("<x@a-b.c-d.example>", "x", "a-b.c-d.example"),
        ("<x@123.example>", "x", "123.example"),
        ('<"john doe"@example.org>', "john doe", "example.org"),
        ('<"a\\"b\\\\c"@example.org>', 'a"b\\c', "example.org"),
        ('<""@example.org>', "", "example.org"),
        ('<"@"@example.org>', "@", "example.org"),
        ("<x@[192.0.2.1]>", "x", "[192.0.2.1]"),
        ("<x@[255.255.255.255]>", "x", "[255.255.255.255]"),
        ("<x@[IPv6:2001:db8::1]>", "x", "[IPv6:2001:db8::1]"),
        ("<x@[ipv6:::1]>", "x", "[ipv6:::1]"),
        ("<x@[IPv6:::ffff:192.0.2.1]>", "x", "[IPv6:::ffff:192.0.2.1]"),
        # Source routes are parsed and ignored (RFC 5321 4.1.2, appendix C).
        ("<@relay.example:user@example.org>", "user", "example.org"),
        ("<@a.example,@b.example:user@example.org>", "user", "example.org"),
        # RFC 6531: UTF-8 in local part and domain labels.
        ("<用户@例子.广告>", "用户", "例子.广告"),
        ("<josé@exämple.org>", "josé", "exämple.org"),
        ('<"ü x"@example.org>', "ü x", "example.org"),
    ],
)
def test_valid_paths(text: str, local: str, domain: str) -> None:
    assert path(text) == Address(local, domain)


@pytest.mark.parametrize(
    "text",
    [
        "user@example.org",  # no angle brackets
        "<user@example.org",
        "<user>",
        "<@example.org>",
        "<user@>",
        "<.user@example.org>",
        "<user.@example.org>",
        "<us..er@example.org>",
        "<us er@example.org>",
        "<user@-example.org>",
        "<user@example-.org>",
        "<user@example..org>",
        "<user@example.org.>",
        "<user@exa_mple.org>",
        "<user@[192.0.2.256]>",
        "<user@[192.0.2]>",
        "<user@[1.2.3.4.5]>",
        "<user@[1234.0.0.1]>",
        "<user@[IPv6:2001:db8::g]>",
        "<user@[IPv6:fe80::1%eth0]>",
        "<user@[IPv6:1:2:3:4:5:6:7:8:9]>",
        "<user@[x-tag:stuff]>",  # general literals need a registered tag
        "<user@[]>",
        "<user@[192.0.2.1>",
        '<"unterminated@example.org>',
        '<"bad\tchar"@example.org>',
        "<user@example.org@other>",
        "<@relay.example user@example.org>",
        "<@relay.example:>",
        "<>",  # null path not allowed unless asked for
        "",
    ],
)
def test_invalid_paths(text: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_path(text)
    assert info.value.problem is AddressProblem.SYNTAX


def test_parse_path_reports_where_it_stopped() -> None:
    address, end = parse_path("<a@b.example> SIZE=10")
    assert address == Address("a", "b.example")
    assert end == len("<a@b.example>")


def test_null_reverse_path() -> None:
    assert path("<>", null_ok=True) is None


def test_postmaster_without_domain() -> None:
    # RFC 5321 4.1.1.3: RCPT TO:<Postmaster> must be accepted.
    assert path("<Postmaster>", postmaster_ok=True) == Address("Postmaster", "")
    assert path("<postMASTER>", postmaster_ok=True) == Address("postMASTER", "")
    with pytest.raises(AddressError):
        parse_path("<Postmaster>")


@pytest.mark.parametrize(
    "text",
    [
        "<" + "a" * 65 + "@example.org>",  # local part over 64 octets
        '<"' + "a" * 63 + '"@example.org>',  # quoted form counts with its quotes
        "<" + "é" * 33 + "@example.org>",  # 66 octets in UTF-8
        "<a@" + "b" * 64 + ".example>",  # label over 63 octets
        "<a@" + ".".join(["b" * 60] * 5) + ">",  # domain over 255 octets
        "<" + "a" * 64 + "@" + ".".join(["b" * 63] * 3) + ".cc>",  # path over 256
    ],
)
def test_length_limits(text: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_path(text)
    assert info.value.problem is AddressProblem.TOO_LONG


def test_lengths_at_the_limit_are_fine() -> None:
    assert path("<" + "a" * 64 + "@example.org>") is not None
    assert path("<a@" + "b" * 63 + ".example>") is not None
    domain = ".".join(["b" * 63] * 3) + ".cc"  # 194 octets
    text = "<" + "a" * 56 + "@" + domain + ">"
    assert len(text) == 253
    assert path(text) is not None


@pytest.mark.parametrize(
    ("local", "quoted"),
    [("user", "user"), ("a.b", "a.b"), ("a b", '"a b"'), ("a..b", '"a..b"'), ("", '""'),
     ('a"b', '"a\\"b"'), ("a\\b", '"a\\\\b"'), (".a", '".a"'), ("ü", "ü")],
)
def test_quote_local(local: str, quoted: str) -> None:
    assert quote_local(local) == quoted
    assert path(f"<{quoted}@x.example>") == Address(local, "x.example")


def test_address_text_and_ascii() -> None:
    assert Address("a b", "example.org").text == '"a b"@example.org'
    assert str(Address("a", "b")) == "a@b"
    assert Address("Postmaster", "").text == "Postmaster"
    assert Address("a", "b").is_ascii
    assert not Address("ü", "b").is_ascii
    assert not Address("a", "ü").is_ascii


def test_parse_address() -> None:
    assert parse_address("a@example.org") == Address("a", "example.org")
    assert parse_address("ü@example.org") == Address("ü", "example.org")
    with pytest.raises(AddressError):
        parse_address("ü@example.org", utf8=False)
    with pytest.raises(AddressError):
        parse_address("a@example.org>")


@pytest.mark.parametrize(
    ("text", "ok"),
    [("mail.example.org", True), ("localhost", True), ("[192.0.2.1]", True),
     ("[IPv6:::1]", True), ("under_score", False), ("[300.1.1.1]", False), ("", False),
     ("-bad", False)],
)
def test_is_domain_or_literal(text: str, ok: bool) -> None:
    assert is_domain_or_literal(text) is ok
