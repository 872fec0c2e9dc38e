"""Fuzzing the sans-IO IMAP command reader (imap/connection.py) with its literals, and the
command parsers behind it (imap/parser).

Two kinds of input:

- Well-formed command streams whose literals (``{n}``, ``{n+}``, ``~{n}``) hold arbitrary
  octets, CRLF and braces included, cut at arbitrary points (so literal announcements, the
  CRLF after them and the literal octets all straddle reads). With every literal accepted
  the reader must give back exactly the commands that were written, whatever the chunking.
- The same streams, and IMAP-looking commands, mutated octet by octet. Then the reader must
  hand out only documented events and never raise, read the same events however the input is
  cut, accept literals only up to its limits, keep at most one partial line buffered between
  reads, and every command it emits must parse or raise ParseError (never anything else).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from posthouse.imap import commands as c
from posthouse.imap.connection import ImapConnection
from posthouse.imap.events import (
    BadInput,
    IdleDone,
    ImapEvent,
    LiteralArg,
    NeedLiteral,
    RawCommand,
    Segment,
)
from posthouse.imap.parser import parse_command
from posthouse.imap.replies import ParseError
from posthouse.sasl.events import AuthResponse
from posthouse.wire.events import NEED_DATA
from tests.fuzz.support import FUZZ, bytewise, cuts, mutated, split_at, stream

MAX_LINE, MAX_LITERAL, MAX_COMMAND = 200, 1000, 4000
ACCEPT_UP_TO = 300  # the scripted session refuses larger literals itself

TYPED = (RawCommand, NeedLiteral, BadInput, IdleDone, AuthResponse)
NAMES = ["APPEND", "LOGIN", "SELECT", "FETCH", "UID", "SEARCH", "STORE", "LIST", "CREATE",
         "RENAME", "COPY", "MOVE", "STATUS", "NOOP", "IDLE", "AUTHENTICATE", "ENABLE", "X-Y"]

tags = st.text(alphabet="abcXYZ0189.-_!#$&'/:;<=>?@[]^`|~", min_size=1, max_size=6)
texts = st.text(alphabet="abcFLAGSRFC822 ()[]<>.*%:,0123456789\\^$", max_size=20).map(
    lambda t: t.replace("\\", ""))  # no quote, no brace: nothing here can announce a literal
literal_data = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\r\n", b"{3}\r\n", b"{2+}\r\nab", b"a NOOP\r\n", b"\n", b"}", b""]),
)


@dataclass(frozen=True)
class Written:
    """A command as put on the wire, and what the reader must make of it."""

    wire: bytes
    expected: RawCommand


@st.composite
def well_formed(draw: st.DrawFn) -> Written:
    tag = draw(tags)
    # Not IDLE or AUTHENTICATE: the line after them is read in a mode of its own.
    name = draw(st.sampled_from([n for n in NAMES if n not in ("IDLE", "AUTHENTICATE")]))
    literals = draw(st.lists(st.tuples(literal_data, st.sampled_from(["{}", "{+}", "~{}"])),
                             max_size=3))
    wire = f"{tag} {name}".encode()
    args: list[Segment] = []
    for data, form in literals:
        text = b" " + draw(texts).encode()
        marker = form.replace("{", "{" + str(len(data))).encode()
        wire += text + marker + b"\r\n" + data
        args += [text, LiteralArg(data, binary=form.startswith("~"))]
    last = draw(texts).encode()
    last = b" " + last if last and not args else last
    wire += last + b"\r\n"
    return Written(wire, RawCommand(tag, name, (*args, last)))


imap_commands = st.sampled_from([
    b"a LOGIN ann \"pass word\"\r\n", b"b SELECT INBOX\r\n", b"c FETCH 1:* (FLAGS BODY[])\r\n",
    b"d UID FETCH 1,3:5 (BODY.PEEK[HEADER.FIELDS (From)]<0.10>)\r\n",
    b"e APPEND INBOX (\\Seen) {5+}\r\nhello\r\n", b"f SEARCH OR FROM x SUBJECT y\r\n",
    b"g STORE 1 +FLAGS (\\Deleted)\r\n", b"h LIST \"\" *\r\n", b"i IDLE\r\nDONE\r\n",
    b"j AUTHENTICATE PLAIN\r\nAGFubgBwdw==\r\n", b"k LOGIN {3}\r\nann {4}\r\npass\r\n",
    b"l APPEND x ~{4}\r\n\x00\x01\r\n\r\n", b"m UID MOVE 1 Trash\r\n", b"n ENABLE UTF8=ACCEPT\r\n",
    b"o STATUS INBOX (MESSAGES UIDNEXT)\r\n", b"p RENAME a b\r\n", b"q COPY 2 &AOk-\r\n",
    b"r FETCH 1 BINARY[1]\r\n", b"s SEARCH CHARSET UTF-8 TEXT {2+}\r\n\xc3\xa9\r\n",
])
fuzzed = st.one_of(
    mutated(st.lists(well_formed(), max_size=4).map(lambda ws: b"".join(w.wire for w in ws)),
            max_edits=4),
    stream(st.one_of(imap_commands, mutated(imap_commands, max_edits=3)), max_pieces=10),
)


def read(chunks: list[bytes], *, nonsync_max: int | None,
         accept_all: bool = False) -> list[ImapEvent]:
    """Feed the chunks to a reader, acting as the session does; return the events."""
    reader = ImapConnection(MAX_LINE, MAX_LITERAL, MAX_COMMAND, nonsync_max=nonsync_max)
    events: list[ImapEvent] = []
    for chunk in chunks:
        reader.receive_data(chunk)
        while (event := reader.next_event()) is not NEED_DATA:
            assert isinstance(event, TYPED), event
            events.append(event)
            if isinstance(event, NeedLiteral):
                assert event.size <= MAX_LITERAL
                if accept_all or event.size <= ACCEPT_UP_TO:
                    reader.accept_literal()
                else:
                    reader.reject_literal()
            elif isinstance(event, RawCommand):
                check_command(event)
                if event.name == "IDLE":
                    reader.expect_idle_done()
                elif event.name == "AUTHENTICATE":
                    reader.expect_auth_line()
        assert reader.buffered <= MAX_LINE + 1, "one partial line at most between reads"
    return events


def check_command(raw: RawCommand) -> None:
    assert raw.args
    assert not isinstance(raw.args[0], LiteralArg)
    assert not isinstance(raw.args[-1], LiteralArg)
    size = 0
    for arg in raw.args:
        if isinstance(arg, LiteralArg):
            assert len(arg.data) <= ACCEPT_UP_TO
            size += len(arg.data)
        else:
            assert b"\n" not in arg
            size += len(arg)
    assert size <= MAX_COMMAND
    check_parses(raw)


def check_parses(raw: RawCommand) -> None:
    for utf8 in (False, True):
        try:
            parsed = parse_command(raw, utf8=utf8)
        except ParseError:
            continue
        assert isinstance(parsed, c.ImapCommand)


@FUZZ
@given(st.lists(well_formed(), min_size=1, max_size=5), cuts,
       st.sampled_from([None, 16]))
def test_well_formed_commands_come_back_exactly(written: list[Written], points: list[int],
                                                nonsync_max: int | None) -> None:
    data = b"".join(w.wire for w in written)
    expected = [w.expected for w in written]
    for chunks in ([data], split_at(data, points), bytewise(data)):
        events = read(chunks, nonsync_max=nonsync_max, accept_all=True)
        commands = [e for e in events if isinstance(e, RawCommand)]
        refused = [e for e in events if isinstance(e, BadInput)]
        big = [w for w in written if nonsync_max is not None and any(
            isinstance(a, LiteralArg) and len(a.data) > nonsync_max and b"+}" in w.wire
            for a in w.expected.args)]
        if not big:
            assert commands == expected
            assert refused == []
        else:
            # LITERAL-: a large {n+} is refused with BAD [TOOBIG] and skipped up to the end
            # of a line that announces no further {n+}. A client that pipelines a {n} after
            # it without waiting for "+" has its octets read as new lines, as it asked for.
            assert len([e for e in refused if e.code is not None]) <= len(big)
        need = [e for e in events if isinstance(e, NeedLiteral)]
        assert all(n.tag in {w.expected.tag for w in written} for n in need)


@FUZZ
@given(fuzzed, cuts, st.sampled_from([None, 16]))
def test_mutated_input_any_chunking(data: bytes, points: list[int],
                                    nonsync_max: int | None) -> None:
    whole = read([data], nonsync_max=nonsync_max)
    assert read(split_at(data, points), nonsync_max=nonsync_max) == whole
    assert read(bytewise(data), nonsync_max=nonsync_max) == whole


@FUZZ
@given(st.sampled_from(NAMES), st.lists(st.one_of(
    mutated(st.sampled_from([b" 1:* (FLAGS)", b" INBOX", b" (\\Seen) \"1-Jan-2024 00:00:00 +0000\"",
                             b" OR FROM a NOT SEEN", b" 1 +FLAGS.SILENT (x)", b" \"\" %",
                             b" PLAIN =", b" FETCH 1 BODY[1.2.MIME]<1.2>", b" MOVE 1:3 a"]),
            max_edits=3),
    st.builds(LiteralArg, st.binary(max_size=8), st.booleans()),
), min_size=1, max_size=4))
def test_parsers_parse_or_raise_parse_error(name: str, pieces: list[bytes | LiteralArg]) -> None:
    args: list[Segment] = [b""]  # text and literals alternate, text first and last
    for piece in pieces:
        last = args[-1]
        if isinstance(piece, LiteralArg):
            args += [piece] if not isinstance(last, LiteralArg) else [b"", piece]
        elif isinstance(last, LiteralArg):
            args.append(piece)
        else:
            args[-1] = last + piece
    if isinstance(args[-1], LiteralArg):
        args.append(b"")
    check_parses(RawCommand("t", name, tuple(args)))
