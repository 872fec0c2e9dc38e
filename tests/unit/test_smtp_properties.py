"""Hypothesis properties of the SMTP cores.

- Any bytes fed to the server core give only events (never an exception), and the events and
  the bytes written are the same whether the input comes whole, byte by byte, or in random
  chunks.
- The client's reply reader: any bytes give replies or a RemoteProtocolError, independent of
  chunking.
- What the client sends after a 354 is read back by the server as the same message.
"""

from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from posthouse.smtp.config import SmtpConfig
from posthouse.smtp.connection import SmtpServerConnection
from posthouse.smtp.data import DataReader
from posthouse.smtp.grammar import Address, parse_path
from posthouse.smtp.params import xtext_decode, xtext_encode
from posthouse.smtp.replies import Reply
from posthouse.smtp.reply_reader import ReplyReader
from posthouse.wire import RemoteProtocolError
from posthouse.wire.transparency import dot_stuff, normalize_newlines
from tests.unit.test_smtp_support import Transcript, bytewise, no_tls_reply, run

SMALL = SmtpConfig("mx.example.org", max_line=512, max_message_size=64, max_recipients=3,
                     auth=True, auth_requires_tls=False, starttls=True)

FRAGMENTS = [
    b"EHLO c\r\n", b"HELO c\r\n", b"MAIL FROM:<a@b>\r\n", b"MAIL FROM:<> SIZE=10 BODY=8BITMIME\r\n",
    b"MAIL FROM:<\xc3\xbc@b> SMTPUTF8\r\n", b"RCPT TO:<c@d> NOTIFY=NEVER\r\n", b"RCPT TO:<c@d>\r\n",
    b"DATA\r\n", b".\r\n", b"\r\n.\r\n", b"\n.\n", b"\r", b"\n", b"..", b"\r\n", b"BDAT 3\r\n",
    b"BDAT 2 LAST\r\n", b"BDAT 0 LAST\r\n", b"BDAT x\r\n", b"AUTH LOGIN\r\n", b"AUTH PLAIN =\r\n",
    b"*\r\n", b"dXNlcg==\r\n", b"RSET\r\n", b"NOOP\r\n", b"QUIT\r\n", b"STARTTLS\r\n",
    b"VRFY x\r\n", b"HELP\r\n", b"x" * 300, b"\xff\x00",
]

smtp_input = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=12)), max_size=40,
).map(b"".join)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in itertools.pairwise([0, *points, len(data)]) if b > a]


def server_run(chunks: list[bytes]) -> Transcript:
    return run(SmtpServerConnection(SMALL), chunks, no_tls_reply, eof=True)


@settings(max_examples=300, deadline=None)
@given(smtp_input, st.lists(st.integers(min_value=0), max_size=12))
def test_server_any_input_any_chunking_same_events(data: bytes, cuts: list[int]) -> None:
    whole = server_run([data])
    assert whole.events, "EOF always ends in Closed"
    for chunks in (bytewise(data), split_at(data, cuts)):
        other = server_run(chunks)
        assert other.events == whole.events
        assert other.output == whole.output


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=8))
def test_server_random_bytes_after_a_transaction(data: bytes, cuts: list[int]) -> None:
    prefix = b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"
    whole = server_run([prefix + data])
    assert server_run(split_at(prefix + data, cuts)).events == whole.events


def normalised(content: bytes) -> bytes:
    text = re.sub(rb"\r\n|\r|\n", b"\r\n", content)
    return text + b"\r\n" if text and not text.endswith(b"\r\n") else text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"a", b"..", b"\x00"]),
                max_size=40).map(b"".join), st.lists(st.integers(min_value=0), max_size=8))
def test_client_stuffing_round_trips_through_the_server_reader(content: bytes,
                                                               cuts: list[int]) -> None:
    wire = dot_stuff(normalize_newlines(content)) + b"NEXT"
    reader = DataReader(10_000)
    leftover = None
    chunks = split_at(wire, cuts)
    for i, chunk in enumerate(chunks):
        leftover = reader.feed(chunk)
        if leftover is not None:
            leftover += b"".join(chunks[i + 1 :])
            break
    assert leftover == b"NEXT"
    assert not reader.bare_newline
    assert reader.content == normalised(content)


