"""STATUS over real sockets answers from per-mailbox counters (schema v9): after each kind of
change, made by SMTP, IMAP and POP3 clients, STATUS (MESSAGES UNSEEN DELETED SIZE RECENT)
equals what a FETCH of every message shows (RFC 9051 6.3.11, RFC 8438 STATUS=SIZE,
RFC 3501 6.3.10 RECENT)."""

from __future__ import annotations

import poplib
import re
import smtplib
from collections.abc import Iterator

import pytest

from tests.integration.imap_msg_support import USER, RawImap, message
from tests.support.server import PASSWORD, ServerThread

ITEMS = ("MESSAGES", "UNSEEN", "DELETED", "SIZE", "RECENT")
_FETCH = re.compile(rb"^\* \d+ FETCH \(.*FLAGS \(([^)]*)\).*RFC822\.SIZE (\d+)")


@pytest.fixture
def probe(server: ServerThread) -> Iterator[RawImap]:
    """A second session that only looks (STATUS, EXAMINE): it changes no counter."""
    server.add_user(USER)
    raw = RawImap(server)
    yield raw
    raw.close()


def status_of(probe: RawImap, box: str) -> dict[str, int]:
    lines = probe.ok(f"STATUS {box} ({' '.join(ITEMS)})")
    words = lines[0].split(b"(", 1)[1].rstrip(b")\r\n").split()
    return {w.decode(): int(v) for w, v in zip(words[::2], words[1::2], strict=True)}


def recount(probe: RawImap, box: str) -> dict[str, int]:
    """The same figures counted from FETCH FLAGS RFC822.SIZE after EXAMINE (which leaves
    \\Recent alone and shows it, RFC 3501 6.3.2)."""
    opened = probe.ok(f"EXAMINE {box}")
    counts = dict.fromkeys(ITEMS, 0)
    empty = b"* 0 EXISTS\r\n" in opened
    for line in [] if empty else probe.ok("FETCH 1:* (FLAGS RFC822.SIZE)"):
        found = _FETCH.match(line)
        if found is None:
            continue
        flags = found.group(1).split()
        counts["MESSAGES"] += 1
        counts["UNSEEN"] += b"\\Seen" not in flags
        counts["DELETED"] += b"\\Deleted" in flags
        counts["SIZE"] += int(found.group(2))
        counts["RECENT"] += b"\\Recent" in flags
    probe.ok("UNSELECT")
    return counts


def exact(probe: RawImap, *boxes: str) -> dict[str, dict[str, int]]:
    out = {}
    for box in boxes:
        got = status_of(probe, box)
        assert got == recount(probe, box), box
        out[box] = got
    return out


def test_status_counters_follow_smtp_imap_and_pop3(server: ServerThread,
                                                   probe: RawImap) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as smtp:
        for n in range(1, 4):
            smtp.sendmail("someone@remote.test", [USER], message(n))
    assert exact(probe, "INBOX")["INBOX"]["MESSAGES"] == 3

    session = RawImap(server)
    try:
        for n, flags in ((4, "(\\Seen)"), (5, "()")):
            data = message(n)
            session.ok(f"APPEND INBOX {flags} {{{len(data)}+}}\r\n".encode() + data)
        assert exact(probe, "INBOX")["INBOX"]["UNSEEN"] == 4
        assert status_of(probe, "INBOX")["RECENT"] == 5

        session.ok("SELECT INBOX")  # takes \Recent
        assert exact(probe, "INBOX")["INBOX"]["RECENT"] == 0
        session.ok("STORE 1:2 +FLAGS.SILENT (\\Seen)")
        session.ok("STORE 2 -FLAGS.SILENT (\\Seen)")
        session.ok("STORE 3:4 +FLAGS.SILENT (\\Deleted)")
        session.ok("STORE 5 FLAGS.SILENT ($Label \\Flagged)")
        assert exact(probe, "INBOX")["INBOX"]["DELETED"] == 2

        session.ok("CREATE Keep")
        session.ok("COPY 1:3 Keep")
        session.ok("MOVE 5 Keep")
        after = exact(probe, "INBOX", "Keep")
        assert after["INBOX"]["MESSAGES"] == 4
        assert after["Keep"]["MESSAGES"] == 4

        session.ok("EXPUNGE")
        expunged = exact(probe, "INBOX")["INBOX"]
        assert (expunged["MESSAGES"], expunged["UNSEEN"], expunged["DELETED"]) == (2, 1, 0)
        assert expunged["SIZE"] < after["INBOX"]["SIZE"]
        session.ok("CLOSE")
    finally:
        session.close()

    pop = poplib.POP3_SSL("127.0.0.1", server.port("pop3s"), context=server.client_tls(),
                          timeout=30)
    try:
        pop.user(USER)
        pop.pass_(PASSWORD)
        pop.dele(1)
    finally:
        pop.quit()  # the deletion happens here (RFC 1939 6)
    assert exact(probe, "INBOX")["INBOX"]["MESSAGES"] == 1

    keep = status_of(probe, "Keep")
    probe.ok("RENAME Keep Kept")
    assert exact(probe, "Kept")["Kept"] == keep
    probe.ok("RENAME INBOX Saved")  # INBOX's messages move; INBOX stays, empty
    moved = exact(probe, "INBOX", "Saved")
    assert moved["INBOX"]["MESSAGES"] == 0
    assert moved["Saved"]["MESSAGES"] == 1
    probe.ok("DELETE Saved")
    assert exact(probe, "Kept")["Kept"] == keep
