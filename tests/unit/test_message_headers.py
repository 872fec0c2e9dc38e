"""Header splitting, unfolding, folding and RFC 2047 decoding."""

from __future__ import annotations

import pytest

from posthouse.message.headers import (
    decode_base64,
    decode_charset,
    decode_words,
    decoded_value,
    field_text,
    fold,
    split_header,
    unfold,
)


def test_split_header_fields_offsets_and_blank_line() -> None:
    data = b"Subject: a\r\n b\r\nTo: x@y\r\n\r\nbody"
    header = split_header(data)
    assert [f.name for f in header.fields] == ["Subject", "To"]
    assert header.fields[0].raw == b"Subject: a\r\n b\r\n"
    assert header.fields[0].value == b" a\r\n b"
    assert header.body_start == data.index(b"body")
    assert header.has_blank_line


def test_split_header_without_blank_line_runs_to_end() -> None:
    header = split_header(b"A: 1\r\nB: 2")
    assert header.body_start == len(b"A: 1\r\nB: 2")
    assert not header.has_blank_line
    assert [f.raw for f in header.fields] == [b"A: 1\r\n", b"B: 2"]


def test_split_header_starting_with_blank_line() -> None:
    header = split_header(b"\r\nbody")
    assert header.fields == ()
    assert header.body_start == 2


def test_split_header_respects_bounds() -> None:
    data = b"junk A: 1\r\n\r\nbody"
    header = split_header(data, 5, 11)
    assert [f.name for f in header.fields] == ["A"]
    assert header.body_start == 11
    assert not header.has_blank_line


@pytest.mark.parametrize(
    ("line", "name"),
    [
        (b"no colon here\r\n", ""),
        (b": empty name\r\n", ""),
        (b"Bad Name: x\r\n", ""),
        (b"Subject : obsolete space\r\n", "Subject"),  # RFC 5322 4.5.3
        (b"X-\xff: eight bit\r\n", ""),
        (b" leading continuation\r\n", ""),
    ],
)
def test_garbage_lines_are_nameless_fields(line: bytes, name: str) -> None:
    header = split_header(line + b"\r\n")
    assert len(header.fields) == 1
    assert header.fields[0].name == name
    assert header.fields[0].raw == line


def test_bare_lf_header() -> None:
    header = split_header(b"A: 1\n b\nC: 2\n\nbody")
    assert [f.raw for f in header.fields] == [b"A: 1\n b\n", b"C: 2\n"]
    assert field_text(header.fields[0]) == "1 b"
    assert header.body_start == len(b"A: 1\n b\nC: 2\n\n")


def test_duplicates_first_wins_and_get_all() -> None:
    header = split_header(b"Subject: one\r\nsubject: two\r\n\r\n")
    first = header.first("SUBJECT")
    assert first is not None
    assert field_text(first) == "one"
    assert [field_text(f) for f in header.get_all("subject")] == ["one", "two"]
    assert header.first("to") is None


def test_unfold_keeps_whitespace_removes_line_breaks() -> None:
    assert unfold(b"a\r\n b\r\n\tc\n d") == b"a b\tc d"
    assert unfold(b"a\r\nb") == b"a\r\nb"  # not a fold: no whitespace follows


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=", "Jörg Müller"),
        ("=?iso-8859-1?q?Fran=E7ois?=", "François"),
        ("=?UTF-8?B?R3LDvMOfZQ==?=", "Grüße"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # RFC 2047 6.2: whitespace between dropped
        ("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab"),
        ("=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b"),
        ("=?utf-8?b?ww==?= =?utf-8?b?qQ==?=", "é"),  # one character split over two words
        ("=?UTF-8*en?Q?hi?=", "hi"),  # RFC 2231 5 language suffix
        ("plain text", "plain text"),
        ("=?utf-8?x?abc?=", "=?utf-8?x?abc?="),  # unknown encoding: left alone
        ("=?utf-8?b?###?=", ""),  # garbage base64 decodes to nothing, not an error
        ("=?no-such-charset?q?ok?=", "ok"),
        ("=?zlib_codec?q?ok?=", "ok"),  # not a text codec: falls back to UTF-8
        ("=?utf-8?q?broken", "=?utf-8?q?broken"),
    ],
)
def test_decode_words(text: str, decoded: str) -> None:
    assert decode_words(text) == decoded


def test_decoded_value_unfolds_decodes_and_cleans() -> None:
    header = split_header(b"Subject: =?utf-8?q?caf=C3=A9?=\r\n =?utf-8?q?_cr=C3=A8me?= \x00x\r\n")
    assert decoded_value(header.fields[0]) == "café crème x"


@pytest.mark.parametrize(
    ("data", "decoded"),
    [
        (b"aGVsbG8=", b"hello"),
        (b"aGVs\r\nbG8=\r\n", b"hello"),
        (b"aGVsbG8", b"hello"),  # missing padding repaired
        (b"aGVsbG8=aGVsbG8=", b"hellohello"),  # concatenated encodings
        (b"a", b""),
        (b"!!!", b""),
        (b"", b""),
    ],
)
def test_decode_base64(data: bytes, decoded: bytes) -> None:
    assert decode_base64(data) == decoded


def test_decode_charset_fallbacks() -> None:
    assert decode_charset(b"caf\xc3\xa9", "us-ascii") == "café"  # ASCII read as UTF-8
    assert decode_charset(b"caf\xe9", '"ISO-8859-1"') == "café"
    assert decode_charset(b"\xff", "utf-8") == "\ufffd"
    assert decode_charset(b"a\\ud83d", "unicode_escape") == "a?"  # no lone surrogates


def test_fold_short_and_long() -> None:
    assert fold("Subject", "hello world") == b"Subject: hello world\r\n"
    value = " ".join(["word"] * 30)
    folded = fold("X-Long", value, width=40)
    lines = folded.split(b"\r\n")[:-1]
    assert all(len(line) <= 40 for line in lines)
    assert lines[1].startswith(b" ")
    assert unfold(folded.rstrip(b"\r\n")) == b"X-Long: " + value.encode()


def test_fold_keeps_overlong_words_whole() -> None:
    word = "x" * 100
    assert fold("A", word, width=20) == b"A: " + word.encode() + b"\r\n"
    assert fold("A", "b " + word, width=20) == b"A: b\r\n " + word.encode() + b"\r\n"
