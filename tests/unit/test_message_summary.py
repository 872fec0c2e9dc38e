"""summarize(): SEARCH headers, sent date, cached JSON; message_text(): the indexed text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from posthouse.message.summary import message_text, parse_date, searchable_text, summarize
from posthouse.message.summary_model import MessageSummary
from posthouse.message.transfer import decode_quoted_printable, decode_transfer, html_to_text

DATA = Path(__file__).parent.parent / "data" / "mime"


def _summary(name: str) -> MessageSummary:
    return summarize((DATA / name).read_bytes())


def _text(name: str) -> str:
    return message_text((DATA / name).read_bytes())


def test_headers_are_lower_cased_and_decoded() -> None:
    headers = _summary("05-encoded-words.eml").headers
    assert headers["subject"] == "Grüße aus München und Umgebung ¤"
    assert headers["from"] == "Jörg Müller <joerg@example.de>"
    assert headers["to"] == 'François <francois@example.fr>, "山田" <yamada@example.jp>'
    # Adjacent words join even across charsets; a bogus charset is read as UTF-8.
    assert headers["x-split"] == "é and xplaintext"
    assert headers["message-id"] == "<ew@example.de>"
    assert set(headers) == {
        "date", "from", "to", "subject", "x-split", "message-id", "content-type",
        "content-transfer-encoding",
    }  # fmt: skip


def test_repeated_headers_joined_and_garbage_skipped() -> None:
    headers = _summary("13-garbage-headers.eml").headers
    assert headers["subject"] == "first subject\nsecond subject"
    assert headers["x-null"] == "ab"  # NUL removed
    assert headers["content-type"] == "text/plain; charset=utf-8\ntext/html"
    assert "" not in headers
    assert set(headers) == {"from", "subject", "x-null", "content-type", "to"}


def test_received_is_unfolded() -> None:
    headers = _summary("01-simple.eml").headers
    assert headers["received"] == (
        "from mx.example.org (mx.example.org [192.0.2.1])\tby mail.example.com with ESMTPS id"
        " 4F2A1\tfor <bob@example.com>; Mon, 07 Apr 2025 10:15:00 +0200"
    )
    assert headers["subject"] == "Lunch on Thursday?"


def test_eight_bit_headers() -> None:
    assert _summary("06-utf8-headers.eml").headers["subject"] == "会議のお知らせ — café"
    assert _summary("07-latin1-8bit.eml").headers["from"] == "René <rene@example.fr>"


def test_sent_date() -> None:
    assert _summary("01-simple.eml").sent_date == datetime(
        2025, 4, 7, 10, 14, 59, tzinfo=timezone(timedelta(hours=2))
    )
    assert _summary("08-missing-headers.eml").sent_date is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 1 Jul 2003 10:52:37 -0000", datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)),
        ("1 Jul 2003 10:52 +0000", datetime(2003, 7, 1, 10, 52, tzinfo=UTC)),
        ("garbage", None),
        ("", None),
        ("31 Feb 2020 10:00 +0000", None),
        ("Mon, 99 Feb 99999999 99:99:99 +9999", None),
    ],
)
def test_parse_date(value: str, expected: datetime | None) -> None:
    assert parse_date(value) == expected


def test_text_of_alternative_decodes_and_strips_html() -> None:
    text = _text("02-alternative.eml")
    assert text == "Your order #123 has shipped. Price: 42 EUR, été ok.\n" + (
        "Your order #123 has shipped.\n€ café"
    )


def test_text_skips_binary_parts_and_includes_forwarded_text() -> None:
    assert _text("03-mixed-attachments.eml") == "See the photo:"
    assert _text("04-forwarded.eml") == (
        "See the forwarded message below.\nNotes: café at 10.\nNotes"
    )


def test_text_charsets_and_line_ends() -> None:
    assert _text("05-encoded-words.eml") == "Grüße aus München!"
    assert _text("07-latin1-8bit.eml") == "Voilà."
    assert _text("14-bare-lf.eml") == "line one\nline two"
    assert _text("13-garbage-headers.eml") == "body with  nul"
    assert _text("16-empty-body.eml") == ""


def test_text_is_capped() -> None:
    body = b"abcdefghij" * 1000
    data = b"Content-Type: text/plain\r\n\r\n" + body
    assert message_text(data) == body.decode()
    from posthouse.message.mime import parse

    assert searchable_text(data, parse(data), limit=25) == "abcdefghij" * 2 + "abcde"


def test_json_is_compact_and_round_trips() -> None:
    summary = _summary("04-forwarded.eml")
    structure = json.loads(summary.bodystructure)
    assert structure["type"] == "multipart"
    assert structure["parts"][1]["env"][1] == "Meeting notes"
    assert structure["parts"][1]["body"]["subtype"] == "alternative"
    assert " " not in summary.bodystructure.replace("Meeting notes", "")[:200]
    assert json.loads(summary.envelope)[1] == "Fwd: Meeting notes"


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("<p>a</p><p>b</p>", "a\nb"),
        ("<script>var x = '<p>';</script>ok", "ok"),
        ("<STYLE>p{}</STYLE>ok", "ok"),
        ("a <!-- hidden --> b", "a b"),
        ("1 < 2 and more", "1 < 2 and more"),
        ("<script>never closed", ""),
        ("&lt;tag&gt; &amp; &eacute;", "<tag> & é"),
    ],
)
def test_html_to_text(source: str, text: str) -> None:
    assert html_to_text(source) == text


def test_transfer_decoding() -> None:
    assert decode_quoted_printable(b"a=3Db  \r\nc=\r\nd\t\r\n") == b"a=b\r\ncd\r\n"
    assert decode_transfer(b"x", None) == b"x"
    assert decode_transfer(b"x", " 8BIT ") == b"x"
    assert decode_transfer(b"eA==", "Base64") == b"x"
    assert decode_transfer(b"x", "x-uuencode") is None
