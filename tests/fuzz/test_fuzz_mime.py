"""Fuzzing the MIME parser (message/mime.py) and everything that reads its tree: the summary
(envelope, BODYSTRUCTURE, search headers), the section extractors, Content-Type and
Content-Disposition parameters (RFC 2045, RFC 2231 continuations merged) and header decoding
(RFC 2047 encoded words); the summary's ENVELOPE and BODYSTRUCTURE are also encoded as FETCH
sends them.

Inputs are MIME trees built from the grammar (nested multiparts with their boundaries,
message/rfc822 inside them, parameters split into RFC 2231 sections, encoded words in several
charsets, every transfer encoding), then mutated octet by octet. Nothing in here may raise:
the parser runs on every delivered message, so a crash there is a message nobody can read.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from posthouse.imap.bodystructure import bodystructure_value, envelope_value
from posthouse.imap.responses import encode_value
from posthouse.message.headers import decode_words, fold, split_header, unfold
from posthouse.message.mime import MAX_PARTS, Part, parse
from posthouse.message.params import (
    decode_rfc2231,
    param_raw,
    param_text,
    parse_content_type,
    parse_disposition,
)
from posthouse.message.sections import Spec, binary_size, extract, extract_binary
from posthouse.message.summary import message_text, summarize
from tests.fuzz.inputs import address_lists
from tests.fuzz.support import FUZZ, mutated

names = st.sampled_from(["charset", "name", "filename", "boundary", "format", "Title",
                         "\x00a", "a b", "x*", "é", ""])
values = st.one_of(
    st.sampled_from(["utf-8", "us-ascii", "iso-8859-1", "x-unknown", "utf-7", "\"q\\\"x\"",
                     "=?utf-8?b?w6k=?=", "a;b", "(c)", "''", "utf-8''%E2%82%AC",
                     "iso-8859-1'en'%A3", "%ZZ", "'''", "utf-16''%00", "\"\"", ""]),
    st.text(max_size=8),
)


@st.composite
def parameter(draw: st.DrawFn) -> str:
    name = draw(names)
    form = draw(st.integers(0, 3))
    if form == 0:
        return f"{name}={draw(values)}"
    if form == 1:
        return f"{name}*={draw(values)}"
    # RFC 2231 3: sections, some extended, maybe out of order, maybe with gaps or repeats
    sections = draw(st.lists(st.tuples(st.integers(0, 4), st.booleans(), values),
                             min_size=1, max_size=4))
    return "; ".join(f"{name}*{n}{'*' if ext else ''}={v}" for n, ext, v in sections)


parameters = st.lists(parameter(), max_size=4).map(lambda ps: "".join("; " + p for p in ps))
content_types = st.one_of(
    st.builds(lambda t, p: t + p, st.sampled_from([
        "text/plain", "text/html", "application/octet-stream", "image/png", "TEXT/Plain",
        "message/rfc822", "message/global", "multipart/digest", "text", "/x", "a/b/c", "",
    ]), parameters),
    st.text(max_size=30),
)
dispositions = st.builds(lambda t, p: t + p,
                         st.sampled_from(["inline", "attachment", "", "x y"]), parameters)
encodings = st.sampled_from(["7bit", "8bit", "binary", "base64", "quoted-printable",
                             "BASE64 (comment)", "x-uuencode", ""])
subjects = st.sampled_from([
    "=?utf-8?b?w6k=?= =?iso-8859-1?q?=E9?=", "=?utf-8?q?a_b?=", "=?x-bogus?b?AAA?=",
    "=?utf-8?b?!!!?=", "=?utf-16?b?2D3eAA==?=", "=??b??=", "plain", "=?utf-8*en?q?x?=",
])
bodies = st.one_of(
    st.sampled_from([b"aGVsbG8=\r\n", b"=3D=C3=A9=\r\nx\r\n", b"<p>x &amp; <b>y</b></p>",
                     b"\x00\xff\xfe", b"", b"line\r\n" * 3, b"--\r\n", b".\r\n"]),
    st.binary(max_size=30),
)


def field(name: str, value: str) -> bytes:
    return f"{name}: {value}\r\n".encode("utf-8", "surrogatepass")


def leaf_header(draw: st.DrawFn) -> bytes:
    return (field("Content-Type", draw(content_types))
            + field("Content-Transfer-Encoding", draw(encodings))
            + (field("Content-Disposition", draw(dispositions)) if draw(st.booleans()) else b"")
            + (field("Content-Language", "en, (c) de") if draw(st.booleans()) else b""))


@st.composite
def entity(draw: st.DrawFn, depth: int = 0) -> bytes:
    kind = draw(st.integers(0, 2)) if depth < 3 else 0
    if kind == 0:
        return leaf_header(draw) + b"\r\n" + draw(bodies)
    if kind == 1:
        boundary = draw(st.sampled_from(["b", "=_x", "b\"q", "a b", "é", ""]))
        sub = draw(st.sampled_from(["mixed", "alternative", "digest", "related"]))
        children = draw(st.lists(entity(depth + 1), max_size=3))
        head = field("Content-Type", f'multipart/{sub}; boundary="{boundary}"' +
                     draw(parameters))
        raw = boundary.encode("utf-8")
        body = draw(st.sampled_from([b"", b"preamble\r\n"]))
        for child in children:
            body += b"--" + raw + draw(st.sampled_from([b"\r\n", b" \t\r\n", b"\n"])) + child \
                + b"\r\n"
        body += draw(st.sampled_from([b"--" + raw + b"--\r\n", b"", b"--" + raw + b"--"]))
        return head + b"\r\n" + body
    inner = draw(message(depth + 1))
    return field("Content-Type", "message/rfc822") + b"\r\n" + inner


@st.composite
def message(draw: st.DrawFn, depth: int = 0) -> bytes:
    top = (field("From", draw(address_lists)) + field("To", draw(address_lists))
           + field("Subject", draw(subjects)) + field("Date", draw(st.sampled_from(
               ["Mon, 1 Jan 2024 10:00:00 +0100", "31 Feb 2024 25:61", "", "Tue, 2 Jan 99 x"])))
           + field("Message-ID", "<a@b>") + field("MIME-Version", "1.0"))
    return top + draw(entity(depth))


messages = st.one_of(mutated(message(), max_edits=6), st.binary(max_size=200))


def walk(part: Part) -> list[Part]:
    found = [part]
    for child in part.children:
        found += walk(child)
    if part.message is not None:
        found += walk(part.message)
    return found


def check_offsets(part: Part, start: int, end: int) -> None:
    assert start <= part.header_start <= part.body_start <= part.end <= end
    previous = part.body_start
    for child in part.children:
        assert child.header_start >= previous
        check_offsets(child, part.body_start, part.end)
        previous = child.end
    if part.message is not None:
        check_offsets(part.message, part.body_start, part.end)


def paths(root: Part) -> list[tuple[int, ...]]:
    """The section numbers of every part, as IMAP names them (RFC 9051 6.4.5)."""
    out: list[tuple[int, ...]] = [(1,)]

    def visit(part: Part, prefix: tuple[int, ...]) -> None:
        target = part.message if part.message is not None else part
        for i, child in enumerate(target.children, start=1):
            out.append((*prefix, i))
            visit(child, (*prefix, i))

    visit(root, ())
    return out[:30]


@FUZZ
@given(messages)
def test_parse_and_summarize_never_raise(data: bytes) -> None:
    root = parse(data)
    assert (root.header_start, root.end) == (0, len(data))
    check_offsets(root, 0, len(data))
    assert len(walk(root)) <= MAX_PARTS + 1
    summary = summarize(data)
    envelope = envelope_value(summary.envelope)
    assert len(envelope) == 10
    for utf8 in (False, True):  # as FETCH ENVELOPE / BODY / BODYSTRUCTURE put them on the wire
        assert encode_value(envelope, utf8=utf8).startswith(b"(")
        for extended in (False, True):
            value = bodystructure_value(summary.bodystructure, extended=extended)
            wire = encode_value(value, utf8=utf8)
            assert wire.startswith(b"(")
            assert wire.endswith(b")")
    json.dumps(summary.headers)
    assert isinstance(message_text(data), str)
    for part in walk(root):
        for name, value in part.params:
            assert name == name.lower()
            assert isinstance(param_text(part.params, name.rstrip("*")), str | None)
            assert isinstance(value, str)


@FUZZ
@given(messages, st.sampled_from(list(Spec)),
       st.lists(st.sampled_from(["subject", "from", "content-type", "x"]), max_size=2))
def test_sections_of_every_part_never_raise(data: bytes, spec: Spec, fields: list[str]) -> None:
    root = parse(data)
    for path in [(), *paths(root)]:
        assert isinstance(extract(data, root, path, spec, fields), bytes)
        if path:
            extract_binary(data, root, path)
            binary_size(data, root, path)


@FUZZ
@given(st.one_of(content_types, dispositions, mutated(parameters.map(str.encode)).map(
    lambda b: "text/plain" + b.decode("utf-8", "replace"))))
def test_parameters_parse_or_give_none(text: str) -> None:
    for parsed in (parse_content_type(text), parse_disposition(text)):
        if parsed is None:
            continue
        params = parsed[-1]
        assert isinstance(params, tuple)
        for name, value in params:
            assert name
            assert name == name.lower()
            assert isinstance(param_raw(params, name), str)
            assert isinstance(param_text(params, name.removesuffix("*")), str | None)
            if name.endswith("*"):
                assert isinstance(decode_rfc2231(value), str)


@FUZZ
@given(st.one_of(subjects, st.text(max_size=40),
                 mutated(subjects.map(str.encode)).map(lambda b: b.decode("latin-1"))))
def test_header_words_decode_and_fold(text: str) -> None:
    assert isinstance(decode_words(text), str)
    folded = fold("Subject", text)
    assert folded.endswith(b"\r\n")
    assert b"\r\n" not in unfold(folded[:-2])
    header = split_header(folded + b"\r\nbody")
    assert header.first("subject") is not None
