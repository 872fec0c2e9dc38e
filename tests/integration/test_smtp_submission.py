"""Submission (587 STARTTLS, 465 implicit TLS) with smtplib and aiosmtplib, end to end.

Every route a recipient can take (user, alias with two targets, plus-address, catch-all) puts
the message ONCE into the right INBOX, byte for byte as sent apart from the trace fields
prepended at delivery (RFC 5321 4.4) and the Date / Message-ID a submission server adds when
they are missing (RFC 6409 8.2, 8.3).
"""

from __future__ import annotations

import re
import smtplib
from email.utils import parsedate_to_datetime

import pytest

from tests.support.server import ServerThread
from tests.support.smtp_wire import (
    CLIENTS,
    SUBMISSION_LISTENERS,
    Outgoing,
    split_message,
    strip_trace,
    submit,
    trace_fields,
)

ANN, BOB, CAROL = "ann@example.test", "bob@example.test", "carol@example.test"
TEAM = "team@example.test"  # alias -> ann, bob

MATRIX = [(c, listener) for c in CLIENTS for listener in SUBMISSION_LISTENERS]


# The server must log no ERROR during any test of this module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_server_errors")


def message(n: int, *, date: bool = True, message_id: bool = True) -> bytes:
    """A CRLF message with a folded header, dot lines, an empty line and trailing spaces."""
    head = [b"From: Ann <ann@example.test>", b"To: Team <team@example.test>",
            b"Subject: submission test " + str(n).encode(),
            b"X-Folded: first part,\r\n\tsecond part"]
    if date:
        head.append(b"Date: Tue, 03 Feb 2026 10:00:00 +0100")
    if message_id:
        head.append(b"Message-ID: <m" + str(n).encode() + b"@client.test>")
    body = (b"Hello.\r\n.a line that starts with a dot\r\n..two dots\r\n.\r\n\r\n"
            b"trailing spaces   \r\n\tand a tab\r\nlast line\r\n")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@pytest.fixture
def routes(server: ServerThread) -> ServerThread:
    """ann, bob, carol; team@ -> ann, bob; the catch-all of example.test -> carol."""
    for user in (ANN, BOB, CAROL):
        server.add_user(user)
    server.call(server.store.add_alias(TEAM, [ANN, BOB]))
    server.call(server.store.set_catchall("example.test", CAROL))
    return server


def assert_submitted(stored: bytes, sent: bytes) -> None:
    """stored == trace + sent, with only a missing Date / Message-ID added after the header
    fields the client sent (RFC 6409 8)."""
    got = strip_trace(stored)
    sent_head, sent_body = split_message(sent)
    got_head, got_body = split_message(got)
    assert got_body == sent_body
    assert got_head.startswith(sent_head)
    added = got_head[len(sent_head):]
    fields = re.findall(rb"([A-Za-z-]+): ([^\r\n]*)\r\n", added)
    assert b"".join(n + b": " + v + b"\r\n" for n, v in fields) == added
    names = [n.lower() for n, _ in fields]
    expected = ([b"date"] if b"\r\nDate:" not in b"\r\n" + sent_head else []) + (
        [b"message-id"] if b"\r\nMessage-ID:" not in b"\r\n" + sent_head else [])
    assert names == expected
    for name, value in fields:
        if name.lower() == b"date":
            assert parsedate_to_datetime(value.decode()).tzinfo is not None
        else:
            assert re.fullmatch(rb"<[!-;=?-~]+@mx\.example\.test>", value), value


@pytest.mark.parametrize(("client", "listener"), MATRIX)
def test_every_route_delivers_once_and_byte_exact(routes: ServerThread, client: str,
                                                  listener: str) -> None:
    m = [message(n) for n in range(6)]
    submit(routes, client, listener, ANN, [
        Outgoing((ANN,), m[0]),                          # a local user
        Outgoing((TEAM,), m[1]),                         # alias with two targets
        Outgoing(("bob+lists@example.test",), m[2]),     # plus-address
        Outgoing(("nobody@example.test",), m[3]),        # catch-all
        # every way of naming ann at once: she still gets one copy
        Outgoing((ANN, TEAM, "ann+x@example.test", "Ann@Example.TEST"), m[4]),
        Outgoing(("Bob@EXAMPLE.test",), m[5]),           # local parts match case-insensitively
    ])
    expected = {ANN: [m[0], m[1], m[4]], BOB: [m[1], m[2], m[4], m[5]], CAROL: [m[3]]}
    for user, sent in expected.items():
        stored = routes.inbox(user)
        assert len(stored) == len(sent), user
        for got, want in zip(stored, sent, strict=True):
            assert strip_trace(got) == want


