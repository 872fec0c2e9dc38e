"""SEARCH by flags over most of a 2,500-message mailbox (handlers/search.py reads its uids
grouped by flag set) gives the same answers as the per-message metadata path gives for a
narrow range (under 1/FEW_ROWS of the mailbox), keywords compared
case-insensitively, MODSEQ and message numbers right, and messages expunged by another
session but not yet announced matching nothing (not even under NOT)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from posthouse.imap.handlers.search import FEW_ROWS
from tests.integration.imap_msg_support import USER, Connections, claim_recent, fill, message
from tests.support.server import ServerThread

COUNT = 2500


def _flags(uid: int) -> frozenset[str]:
    flags = set()
    if uid % 3 == 0:
        flags.add("\\Seen")
    if uid % 5 == 0:
        flags.add("$Work" if uid % 10 else "$WORK")  # one keyword, two spellings
    return frozenset(flags)


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    server.add_user(USER)
    uids = fill(server, message(1, subject="same"), [_flags(u) for u in range(1, COUNT + 1)])
    assert uids == list(range(1, COUNT + 1))
    claim_recent(server)
    opened = Connections(server)
    yield opened
    opened.close_all()


def _numbers(line: bytes) -> list[int]:
    assert line.startswith(b"* SEARCH")
    return [int(n) for n in line.split()[2:] if n.isdigit()]


def test_flag_keys_over_the_whole_mailbox(conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    unseen = [u for u in range(1, COUNT + 1) if u % 3]
    assert _numbers(raw.ok("UID SEARCH UNSEEN")[0]) == unseen
    work = [u for u in range(1, COUNT + 1) if u % 5 == 0]
    assert _numbers(raw.ok("UID SEARCH KEYWORD $work")[0]) == work
    assert _numbers(raw.ok("UID SEARCH OR SEEN NOT KEYWORD $WoRk")[0]) == [
        u for u in range(1, COUNT + 1) if u % 3 == 0 or u % 5]
    # the few-rows path (a narrowed range) answers the same for its part
    narrow = COUNT // FEW_ROWS - 1
    assert _numbers(raw.ok(f"UID SEARCH UID 1:{narrow} UNSEEN")[0]) == [
        u for u in unseen if u <= narrow]
    # message numbers, not uids, for SEARCH; one join, in order
    raw.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    raw.ok("EXPUNGE")
    assert _numbers(raw.ok("SEARCH UNSEEN")[0]) == [u - 1 for u in unseen if u != 1]
    assert raw.ok("SEARCH RETURN (COUNT MIN MAX) UNSEEN") == [
        b'* ESEARCH (TAG "t10") MIN 1 MAX %d COUNT %d\r\n' % (COUNT - 1, len(unseen) - 1)]

def test_modseq_and_unannounced_expunges(conns: Connections) -> None:
    mine, other = conns.raw(), conns.raw()
    mine.ok("SELECT INBOX (CONDSTORE)")
    changed = mine.ok("STORE 10:12 +FLAGS (\\Flagged)")
    modseqs = [int(line.split(b"MODSEQ (")[1].split(b")")[0]) for line in changed]
    top = max(modseqs)
    found = mine.ok(f"UID SEARCH MODSEQ {min(modseqs)}")[0]
    assert found == b"* SEARCH 10 11 12 (MODSEQ %d)\r\n" % top
    # another session expunges 20 and 21; this one has not been told yet
    other.ok("SELECT INBOX")
    other.ok("UID STORE 20:21 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    answer = mine.command("UID SEARCH NOT FLAGGED")
    listed = _numbers(next(line for line in answer if line.startswith(b"* SEARCH")))
    assert 20 not in listed
    assert 21 not in listed
    assert len(listed) == COUNT - 3 - 2
