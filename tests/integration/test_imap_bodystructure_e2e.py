"""ENVELOPE / BODY / BODYSTRUCTURE end to end for the whole MIME corpus (RFC 9051 7.5.2).

Every message of tests/data/mime is delivered through the store and fetched over IMAPS; the
wire values are read back with a small independent parser and compared with the values the
MIME layer computes offline, and, for some messages, with the values written out by hand in
tests/unit/test_imap_bodystructure.py. imapclient must parse every answer too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from posthouse.imap.bodystructure import bodystructure_value, envelope_value
from posthouse.message.summary import summarize
from tests.integration.imap_msg_support import (
    CORPUS,
    USER,
    Connections,
    as_wire,
    claim_recent,
    corpus,
    fetch_items,
    fill,
)
from tests.support.server import ServerThread
from tests.unit.test_imap_bodystructure import _forwarded

NAMES = sorted(p.name for p in CORPUS.glob("*.eml"))


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    """Clients for one test, logged out at its end; the corpus in INBOX, uid n = NAMES[n-1]."""
    server.add_user(USER)
    for name in NAMES:
        fill(server, corpus(name))
    claim_recent(server)
    opened = Connections(server)
    yield opened
    opened.close_all()


def test_corpus_matches_offline_values(conns: Connections) -> None:
    assert len(NAMES) == 19
    raw = conns.raw()
    raw.ok("EXAMINE INBOX")
    responses = raw.ok("FETCH 1:* (ENVELOPE BODY BODYSTRUCTURE)")
    assert len(responses) == len(NAMES)
    for name, response in zip(NAMES, responses, strict=True):
        summary = summarize(corpus(name))
        items = fetch_items(response)
        assert items[b"ENVELOPE"] == as_wire(envelope_value(summary.envelope)), name
        assert items[b"BODY"] == as_wire(
            bodystructure_value(summary.bodystructure, extended=False)), name
        assert items[b"BODYSTRUCTURE"] == as_wire(
            bodystructure_value(summary.bodystructure, extended=True)), name


def test_hand_written_expectations(conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("EXAMINE INBOX")
    simple = fetch_items(raw.ok("FETCH 1 (BODY BODYSTRUCTURE ENVELOPE)")[0])
    assert simple[b"BODY"] == as_wire(["text", "plain", ["charset", "utf-8", "format", "flowed"],
                                       None, None, "7bit", 57, 5])
    assert simple[b"BODYSTRUCTURE"] == simple[b"BODY"] + [None, None, None, None]
    alice = [[b"Alice Example", None, b"alice", b"example.org"]]
    assert simple[b"ENVELOPE"] == [
        b"Mon, 7 Apr 2025 10:14:59 +0200", b"Lunch on Thursday?", alice, alice, alice,
        [[b"Bob", None, b"bob", b"example.com"]], None, None, None,
        b"<20250407081459.GA1234@example.org>",
    ]
    forwarded = fetch_items(raw.ok("FETCH 4 (BODY BODYSTRUCTURE)")[0])
    assert forwarded[b"BODYSTRUCTURE"] == as_wire(_forwarded(True))
    assert forwarded[b"BODY"] == as_wire(_forwarded(False))


def test_utf8_envelope_goes_out_as_literal(conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("EXAMINE INBOX")
    index = NAMES.index("06-utf8-headers.eml") + 1
    response = raw.ok(f"FETCH {index} (ENVELOPE)")[0]
    assert b"{" in response  # 8-bit text is not quotable before UTF8=ACCEPT
    subject = fetch_items(response)[b"ENVELOPE"][1]
    assert subject.decode("utf-8") == envelope_value(
        summarize(corpus("06-utf8-headers.eml")).envelope)[1]


def test_imapclient_parses_every_structure(conns: Connections) -> None:
    imap = conns.imap()
    imap.select_folder("INBOX", readonly=True)
    got = imap.fetch(list(range(1, len(NAMES) + 1)), ["BODYSTRUCTURE", "ENVELOPE"])
    assert len(got) == len(NAMES)
    mixed = got[NAMES.index("03-mixed-attachments.eml") + 1][b"BODYSTRUCTURE"]
    assert mixed.is_multipart
    assert mixed[1] == b"mixed"
    digest = got[NAMES.index("18-digest.eml") + 1][b"BODYSTRUCTURE"]
    assert digest.is_multipart
    assert got[1][b"ENVELOPE"].subject == b"Lunch on Thursday?"