@pytest.mark.parametrize(("client", "listener"), MATRIX)
def test_date_and_message_id_added_only_when_missing(routes: ServerThread, client: str,
                                                     listener: str) -> None:
    sent = [message(1), message(2, date=False), message(3, message_id=False),
            message(4, date=False, message_id=False)]
    submit(routes, client, listener, ANN, [Outgoing((BOB,), data) for data in sent])
    stored = routes.inbox(BOB)
    assert len(stored) == len(sent)
    for got, want in zip(stored, sent, strict=True):
        assert_submitted(got, want)
    assert strip_trace(stored[0]) == sent[0]  # nothing added when both are there


def test_message_ids_added_are_unique(routes: ServerThread) -> None:
    submit(routes, "smtplib", "submission", ANN,
           [Outgoing((BOB,), message(n, message_id=False)) for n in range(3)])
    ids = {re.search(rb"\r\nMessage-ID: (<[^>]+>)\r\n", m).group(1)  # type: ignore[union-attr]
           for m in routes.inbox(BOB)}
    assert len(ids) == 3


def test_header_only_message_gets_fields_after_its_headers(routes: ServerThread) -> None:
    sent = b"Subject: no body at all\r\nFrom: ann@example.test\r\n"
    submit(routes, "smtplib", "submissions", ANN, [Outgoing((BOB,), sent)])
    (stored,) = routes.inbox(BOB)
    got = strip_trace(stored)
    assert got.startswith(sent)
    assert re.fullmatch(rb"Date: [^\r\n]+\r\nMessage-ID: <[^>]+>\r\n", got[len(sent):])


def test_port_25_adds_nothing_but_trace(routes: ServerThread) -> None:
    """RFC 6409 8 fixes are for submission only; an MX relays what it received."""
    sent = message(7, date=False, message_id=False)
    with smtplib.SMTP("127.0.0.1", routes.port("smtp"), timeout=30) as client:
        assert client.sendmail("peer@remote.test", [TEAM], sent) == {}
    for user in (ANN, BOB):
        (stored,) = routes.inbox(user)
        assert strip_trace(stored) == sent
        assert trace_fields(stored).startswith(b"Return-Path: <peer@remote.test>\r\n")


@pytest.mark.parametrize(("client", "listener"), MATRIX)
def test_trace_names_esmtpsa_and_tls_version(routes: ServerThread, client: str,
                                             listener: str) -> None:
    """RFC 3848: an authenticated submission over TLS is ESMTPSA; the TLS version is shown."""
    submit(routes, client, listener, ANN, [Outgoing((BOB,), message(1))])
    (stored,) = routes.inbox(BOB)
    trace = trace_fields(stored).decode()
    assert trace.startswith("Return-Path: <ann@example.test>\r\nReceived: from ")
    assert " with ESMTPSA id " in trace
    assert re.search(r"\(using TLSv1\.[23] [A-Z0-9_-]+\)", trace), trace
    assert "for <bob@example.test>;" in trace
    assert "by mx.example.test (posthouse)" in trace


def test_sender_may_use_plus_tag_and_alias_it_receives(routes: ServerThread) -> None:
    submit(routes, "smtplib", "submission", "ann+news@example.test",
           [Outgoing((BOB,), message(1))], login=ANN)
    submit(routes, "aiosmtplib", "submissions", TEAM, [Outgoing((CAROL,), message(2))],
           login=ANN)
    assert len(routes.inbox(BOB)) == 1
    # team@ also delivers to ann and bob; carol got the one sent as team@
    (stored,) = routes.inbox(CAROL)
    assert trace_fields(stored).startswith(b"Return-Path: <team@example.test>\r\n")


def test_smtputf8_and_8bitmime_submission(routes: ServerThread) -> None:
    """RFC 6531 / RFC 6152: a UTF-8 local part and raw UTF-8 headers and body."""
    routes.add_user("jösé@example.test")
    sent = ("From: Ann <ann@example.test>\r\nTo: José <jösé@example.test>\r\n"
            "Subject: Grüße aus Köln ✓\r\nDate: Tue, 03 Feb 2026 10:00:00 +0100\r\n"
            "Message-ID: <utf8@client.test>\r\n\r\nÄrger über Öl, naïve café\r\n").encode()
    for client in CLIENTS:
        submit(routes, client, "submission", ANN, [
            Outgoing(("jösé@example.test",), sent, mail_options=("SMTPUTF8", "BODY=8BITMIME"))])
    stored = routes.inbox("jösé@example.test")
    assert [strip_trace(m) for m in stored] == [sent, sent]