data_input = st.lists(
    st.one_of(st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"a", b"..", b"\r\n.\r\n"]),
              st.binary(max_size=4)),
    max_size=60,
).map(b"".join)


def reference_data(data: bytes) -> tuple[bool, bytes, bool, bytes] | None:
    """A slow octet-by-octet model of RFC 5321 4.5.2 with the bare CR/LF rule."""
    out, bare, line_start, i = bytearray(), False, True, 0
    while i < len(data):
        if line_start and data[i : i + 3] == b".\r\n":
            return True, bytes(out), bare, data[i + 3 :]
        if line_start and data[i : i + 1] == b".":
            i += 1
        line_start = False
        if data[i : i + 2] == b"\r\n":
            out += b"\r\n"
            line_start = True
            i += 2
            continue
        bare = bare or data[i : i + 1] in (b"\r", b"\n")
        out += data[i : i + 1]
        i += 1
    return None


@settings(max_examples=300, deadline=None)
@given(data_input)
def test_data_reader_matches_the_reference_model(data: bytes) -> None:
    reader = DataReader(10_000)
    rest = reader.feed(data)
    expected = reference_data(data)
    if expected is None:
        assert rest is None
    else:
        assert (reader.done, reader.content, reader.bare_newline, rest) == expected


@settings(max_examples=300, deadline=None)
@given(data_input, st.lists(st.integers(min_value=0), max_size=8))
def test_data_reader_is_chunking_independent(data: bytes, cuts: list[int]) -> None:
    def read(chunks: list[bytes]) -> tuple[bool, bool, bool, bytes, bytes | None]:
        reader = DataReader(50)
        rest = None
        for i, chunk in enumerate(chunks):
            rest = reader.feed(chunk)
            if rest is not None:
                rest += b"".join(chunks[i + 1 :])
                break
        return reader.done, reader.too_big, reader.bare_newline, reader.content, rest

    assert read(split_at(data, cuts)) == read([data]) == read(bytewise(data))


reply_input = st.lists(
    st.one_of(st.sampled_from([b"250", b"-", b" ", b"2.1.5 ", b"\r\n", b"\n", b"550-5.1.1 ",
                               b"220 ok\r\n", b"x"]), st.binary(max_size=5)),
    max_size=40,
).map(b"".join)


def read_replies(chunks: list[bytes]) -> tuple[list[Reply], bool]:
    reader = ReplyReader(max_line=64, max_lines=5)
    out: list[Reply] = []
    try:
        for chunk in chunks:
            reader.feed(chunk)
            while (reply := reader.next_reply()) is not None:
                out.append(reply)
    except RemoteProtocolError:
        return out, True
    return out, False


@settings(max_examples=300, deadline=None)
@given(reply_input, st.lists(st.integers(min_value=0), max_size=8))
def test_reply_reader_any_input_any_chunking(data: bytes, cuts: list[int]) -> None:
    whole = read_replies([data])
    assert read_replies(bytewise(data)) == whole
    assert read_replies(split_at(data, cuts)) == whole


local_parts = st.text(
    alphabet=st.one_of(st.characters(min_codepoint=32, max_codepoint=126),
                       st.sampled_from("éü用户")),
    max_size=20,
)
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
domains = st.lists(labels, min_size=1, max_size=4).map(".".join)


@given(local_parts, domains)
def test_address_text_parses_back(local: str, domain: str) -> None:
    address = Address(local, domain)
    parsed, end = parse_path(f"<{address.text}>")
    assert parsed == address
    assert end == len(address.text) + 2


@given(st.text(max_size=50))
def test_xtext_round_trip(text: str) -> None:
    encoded = xtext_encode(text)
    assert encoded.isascii()
    assert " " not in encoded
    assert "=" not in encoded
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return
    assert xtext_decode(encoded) == text
