"""Properties: parsing, summarizing and extracting never raise, and offsets stay inside."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from posthouse.imap.bodystructure import bodystructure_value, envelope_value
from posthouse.message.address import parse_addresses
from posthouse.message.headers import decode_words
from posthouse.message.mime import Part, parse
from posthouse.message.params import parse_content_type, parse_disposition
from posthouse.message.sections import Spec, binary_size, extract, extract_binary
from posthouse.message.summary import summarize

FRAGMENTS = [
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b'Content-Type: multipart/alternative; boundary="c"\r\n',
    b"Content-Type: multipart/digest; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: text/html; charset*0*=utf-8''%C3; charset*1=x\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC\r\n",
    b"Subject: =?utf-8?b?w6k=?= =?iso-8859-1?q?=E9?=\r\n",
    b'From: a <b@c>, g: d@e;, (c) "q\\" x" <@r:f@g>\r\n',
    b"To: undisclosed-recipients:;\r\n",
    b" folded continuation\r\n",
    b"no colon line\r\n",
    b"--b\r\n",
    b"--b--\r\n",
    b"--c\r\n",
    b"--c--\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"=?",
    b"<p>x</p>",
    b"aGVsbG8=\r\n",
    b"=3D=\r\n",
    b"\x00\xff\xc3",
]

messages = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=12)), max_size=40).map(
    b"".join
)
paths = st.lists(st.integers(min_value=-1, max_value=4), max_size=4).map(tuple)
field_names = st.lists(st.sampled_from(["subject", "from", "to", "content-type", "x"]))


def _walk(part: Part) -> list[Part]:
    found = [part]
    for child in part.children:
        found += _walk(child)
    if part.message is not None:
        found += _walk(part.message)
    return found


def _check_offsets(part: Part, start: int, end: int) -> None:
    assert start <= part.header_start <= part.body_start <= part.end <= end
    previous = part.body_start
    for child in part.children:
        assert child.header_start >= previous  # children are in order, never overlapping
        _check_offsets(child, part.body_start, part.end)
        previous = child.end
    if part.message is not None:
        _check_offsets(part.message, part.body_start, part.end)


@settings(max_examples=300)
@given(st.one_of(messages, st.binary(max_size=300)))
def test_summarize_never_raises_and_json_is_usable(data: bytes) -> None:
    summary = summarize(data)
    assert len(envelope_value(summary.envelope)) == 10
    assert isinstance(bodystructure_value(summary.bodystructure, extended=True), list)
    assert isinstance(bodystructure_value(summary.bodystructure, extended=False), list)
    assert all(name == name.lower() and name for name in summary.headers)
    json.dumps(summary.headers)


@settings(max_examples=300)
@given(st.one_of(messages, st.binary(max_size=300)))
def test_part_offsets_lie_within_the_message(data: bytes) -> None:
    root = parse(data)
    assert (root.header_start, root.end) == (0, len(data))
    _check_offsets(root, 0, len(data))
    assert len(_walk(root)) <= 1000


@settings(max_examples=300)
@given(messages, paths, st.sampled_from(list(Spec)), field_names)
def test_section_extractors_never_raise(
    data: bytes, path: tuple[int, ...], spec: Spec, names: list[str]
) -> None:
    root = parse(data)
    content = extract(data, root, path, spec, names)
    assert isinstance(content, bytes)
    if spec in (Spec.BODY, Spec.HEADER, Spec.TEXT, Spec.MIME):
        assert len(content) <= len(data)
    extract_binary(data, root, path)
    binary_size(data, root, path)


@given(messages)
def test_header_and_text_make_the_message(data: bytes) -> None:
    root = parse(data)
    header = extract(data, root, (), Spec.HEADER)
    assert header + extract(data, root, (), Spec.TEXT) == data
    assert extract(data, root, ()) == data


@given(st.text(max_size=200))
def test_text_helpers_never_raise(text: str) -> None:
    decode_words(text)
    parse_addresses(text)
    parse_content_type(text)
    parse_disposition(text)
