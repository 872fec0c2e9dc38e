"""FETCH BODY[section]<partial> and BINARY[section] (RFC 9051 6.4.5, RFC 3516)."""

from __future__ import annotations

from pathlib import Path

import pytest

from posthouse.message.mime import parse
from posthouse.message.sections import (
    TOP_LEVEL_SPECS,
    Spec,
    UnknownEncoding,
    binary_size,
    extract,
    extract_binary,
    extract_top,
    find_part,
    partial,
)

DATA = Path(__file__).parent.parent / "data" / "mime"
PDF = b"%PDF-1.4\n%\xc3\xa4\xc3\xbc\n1 0 obj\n<</Type /Catalog>>\nendobj\n%%EOF\n"


def _load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _section(name: str, path: tuple[int, ...], spec: Spec = Spec.BODY, *fields: str) -> bytes:
    data = _load(name)
    return extract(data, parse(data), path, spec, fields)


def _binary(name: str, path: tuple[int, ...]) -> bytes | UnknownEncoding:
    data = _load(name)
    return extract_binary(data, parse(data), path)


def _decoded(name: str, path: tuple[int, ...]) -> bytes:
    content = _binary(name, path)
    assert isinstance(content, bytes)
    return content


SIMPLE_BODY = b"Hi Bob,\r\n\r\nare you free for lunch on Thursday?\r\n\r\nAlice\r\n"


def test_single_part_message() -> None:
    data = _load("01-simple.eml")
    header, body = data[: -len(SIMPLE_BODY)], SIMPLE_BODY
    assert _section("01-simple.eml", ()) == data
    assert _section("01-simple.eml", (), Spec.HEADER) == header
    assert header.endswith(b"7bit\r\n\r\n")  # the blank line is part of HEADER
    assert _section("01-simple.eml", (), Spec.TEXT) == body
    assert _section("01-simple.eml", (1,)) == body  # the only part of a non-multipart
    assert _section("01-simple.eml", (1,), Spec.MIME) == header
    assert _binary("01-simple.eml", (1,)) == body


@pytest.mark.parametrize(
    ("path", "spec"),
    [((2,), Spec.BODY), ((1, 1), Spec.BODY), ((0,), Spec.BODY), ((-1,), Spec.BODY),
     ((), Spec.MIME), ((1,), Spec.HEADER), ((1,), Spec.TEXT), ((9, 9, 9), Spec.MIME)],
)  # fmt: skip
def test_absent_sections_are_empty(path: tuple[int, ...], spec: Spec) -> None:
    assert _section("01-simple.eml", path, spec) == b""


def test_header_fields_in_message_order_with_folding() -> None:
    got = _section("01-simple.eml", (), Spec.HEADER_FIELDS, "SUBJECT", "from", "x-absent")
    assert got == (
        b"From: Alice Example <alice@example.org>\r\nSubject: Lunch on\r\n Thursday?\r\n\r\n"
    )


def test_header_fields_not() -> None:
    got = _section(
        "01-simple.eml", (), Spec.HEADER_FIELDS_NOT,
        "Received", "return-path", "date", "subject", "message-id", "mime-version",
        "content-type", "content-transfer-encoding",
    )  # fmt: skip
    assert got == b"From: Alice Example <alice@example.org>\r\nTo: Bob <bob@example.com>\r\n\r\n"


def test_header_fields_none_match_is_just_the_blank_line() -> None:
    assert _section("01-simple.eml", (), Spec.HEADER_FIELDS, "x-none") == b"\r\n"


def test_multipart_parts_and_mime_headers() -> None:
    name = "03-mixed-attachments.eml"
    assert _section(name, (1,)).startswith(b"--rel-b\r\n")
    assert _section(name, (1, 1)) == b'<p>See the photo: <img src="cid:photo1@example.net"></p>'
    assert _section(name, (1, 2, 1)) == b""  # an image has no sub-parts
    mime = _section(name, (1, 2), Spec.MIME)
    assert mime.startswith(b'Content-Type: image/png; name="photo.png"\r\n')
    assert mime.endswith(b"Content-Description: A tiny photo\r\n\r\n")
    assert _section(name, (1,), Spec.HEADER) == b""  # HEADER only on message parts
    assert _section(name, (3,)) == b""
    assert _binary(name, (2,)) == PDF
    assert _decoded(name, (1, 2))[:8] == b"\x89PNG\r\n\x1a\n"
    assert _binary(name, (1,)) == _section(name, (1,))  # multipart: identity


def test_encapsulated_message_sections() -> None:
    name = "04-forwarded.eml"
    inner = _section(name, (2,))
    assert inner.startswith(b"Date: Wed, 9 Apr 2025 17:00:00 +0100\r\n")
    assert inner.endswith(b"--inner--\r\n")
    header = _section(name, (2,), Spec.HEADER)
    assert inner == header + _section(name, (2,), Spec.TEXT)
    assert header.endswith(b'boundary="inner"\r\n\r\n')
    assert _section(name, (2,), Spec.HEADER_FIELDS, "subject") == b"Subject: Meeting notes\r\n\r\n"
    assert _section(name, (2,), Spec.MIME) == (
        b"Content-Type: message/rfc822\r\nContent-Description: Forwarded message\r\n"
        b"Content-Disposition: inline\r\n\r\n"
    )
    assert _section(name, (2, 1)) == "Notes: café at 10.".encode()
    assert _section(name, (2, 2), Spec.MIME) == b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    assert _section(name, (2, 3)) == b""
    assert _binary(name, (2,)) == inner


