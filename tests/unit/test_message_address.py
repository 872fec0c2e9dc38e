"""RFC 5322 address lists as IMAP address structures (RFC 9051 7.5.2)."""

from __future__ import annotations

import pytest

from posthouse.message.address import AddressParts, domain_of, parse_addresses, split_address

START = (None, None, "team", None)
END = (None, None, None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a@b.example", [(None, None, "a", "b.example")]),
        ("Alice <a@b>", [("Alice", None, "a", "b")]),
        ('"Doe, John" <j@d>', [("Doe, John", None, "j", "d")]),
        ('"Joe \\"Q\\" X" <j@d>', [('Joe "Q" X', None, "j", "d")]),
        ("John Q. Public <jqp@x>", [("John Q. Public", None, "jqp", "x")]),
        ("j@d (John Doe)", [("John Doe", None, "j", "d")]),
        ("Jo (nick) <j@d>", [("Jo", None, "j", "d")]),
        ("<j@d>", [(None, None, "j", "d")]),
        ("<@r1,@r2:j@d>", [(None, "@r1,@r2", "j", "d")]),
        ('"a b"@d', [(None, None, "a b", "d")]),
        ("a.b @ c . d", [(None, None, "a.b", "c.d")]),
        ("j@[192.0.2.1]", [(None, None, "j", "[192.0.2.1]")]),
        ("=?utf-8?q?J=C3=B6?= <j@d>", [("=?utf-8?q?J=C3=B6?=", None, "j", "d")]),
        ("a@b, , c@d,", [(None, None, "a", "b"), (None, None, "c", "d")]),
        ("", []),
    ],
)
def test_mailboxes(text: str, expected: list[AddressParts]) -> None:
    assert parse_addresses(text) == expected


def test_group_with_members() -> None:
    assert parse_addresses("team: a@x, B <b@x>; c@x") == [
        START,
        (None, None, "a", "x"),
        ("B", None, "b", "x"),
        END,
        (None, None, "c", "x"),
    ]


def test_empty_group() -> None:
    assert parse_addresses("undisclosed-recipients:;") == [
        (None, None, "undisclosed-recipients", None),
        END,
    ]


def test_unclosed_group_is_closed() -> None:
    assert parse_addresses("team: a@x") == [START, (None, None, "a", "x"), END]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MAILER-DAEMON", [(None, None, "MAILER-DAEMON", "")]),
        ("John Doe", [("John Doe", None, "", "")]),
        ("<>", [(None, None, "", "")]),
        ("a@", [(None, None, "a", "")]),
        ("@b", [(None, None, "", "b")]),
        ("Bob <bob@x", [("Bob", None, "bob", "x")]),  # unclosed angle
        ('"unterminated <a@b>', [(None, None, "unterminated <a@b>", "")]),
        ("(only a comment)", []),
        (";", []),
    ],
)
def test_malformed_never_raises(text: str, expected: list[AddressParts]) -> None:
    assert parse_addresses(text) == expected


def test_no_address_has_nil_host_outside_groups() -> None:
    for text in ["x", "x y", "<>", "a@", "team: ;", "a:b:c", "<<a@b>>", ",,,:;;;"]:
        addresses = parse_addresses(text)
        depth = 0
        for name, _, mailbox, host in addresses:
            if host is None:
                depth += 1 if mailbox is not None else -1
                assert depth in (0, 1), text
            else:
                assert mailbox is not None
            assert name is None or isinstance(name, str)
        assert depth == 0, text


@pytest.mark.parametrize(
    ("address", "parts", "domain"),
    [
        ("Ann@Example.ORG", ("Ann", "Example.ORG"), "example.org"),
        ('"a@b"@c.example', ('"a@b"', "c.example"), "c.example"),  # the last "@" splits
        ("postmaster", ("", "postmaster"), "postmaster"),  # no "@": like str.rpartition
        ("@x.example", ("", "x.example"), "x.example"),
        ("ann@", ("ann", ""), ""),
        ("", ("", ""), ""),
    ],
)
def test_split_address_and_domain_of(address: str, parts: tuple[str, str], domain: str) -> None:
    assert split_address(address) == parts
    assert domain_of(address) == domain
