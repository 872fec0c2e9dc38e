"""ENVELOPE / BODY / BODYSTRUCTURE values for the corpus in tests/data/mime.

Expected values follow RFC 9051 7.5.2 (RFC 3501 7.4.2): body sizes are the octets between
the blank line after a part's header and the CRLF that precedes the next boundary (RFC 2046
5.1.1: that CRLF belongs to the boundary); lines count line ends plus an unterminated last
line. Sizes are computed here from literal bodies written out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posthouse.imap.bodystructure import Value, bodystructure_value, envelope_value
from posthouse.message.summary import summarize

DATA = Path(__file__).parent.parent / "data" / "mime"
PNG64 = b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
PDF64 = b"JVBERi0xLjQKJcOkw7wKMSAwIG9iago8PC9UeXBlIC9DYXRhbG9nPj4KZW5kb2JqCiUlRU9GCg=="


def _load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _values(name: str, *, extended: bool = True) -> tuple[list[Value], list[Value]]:
    summary = summarize(_load(name))
    return envelope_value(summary.envelope), bodystructure_value(
        summary.bodystructure, extended=extended
    )


def _encode(value: Value) -> str:
    """A minimal IMAP serializer for these tests (quoted strings only)."""
    if value is None:
        return "NIL"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "(" + " ".join(_encode(v) for v in value) + ")"


def _lines(body: bytes) -> int:
    return body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)


def _addr(name: str | None, mailbox: str | None, host: str | None) -> list[Value]:
    return [name, None, mailbox, host]


EXT_NIL: list[Value] = [None, None, None, None]  # md5, dsp, lang, loc


def test_simple_text_plain() -> None:
    body = b"Hi Bob,\r\n\r\nare you free for lunch on Thursday?\r\n\r\nAlice\r\n"
    env, bs = _values("01-simple.eml")
    alice = [_addr("Alice Example", "alice", "example.org")]
    assert env == [
        "Mon, 7 Apr 2025 10:14:59 +0200",
        "Lunch on Thursday?",  # unfolded: the CRLF before the space is removed
        alice,
        alice,  # sender defaults to from
        alice,  # reply-to defaults to from
        [_addr("Bob", "bob", "example.com")],
        None,
        None,
        None,
        "<20250407081459.GA1234@example.org>",
    ]
    assert bs == [
        "text", "plain", ["charset", "utf-8", "format", "flowed"], None, None, "7bit",
        len(body), 5, *EXT_NIL,
    ]  # fmt: skip
    assert _encode(bs) == (
        f'("text" "plain" ("charset" "utf-8" "format" "flowed") NIL NIL "7bit" {len(body)} 5'
        " NIL NIL NIL NIL)"
    )


def test_simple_body_has_no_extension_data() -> None:
    _, body = _values("01-simple.eml", extended=False)
    assert body == ["text", "plain", ["charset", "utf-8", "format", "flowed"], None, None,
                    "7bit", 57, 5]  # fmt: skip


def test_alternative_with_quoted_printable() -> None:
    plain = b"Your order #123 has shipped. Price: 42 EUR, =E9t=E9=\r\n ok.\r\n"
    html = (
        b"<html><head><style>p {color: red}</style></head><body><p>Your order <b>#1=\r\n"
        b"23</b> has shipped.</p><p>&euro; caf=C3=A9</p></body></html>\r\n"
    )
    env, bs = _values("02-alternative.eml")
    shop = [_addr("Shop, Inc.", "news", "shop.example")]  # quoting removed, comma kept
    assert env[2] == env[3] == env[4] == shop
    assert env[5] == [_addr(None, "customer", "example.com")]
    assert bs == [
        ["text", "plain", ["charset", "iso-8859-1"], None, None, "quoted-printable",
         len(plain), 2, *EXT_NIL],
        ["text", "html", ["charset", "utf-8"], None, None, "quoted-printable",
         len(html), 2, *EXT_NIL],
        "alternative", ["boundary", "=_alt_7f3a"], None, None, None,
    ]  # fmt: skip


def test_nested_mixed_related_with_attachments() -> None:
    html = b'<p>See the photo: <img src="cid:photo1@example.net"></p>'
    env, bs = _values("03-mixed-attachments.eml")
    assert env[5] == [_addr("Dave", "dave", "example.com"), _addr(None, "erin", "example.com")]
    assert env[6] == [_addr("Frank (IT)", "frank", "example.com")]
    assert env[8:] == ["<prev.1@example.com>", "<abc.def@example.net>"]
    related: list[Value] = [
        ["text", "html", ["charset", "us-ascii"], None, None, "7bit", len(html), 1,
         None, None, ["en", "de"], "http://example.net/report.html"],
        ["image", "png", ["name", "photo.png"], "<photo1@example.net>", "A tiny photo",
         "base64", len(PNG64), None, ["inline", ["filename", "photo.png"]], None, None],
        "related", ["boundary", "rel-b", "type", "text/html"], None, None, None,
    ]  # fmt: skip
    pdf: list[Value] = [
        "application", "pdf", ["name", "report.pdf"], None, None, "base64", len(PDF64),
        "Q2hlY2sgSW50ZWdyaXR5IQ==",
        ["attachment", ["filename", "report.pdf", "size", "55"]], None, None,
    ]  # fmt: skip
    assert bs == [related, pdf, "mixed", ["boundary", "----=_Part_0_1"], None, None, None]


INNER_MESSAGE = (
    b"Date: Wed, 9 Apr 2025 17:00:00 +0100\r\n"
    b"From: Ivan <ivan@example.net>\r\n"
    b"Sender: Secretary <sec@example.net>\r\n"
    b"Reply-To: notes@example.net\r\n"
    b"To: team@example.org\r\n"
    b"Subject: Meeting notes\r\n"
    b"Message-ID: <notes-9@example.net>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="inner"\r\n'
    b"\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Notes: caf\xc3\xa9 at 10.\r\n"
    b"--inner\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<p>Notes</p>\r\n"
    b"--inner--\r\n"
)


def _forwarded(extended: bool) -> list[Value]:
    ext = EXT_NIL if extended else []
    inner_env: list[Value] = [
        "Wed, 9 Apr 2025 17:00:00 +0100", "Meeting notes",
        [_addr("Ivan", "ivan", "example.net")], [_addr("Secretary", "sec", "example.net")],
        [_addr(None, "notes", "example.net")], [_addr(None, "team", "example.org")],
        None, None, None, "<notes-9@example.net>",
    ]  # fmt: skip
    inner_body: list[Value] = [
        ["text", "plain", ["charset", "utf-8"], None, None, "8bit", 19, 1, *ext],
        ["text", "html", ["charset", "utf-8"], None, None, "7bit", 12, 1, *ext],
        "alternative",
    ]
    if extended:
        inner_body += [["boundary", "inner"], None, None, None]
    rfc822: list[Value] = [
        "message", "rfc822", None, None, "Forwarded message", "7bit", len(INNER_MESSAGE),
        inner_env, inner_body, _lines(INNER_MESSAGE),
    ]  # fmt: skip
    if extended:
        rfc822 += [None, ["inline", None], None, None]
    text: list[Value] = ["text", "plain", ["charset", "us-ascii"], None, None, "7bit", 34, 1]
    top: list[Value] = [text + ext, rfc822, "mixed"]
    return top + ([["boundary", "outer"], None, None, None] if extended else [])


@pytest.mark.parametrize("extended", [True, False])
def test_forwarded_message_rfc822(extended: bool) -> None:
    assert _lines(INNER_MESSAGE) == 20
    _, bs = _values("04-forwarded.eml", extended=extended)
    assert bs == _forwarded(extended)


def test_encoded_words_stay_encoded_in_envelope() -> None:
    env, bs = _values("05-encoded-words.eml")
    assert env[1] == (
        "=?UTF-8?B?R3LDvMOfZQ==?= =?UTF-8?Q?_aus_M=C3=BCnchen?= =?ISO-8859-1?Q?_und_Umgebung_=A4?="
    )
    assert env[2] == [_addr("=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=", "joerg", "example.de")]
    assert env[5] == [
        _addr("=?ISO-8859-1?Q?Fran=E7ois?=", "francois", "example.fr"),
        _addr("=?utf-8?B?5bGx55Sw?=", "yamada", "example.jp"),  # quotes removed
    ]
    assert bs[:8] == ["text", "plain", ["charset", "ISO-8859-1"], None, None,
                      "quoted-printable", 26, 1]  # fmt: skip


def test_utf8_headers_kept_as_utf8() -> None:
    env, bs = _values("06-utf8-headers.eml")
    assert env[1] == "会議のお知らせ — café"
    assert env[2] == [_addr("山田太郎", "taro", "例え.jp")]
    assert env[5] == [_addr("Zoë", "zoe", "example.com"),
                      _addr("Ünïcödé, Test", "test", "example.com")]  # fmt: skip
    assert env[9] == "<utf8@例え.jp>"
    assert bs[5:8] == ["8bit", len("こんにちは\r\n".encode()), 1]


def test_latin1_header_bytes_read_as_latin1() -> None:
    env, bs = _values("07-latin1-8bit.eml")
    assert env[1] == "Café crème"
    assert env[2] == [_addr("René", "rene", "example.fr")]
    assert env[9] is None
    assert bs[:8] == ["text", "plain", ["charset", "iso-8859-1"], None, None, "8bit", 8, 1]


def test_missing_headers_and_default_content_type() -> None:
    env, bs = _values("08-missing-headers.eml")
    assert env == [None, None, None, None, None, [_addr(None, "someone", "example.com")],
                   None, None, None, None]  # fmt: skip
    body = b"Just a body, no Date, From, Subject or Content-Type.\r\n"
    # RFC 2045 5.2: no Content-Type means text/plain; charset=us-ascii, 7bit.
    assert bs == ["text", "plain", ["charset", "us-ascii"], None, None, "7bit", len(body), 1,
                  *EXT_NIL]  # fmt: skip


def test_groups_routes_and_odd_addresses() -> None:
    env, _ = _values("09-groups.eml")
    assert env[2] == [_addr("Doe, Jane", "jane", "example.com")]
    assert env[3] == [_addr("Jane's Assistant", "jane.assistant", "example.com")]
    assert env[4] == [
        [None, None, "Replies", None],  # start of group: mailbox holds the group name
        _addr(None, "a", "example.com"),
        _addr("B. B.", "b", "example.com"),
        [None, None, None, None],  # end of group
        _addr(None, "c", "example.com"),
    ]
    assert env[5] == [[None, None, "undisclosed-recipients", None], [None, None, None, None]]
    assert env[6] == [
        [None, "@relay1.example,@relay2.example", "route", "example.net"],
        _addr("John Q. Public", "jqp", "example.com"),
    ]
    assert env[7] == [_addr(None, "quoted local", "example.com"),
                      _addr(None, "MAILER-DAEMON", "")]  # fmt: skip


def test_rfc2231_parameters_as_sent() -> None:
    _, bs = _values("10-rfc2231.eml")
    assert bs[0] == ["text", "plain", None, None, None, "7bit", 15, 1, *EXT_NIL]
    assert bs[1] == [
        "application", "octet-stream", ["name*", "UTF-8''%E6%97%A5%E6%9C%AC.txt"], None, None,
        "base64", 8, None,
        ["attachment", ["filename*", "UTF-8'en'%E2%82%AC%20rates%20for%202025.txt"]], None, None,
    ]  # fmt: skip
    assert bs[2] == [
        "text", "plain", ["name", "longname.txt", "charset", "UTF-8"], None, None,
        "x-uuencode", 1, 1, None, ["attachment", ["filename", "=?utf-8?q?caf=C3=A9.txt?="]],
        None, None,
    ]  # fmt: skip
    assert bs[3:] == ["mixed", ["boundary", "simple-boundary"], None, None, None]


def test_multipart_without_boundary_is_plain_text() -> None:
    body = b"--foo\r\nContent-Type: text/plain\r\n\r\nhello\r\n--foo--\r\n"
    _, bs = _values("11-no-boundary.eml")
    assert bs == ["text", "plain", ["charset", "us-ascii"], None, None, "7bit", len(body),
                  _lines(body), *EXT_NIL]  # fmt: skip


def test_unterminated_multipart_runs_to_end() -> None:
    second = (
        b"second part runs to the end\r\n--b1x this is not a boundary\r\n --b1 neither is this\r\n"
    )
    _, bs = _values("12-unterminated.eml", extended=False)
    assert bs == [
        ["text", "plain", None, None, None, "7bit", len(b"first part"), 1],
        ["text", "plain", ["charset", "utf-8"], None, None, "7bit", len(second), 3],
        "mixed",
    ]


def test_garbage_and_duplicate_headers() -> None:
    env, bs = _values("13-garbage-headers.eml")
    assert env[1] == "first subject"  # the first of duplicated fields counts
    assert env[5] == [_addr(None, "p", "example.com")]
    assert bs[:8] == ["text", "plain", ["charset", "utf-8"], None, None, "7bit",
                      len(b"body with \x00 nul\r\n"), 1]  # fmt: skip


def test_bare_lf_message() -> None:
    _, bs = _values("14-bare-lf.eml", extended=False)
    assert bs == [["text", "plain", None, None, None, "7bit", len(b"line one\nline two"), 2],
                  "mixed"]  # fmt: skip


def test_deep_nesting_is_capped() -> None:
    data = _load("15-deep.eml")
    _, bs = _values("15-deep.eml", extended=False)
    levels = 0
    node: Value = bs
    while isinstance(node, list) and isinstance(node[0], list):
        assert node[-1] == "mixed"
        levels += 1
        node = node[0]
    assert levels == 32  # multiparts at depths 0..31 are expanded
    opaque_body = data[data.index(b"--b32\r\n") : data.index(b"\r\n--b31--")]
    assert node == ["application", "octet-stream", None, None, None, "7bit", len(opaque_body)]


@pytest.mark.parametrize("name", ["16-empty-body.eml", "17-headers-only.eml"])
def test_empty_body(name: str) -> None:
    _, bs = _values(name)
    assert bs == ["text", "plain", ["charset", "us-ascii"], None, None, "7bit", 0, 0, *EXT_NIL]


def test_digest_defaults_to_message_rfc822() -> None:
    inner = b"From: a@example.org\r\nSubject: one\r\n\r\nfirst"
    _, bs = _values("18-digest.eml", extended=False)
    a = [_addr(None, "a", "example.org")]
    assert bs == [
        ["message", "rfc822", None, None, None, "7bit", len(inner),
         [None, "one", a, a, a, None, None, None, None, None],
         ["text", "plain", ["charset", "us-ascii"], None, None, "7bit", 5, 1],
         _lines(inner)],
        ["text", "plain", None, None, None, "7bit", len(b"not a message"), 1],
        "digest",
    ]  # fmt: skip
    assert _lines(inner) == 4


def test_multipart_with_zero_parts_gets_an_empty_part() -> None:
    _, bs = _values("19-empty-multipart.eml")
    empty: list[Value] = ["text", "plain", ["charset", "us-ascii"], None, None, "7bit", 0, 0]
    assert bs == [[*empty, *EXT_NIL], "mixed", ["boundary", "nothere"], None, None, None]
    assert _encode(bs).startswith('(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0')


def test_language_and_location_on_multipart() -> None:
    structure = {
        "type": "multipart", "subtype": "mixed", "parts": [], "dsp": ["inline", []],
        "lang": ["fr"], "loc": "http://x/",
    }  # fmt: skip
    value = bodystructure_value(json.dumps(structure), extended=True)
    assert value[1:] == ["mixed", None, ["inline", None], ["fr"], "http://x/"]


@pytest.mark.parametrize("text", ["[]", "42", '{"parts": [1]}', "not json"])
def test_bad_structure_json_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - JSONDecodeError is a ValueError too
        bodystructure_value(text, extended=True)


@pytest.mark.parametrize("text", ["[]", '{"a": 1}', "[1,2,3,4,5,6,7,8,9]"])
def test_bad_envelope_json_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="ten members"):
        envelope_value(text)


def test_message_global_is_shown_like_rfc822() -> None:
    data = (
        b"Content-Type: message/global\r\n\r\n"
        b"From: =?utf-8?q?x?= <\xc3\xa9@example.com>\r\nSubject: \xc3\xa9\r\n\r\nhi\r\n"
    )
    summary = summarize(data)
    e = [_addr("=?utf-8?q?x?=", "é", "example.com")]
    inner_env: list[Value] = [None, "é", e, e, e, None, None, None, None, None]
    inner_body: list[Value] = ["text", "plain", ["charset", "us-ascii"], None, None, "7bit", 4, 1]
    assert bodystructure_value(summary.bodystructure, extended=False) == [
        "message", "global", None, None, None, "7bit", len(data) - 32, inner_env, inner_body, 4,
    ]  # fmt: skip


def test_rfc3501_example_shape() -> None:
    # The BODYSTRUCTURE example of RFC 3501 7.4.2, rebuilt as a message with those sizes.
    plain = (b"x" * 50 + b"\r\n") * 22 + b"x" * 6 + b"\r\n"
    diff = (b"A" * 61 + b"\r\n") * 72 + b"A" * 16 + b"\r\n"
    data = (
        b'Content-Type: MULTIPART/MIXED; boundary="b"\r\n\r\n'
        b'--b\r\nContent-Type: TEXT/PLAIN; CHARSET="US-ASCII"\r\n'
        b"Content-Transfer-Encoding: 7BIT\r\n\r\n" + plain + b"\r\n"
        b'--b\r\nContent-Type: TEXT/PLAIN; CHARSET="US-ASCII"; NAME="cc.diff"\r\n'
        b"Content-ID: <960723163407.20117h@cac.washington.edu>\r\n"
        b"Content-Description: Compiler diff\r\nContent-Transfer-Encoding: BASE64\r\n\r\n"
        + diff
        + b"\r\n--b--\r\n"
    )
    body = bodystructure_value(summarize(data).bodystructure, extended=False)
    # As in the RFC, except that parameter names are lower-cased.
    assert _encode(body) == (
        '(("TEXT" "PLAIN" ("charset" "US-ASCII") NIL NIL "7BIT" 1152 23) '
        '("TEXT" "PLAIN" ("charset" "US-ASCII" "name" "cc.diff") '
        '"<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73) "MIXED")'
    )
