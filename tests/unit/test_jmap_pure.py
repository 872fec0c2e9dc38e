"""The pure parts of jmap/: JSON Pointer with *, state strings, keywords <-> flags, header
property names, and RFC 8621 4.1.4's textBody/htmlBody/attachments choice."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posthouse.jmap.email_props import ParsedEmail, parse_header_property
from posthouse.jmap.keywords import flag_of, keywords_of, valid_keyword
from posthouse.jmap.pointer import PointerError, evaluate
from posthouse.jmap.state import decode_state, encode_state
from posthouse.store.models import Mailbox

DOC: dict[str, Any] = {"list": [{"id": "a", "tags": ["x", "y"]}, {"id": "b", "tags": ["z"]}],
                       "a/b": 1, "m~n": 2, "": 3}


@pytest.mark.parametrize(("pointer", "value"), [
    ("", DOC),
    ("/list/0/id", "a"),
    ("/list/*/id", ["a", "b"]),
    ("/list/*/tags", ["x", "y", "z"]),  # arrays from * are flattened (RFC 8620 3.7)
    ("/a~1b", 1),
    ("/m~0n", 2),
    ("/", 3),
])
def test_pointer(pointer: str, value: Any) -> None:
    assert evaluate(DOC, pointer) == value


@pytest.mark.parametrize("pointer", ["list", "/list/2", "/list/01", "/list/x", "/nope",
                                     "/list/0/id/deeper"])
def test_pointer_errors(pointer: str) -> None:
    with pytest.raises(PointerError):
        evaluate(DOC, pointer)


def box(row: int, modseq: int, name: str = "INBOX") -> Mailbox:
    return Mailbox(id=row, user_id=1, name=name, special_use=None, uidvalidity=100 + row,
                   uidnext=5, highestmodseq=modseq, subscribed=True)


def test_state_round_trip() -> None:
    text = encode_state([box(2, 7, "Sent"), box(1, 3)])
    marks = decode_state(text)
    assert marks is not None
    assert marks[1].modseq == 3
    assert marks[2].mailbox_id == "F2V102"
    assert encode_state([box(1, 3), box(2, 7, "Sent")]) == text  # order does not matter
    assert encode_state([box(1, 4), box(2, 7, "Sent")]) != text
    assert encode_state([box(1, 3), box(2, 7, "Outbox")]) != text


@given(st.text(max_size=40))
def test_decode_state_never_raises(text: str) -> None:
    decode_state(text)


def test_keywords_and_flags() -> None:
    assert keywords_of({"\\Seen", "\\Flagged", "\\Answered", "\\Draft", "\\Deleted",
                        "Project"}) == {"$seen": True, "$flagged": True, "$answered": True,
                                        "$draft": True, "project": True}
    assert flag_of("$SEEN") == "\\Seen"
    assert flag_of("Custom") == "custom"
    assert valid_keyword("$junk")
    assert not valid_keyword("bad(word")
    assert not valid_keyword("")
    assert not valid_keyword("with space")


@pytest.mark.parametrize(("prop", "parsed"), [
    ("header:Subject", ("Subject", "Raw", False)),
    ("header:subject:asText", ("subject", "Text", False)),
    ("header:From:asAddresses:all", ("From", "Addresses", True)),
    ("header:List-Post:asURLs", ("List-Post", "URLs", False)),
    ("header:Subject:asAddresses", None),  # not a form the field allows (4.1.2)
    ("header:X-Thing:asDate", None),
    ("header:", None),
    ("header:From:asNothing", None),
])
def test_header_property(prop: str, parsed: tuple[str, str, bool] | None) -> None:
    assert parse_header_property(prop) == parsed


def mime(body: bytes, content_type: str) -> bytes:
    return (f"From: a@example.test\r\nMIME-Version: 1.0\r\nContent-Type: {content_type}"
            "\r\n\r\n").encode() + body


def kinds(parsed: ParsedEmail) -> tuple[list[str], list[str], list[str]]:
    return ([p["partId"] for p in parsed.text_body], [p["partId"] for p in parsed.html_body],
            [p["partId"] for p in parsed.attachments])


def test_plain_message_is_its_own_text_and_html_body() -> None:
    parsed = ParsedEmail(mime(b"hi\r\n", "text/plain"), "0" * 64)
    assert kinds(parsed) == (["1"], ["1"], [])


def test_alternative_with_related_image_and_attachment() -> None:
    body = (b"--a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
            b"--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
            b"--b\r\nContent-Type: multipart/related; boundary=c\r\n\r\n"
            b"--c\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n"
            b"--c\r\nContent-Type: image/png; name=logo.png\r\n\r\nPNG\r\n--c--\r\n"
            b"--b--\r\n"
            b"--a\r\nContent-Type: application/zip\r\n"
            b"Content-Disposition: attachment; filename=f.zip\r\n\r\nZIP\r\n--a--\r\n")
    parsed = ParsedEmail(mime(body, "multipart/mixed; boundary=a"), "0" * 64)
    assert kinds(parsed) == (["1.1"], ["1.2.1"], ["1.2.2", "2"])


def test_mixed_inline_parts_go_to_both_bodies() -> None:
    body = (b"--a\r\nContent-Type: text/plain\r\n\r\none\r\n"
            b"--a\r\nContent-Type: image/jpeg\r\n\r\nJPG\r\n"
            b"--a\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--a--\r\n")
    parsed = ParsedEmail(mime(body, "multipart/mixed; boundary=a"), "0" * 64)
    assert kinds(parsed) == (["1", "2", "3"], ["1", "2", "3"], [])
    assert parsed.body_value("3", 0) == {"value": "two", "isEncodingProblem": False,
                                         "isTruncated": False}
    assert parsed.body_value("1", 2)["isTruncated"] is True
