"""SMTP smuggling (CVE-2023-51764/51765/51766 class): a security regression file.

An attacker hides a second message behind an end-of-data look-alike ("\\n.\\n", "\\r.\\r", ...)
that a downstream server might split off. The core must: end DATA only at <CRLF>.<CRLF>,
never split the message at a bare CR or LF, never read anything hidden in the content as a
command, and refuse the whole message (550 5.6.0) once the real end arrives.
"""

from __future__ import annotations

import random

import pytest

from posthouse.smtp.connection import SmtpServerConnection
from posthouse.smtp.data import DataReader
from posthouse.smtp.events import MailFrom, MessageComplete, RcptTo, Rejected
from tests.unit.test_smtp_support import CONFIG, bytewise, run

START = b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
SMUGGLED = (b"MAIL FROM:<admin@victim.example>\r\nRCPT TO:<x@victim.example>\r\nDATA\r\n"
            b"From: admin@victim.example\r\n\r\nforged\r\n")

# Each fake end-of-data sequence, with a real message around it.
FAKE_ENDS = {
    "lf-dot-lf": b"\n.\n",
    "cr-dot-cr": b"\r.\r",
    "lf-dot-crlf": b"\n.\r\n",
    "crlf-dot-lf": b"\r\n.\n",
    "crlf-dot-cr": b"\r\n.\r",
    "cr-dot-crlf": b"\r.\r\n",
    "crlf-dot-crcrlf": b"\r\n.\r\r\n",
    "lf-dot-lf-dot-crlf": b"\n.\n.\r\n",
}


def _payloads() -> list[tuple[str, bytes]]:
    out = [(name, b"Subject: hi\r\n\r\nbody" + fake + SMUGGLED) for name, fake in FAKE_ENDS.items()]
    out.append(("lf-dot-lf-at-start", b".\n" + SMUGGLED))
    out.append(("lf-dot-crlf-at-start", b".\n.\r\n" + SMUGGLED))
    out.append(("bare-lf-line", b"a\nb\r\n"))
    out.append(("bare-cr-line", b"a\rb\r\n"))
    out.append(("trailing-bare-cr", b"a\r\r\n"))
    return out


PAYLOADS = _payloads()


def _chunkings(data: bytes) -> list[list[bytes]]:
    rng = random.Random(len(data))  # deterministic "arbitrary" chunk boundaries
    cuts = []
    for _ in range(5):
        points = sorted(rng.sample(range(1, len(data)), k=min(6, len(data) - 1)))
        cuts.append([data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)])
    return [[data], bytewise(data), *cuts]


@pytest.mark.parametrize(("name", "payload"), PAYLOADS, ids=[n for n, _ in PAYLOADS])
def test_fake_end_never_ends_or_splits_the_message(name: str, payload: bytes) -> None:
    wire = START + payload + b"\r\n.\r\nQUIT\r\n"
    for chunks in _chunkings(wire):
        conn = SmtpServerConnection(CONFIG)
        out = run(conn, chunks)
        # Exactly one MAIL and one RCPT: nothing from inside the content became a command.
        assert len(out.of(MailFrom)) == 1
        assert len(out.of(RcptTo)) == 1
        assert not out.of(MessageComplete)
        rejected = out.of(Rejected)
        assert len(rejected) == 1, name
        assert isinstance(rejected[0], Rejected)
        assert (rejected[0].reply.code, rejected[0].reply.enhanced) == (550, "5.6.0")
        assert out.codes == [250, 250, 250, 354, 550, 221]


@pytest.mark.parametrize("fake", list(FAKE_ENDS.values()), ids=list(FAKE_ENDS))
def test_reader_flags_bare_newlines(fake: bytes) -> None:
    reader = DataReader(10_000)
    assert reader.feed(b"x" + fake + b"y") is None  # not the end
    assert reader.bare_newline
    assert reader.feed(b"\r\n.\r\n") == b""


def test_dot_lf_at_start_is_not_the_end() -> None:
    reader = DataReader(100)
    assert reader.feed(b".\n") is None
    assert reader.bare_newline


def test_bare_newline_checked_even_when_too_big() -> None:
    reader = DataReader(5)
    reader.feed(b"0123456789\n.\n")
    assert reader.feed(b"\r\n.\r\n") == b""
    assert reader.too_big
    assert reader.bare_newline


def test_real_end_after_a_bare_lf_still_ends_and_rejects_the_message() -> None:
    # "\n.\r\n" is content, but the CRLF in it does start a line, so a following ".\r\n"
    # is the real end. A correctly dot-stuffing sender can never produce that by accident.
    conn = SmtpServerConnection(CONFIG)
    out = run(conn, [START + b"x\n.\r\n.\r\nNOOP\r\n"])
    assert out.codes == [250, 250, 250, 354, 550, 250]


def test_clean_message_is_not_flagged() -> None:
    reader = DataReader(100)
    assert reader.feed(b"a\r\n\r\nb\r\n.\r\n") == b""
    assert not reader.bare_newline


def test_bare_lf_command_lines_are_refused() -> None:
    # RFC 5321 2.3.8: a command ended by a bare LF is not a command.
    conn = SmtpServerConnection(CONFIG)
    out = run(conn, [b"EHLO c.example\nMAIL FROM:<a@b.example>\r\n"])
    assert out.codes == [500, 503]
    assert not out.of(MailFrom)
