"""Modified UTF-7 mailbox names (RFC 3501 5.1.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posthouse.imap import utf7

CASES = [
    ("INBOX", "INBOX"),
    ("", ""),
    ("&", "&-"),
    ("a&b", "a&-b"),
    ("Entwürfe", "Entw&APw-rfe"),
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
    ("Ελληνικά", "&A5UDuwO7A7cDvQO5A7oDrA-"),
    ("\U0001f600", "&2D3eAA-"),  # a surrogate pair
    ("tab\there", "tab&AAk-here"),
]


@pytest.mark.parametrize(("text", "wire"), CASES)
def test_encode_and_decode(text: str, wire: str) -> None:
    assert utf7.encode(text) == wire
    assert utf7.decode(wire) == text
    assert utf7.decode(wire.encode("ascii")) == text


@pytest.mark.parametrize(
    "wire",
    [
        b"&",  # unterminated
        b"&Jjo",  # unterminated shifted run
        b"&Jjo!-",  # invalid base64 character
        b"&AGE-",  # shifted printable "a" (must be direct)
        b"&AOQ-&AOQ-",  # two adjacent shifted runs (must be one)
        b"&AOR-",  # nonzero pad bits
        b"&2D0-",  # lone high surrogate
        b"&AA-",  # half a UTF-16 unit
        b"caf\xc3\xa9",  # 8-bit octets
        b"a\x00b",  # control character
        b"&ZeVnLIqe",  # missing "-"
        b"&Jjo/-",  # "/" is "," in modified base64
    ],
)
def test_invalid_inputs_are_rejected(wire: bytes) -> None:
    with pytest.raises(utf7.Utf7Error):
        utf7.decode(wire)
    assert not utf7.is_valid(wire)


def test_decode_of_non_ascii_str_is_an_error() -> None:
    with pytest.raises(utf7.Utf7Error):
        utf7.decode("café")


@given(st.text())
def test_round_trip(text: str) -> None:
    wire = utf7.encode(text)
    assert wire.isascii()
    assert utf7.decode(wire) == text


@given(st.binary(max_size=40))
def test_decode_never_raises_anything_else(data: bytes) -> None:
    try:
        text = utf7.decode(data)
    except utf7.Utf7Error:
        return
    assert utf7.encode(text).encode("ascii") == data
