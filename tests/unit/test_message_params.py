"""Content-Type / Content-Disposition parameters, RFC 2045 and RFC 2231."""

from __future__ import annotations

import pytest

from posthouse.message.params import (
    decode_rfc2231,
    param_raw,
    param_text,
    parse_content_type,
    parse_disposition,
)


def test_content_type_basic() -> None:
    assert parse_content_type('Text/HTML; Charset="utf-8"; format=flowed') == (
        "Text",
        "HTML",
        (("charset", "utf-8"), ("format", "flowed")),
    )


@pytest.mark.parametrize("text", ["", "text", "/plain", "text/", "te xt/plain", "(c) text"])
def test_invalid_content_type_is_none(text: str) -> None:
    assert parse_content_type(text) is None


def test_comments_and_quoting() -> None:
    parsed = parse_content_type(
        'text/plain (a comment; with semicolon) ; charset = "us\\"ascii" (x); b="a;b"'
    )
    assert parsed == ("text", "plain", (("charset", 'us"ascii'), ("b", "a;b")))


def test_lenient_values_and_junk() -> None:
    parsed = parse_content_type("application/pdf; name=my file.pdf;; junk; =x; n=")
    assert parsed == ("application", "pdf", (("name", "my file.pdf"), ("n", "")))


def test_unterminated_quote_takes_the_rest() -> None:
    assert parse_content_type('text/plain; name="abc') == ("text", "plain", (("name", "abc"),))


def test_duplicate_parameter_first_wins() -> None:
    assert parse_content_type("text/plain; charset=a; CHARSET=b") == (
        "text",
        "plain",
        (("charset", "a"),),
    )


def test_rfc2231_continuations_merged() -> None:
    # RFC 2231 3: name*0, name*1 ... joined in numeric order, whatever the written order.
    parsed = parse_content_type('message/external-body; URL*1="/bar"; url*0="ftp://a/foo"')
    assert parsed == ("message", "external-body", (("url", "ftp://a/foo/bar"),))


def test_rfc2231_extended_continuations_stay_encoded() -> None:
    # RFC 2231 4.1: a mix of encoded and plain sections.
    parsed = parse_disposition(
        "attachment; filename*0*=us-ascii'en'This%20is%20even%20more%20; "
        'filename*1*=%2A%2A%2Afun%2A%2A%2A%20; filename*2="isn\'t it!"'
    )
    assert parsed is not None
    assert parsed[0] == "attachment"
    merged = "us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn%27t%20it%21"
    assert parsed[1] == (("filename*", merged),)
    assert param_text(parsed[1], "filename") == "This is even more ***fun*** isn't it!"


def test_rfc2231_plain_first_section_then_encoded() -> None:
    parsed = parse_disposition('inline; f*0="a b"; f*1*=%E2%82%AC')
    assert parsed == ("inline", (("f*", "''a%20b%E2%82%AC"),))
    assert param_text(parsed[1], "f") == "a b€"


def test_rfc2231_gap_and_missing_first_section() -> None:
    assert parse_disposition("a; x*1=b") == ("a", ())
    assert parse_disposition("a; x*0=b; x*2=c") == ("a", (("x", "b"),))


def test_decode_rfc2231_values() -> None:
    assert decode_rfc2231("UTF-8''%E6%97%A5%E6%9C%AC.txt") == "日本.txt"
    assert decode_rfc2231("iso-8859-1'fr'caf%E9") == "café"
    assert decode_rfc2231("no quotes %41") == "no quotes A"
    assert decode_rfc2231("bogus''%FF") == "\ufffd"


def test_param_text_prefers_extended_and_decodes_words() -> None:
    params = (("filename", "fallback.txt"), ("filename*", "utf-8''%C3%A9.txt"))
    assert param_text(params, "FILENAME") == "é.txt"
    assert param_text((("filename", "=?utf-8?q?caf=C3=A9.txt?="),), "filename") == "café.txt"
    assert param_text((), "filename") is None
    assert param_raw((("boundary", "=?x?="),), "Boundary") == "=?x?="


def test_disposition_invalid() -> None:
    assert parse_disposition("") is None
    assert parse_disposition(";filename=x") is None