def test_single_part_encapsulated_message_numbering() -> None:
    name = "18-digest.eml"
    assert _section(name, (1,)) == b"From: a@example.org\r\nSubject: one\r\n\r\nfirst"
    assert _section(name, (1, 1)) == b"first"  # body of the non-multipart inner message
    assert _section(name, (1, 1), Spec.MIME) == b"From: a@example.org\r\nSubject: one\r\n\r\n"
    assert _section(name, (1, 2)) == b""
    assert _section(name, (1,), Spec.MIME) == b"\r\n"  # the part's (empty) MIME header


def test_top_level_message_rfc822() -> None:
    data = b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nhello"
    root = parse(data)
    assert extract(data, root, (1,)) == b"Subject: in\r\n\r\nhello"
    assert extract(data, root, (1,), Spec.HEADER) == b"Subject: in\r\n\r\n"
    assert extract(data, root, (1, 1)) == b"hello"
    assert extract(data, root, (), Spec.HEADER) == b"Content-Type: message/rfc822\r\n\r\n"
    assert find_part(root, (1, 1)) is root.message


def test_binary_decoding() -> None:
    assert _binary("02-alternative.eml", (1,)) == (
        b"Your order #123 has shipped. Price: 42 EUR, \xe9t\xe9 ok.\r\n"
    )
    assert _decoded("02-alternative.eml", (2,)).endswith(
        b"<b>#123</b> has shipped.</p><p>&euro; caf\xc3\xa9</p></body></html>\r\n"
    )
    assert _binary("05-encoded-words.eml", (1,)) == b"Gr\xfc\xdfe aus M\xfcnchen!\r\n"
    assert _binary("10-rfc2231.eml", (2,)) == b"Hello"
    assert _binary("10-rfc2231.eml", (3,)) == UnknownEncoding("x-uuencode")
    assert _binary("10-rfc2231.eml", (4,)) == b""
    data = _load("10-rfc2231.eml")
    assert _binary("10-rfc2231.eml", ()) == data


def test_binary_size() -> None:
    data = _load("03-mixed-attachments.eml")
    root = parse(data)
    assert binary_size(data, root, (2,)) == len(PDF)
    data = _load("10-rfc2231.eml")
    assert binary_size(data, parse(data), (3,)) == UnknownEncoding("x-uuencode")


def test_garbage_header_fields() -> None:
    name = "13-garbage-headers.eml"
    assert _section(name, (), Spec.HEADER_FIELDS, "Subject") == (
        b"Subject: first subject\r\nSubject: second subject\r\n\r\n"
    )
    not_fields = _section(
        name, (), Spec.HEADER_FIELDS_NOT, "from", "subject", "x-null", "content-type", "to"
    )
    assert not_fields == b"This line has no colon\r\n: empty name\r\n\r\n"


def test_empty_body_and_header_only_message() -> None:
    data = _load("16-empty-body.eml")
    assert _section("16-empty-body.eml", (), Spec.HEADER) == data
    assert _section("16-empty-body.eml", (), Spec.TEXT) == b""
    assert _section("16-empty-body.eml", (1,)) == b""
    # RFC 9051 6.4.5: no blank line is added to a message that has none.
    name = "17-headers-only.eml"
    assert _section(name, (), Spec.HEADER) == b"From: s@example.com\r\nSubject: no blank line"
    assert _section(name, (), Spec.HEADER_FIELDS, "subject") == b"Subject: no blank line\r\n"
    assert _section(name, (), Spec.HEADER_FIELDS, "from") == b"From: s@example.com\r\n"
    assert _section(name, (), Spec.TEXT) == b""


def test_bare_lf_sections() -> None:
    assert _section("14-bare-lf.eml", (1,)) == b"line one\nline two"
    assert _section("14-bare-lf.eml", (1,), Spec.MIME) == b"Content-Type: text/plain\n\n"


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.eml")))
def test_top_level_sections_without_the_tree_match_the_tree(name: str) -> None:
    data = _load(name)
    root = parse(data)
    for fields in (("from", "Subject", "DATE", "content-type", "x-null", "to"), (),
                   ("", "x y", "from:", "sübject", "SUBJECT ")):
        for spec in TOP_LEVEL_SPECS:
            assert extract_top(data, spec, fields) == extract(data, root, (), spec, fields)


def test_top_level_sections_need_the_tree_for_body_and_mime() -> None:
    data = _load("01-simple.eml")
    for spec in (Spec.BODY, Spec.MIME):
        with pytest.raises(ValueError, match="MIME tree"):
            extract_top(data, spec)


@pytest.mark.parametrize(
    ("origin", "length", "expected"),
    [(0, None, b"0123456789"), (2, 3, b"234"), (8, 5, b"89"), (10, 1, b""), (99, None, b""),
     (0, 0, b""), (-1, 2, b""), (1, -2, b"")],
)  # fmt: skip
def test_partial(origin: int, length: int | None, expected: bytes) -> None:
    assert partial(b"0123456789", origin, length) == expected


def test_spec_values_are_imap_spelling() -> None:
    assert Spec("HEADER.FIELDS.NOT") is Spec.HEADER_FIELDS_NOT
    assert Spec("") is Spec.BODY
