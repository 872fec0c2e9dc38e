"""The kept listing of a big mailbox (store/sqlite/listings.py) is never stale: after every
kind of change (flags from another session, a delivery, an expunge, a mailbox deleted and
made again under the same name) a new session's SELECT, FETCH FLAGS and SEARCH by flags
show the mailbox as it is, and while nothing changes the listing is reused (counted)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from posthouse.store.sqlite.listings import MIN_KEPT
from tests.integration.imap_msg_support import USER, Connections, claim_recent, fill, message
from tests.support.server import ServerThread

COUNT = MIN_KEPT + 200


def _flags(uid: int) -> frozenset[str]:
    return frozenset({"\\Seen"}) if uid % 3 else frozenset()


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    server.add_user(USER)
    fill(server, message(1), [_flags(u) for u in range(1, COUNT + 1)])
    claim_recent(server)
    opened = Connections(server)
    yield opened
    opened.close_all()


def _flag_map(lines: list[bytes]) -> dict[int, bytes]:
    """uid -> the FLAGS list of each FETCH line, without \\Recent (session state)."""
    out = {}
    for line in lines:
        if b" FETCH (" in line:
            uid = int(line.split(b"UID ")[1].split(b" ")[0].rstrip(b")"))
            names = line.split(b"FLAGS (")[1].split(b")")[0].split()
            out[uid] = b"(" + b" ".join(n for n in names if n != b"\\Recent") + b")"
    return out


def _fresh_view(conns: Connections, mailbox: str = "INBOX") -> tuple[int, dict[int, bytes],
                                                                     list[int]]:
    """EXISTS, every message's flags and UID SEARCH UNSEEN, from a new session."""
    raw = conns.raw()
    selected = raw.ok(f"SELECT {mailbox}")
    exists = next(int(line.split()[1]) for line in selected if line.endswith(b" EXISTS\r\n"))
    flags = _flag_map(raw.ok("UID FETCH 1:* (FLAGS)"))
    unseen = [int(n) for n in raw.ok("UID SEARCH UNSEEN")[0].split()[2:]]
    raw.close()
    return exists, flags, unseen


def test_the_listing_is_reused_while_nothing_changes_and_never_stale(
        server: ServerThread, conns: Connections) -> None:
    listings = server.store.listings
    exists, flags, unseen = _fresh_view(conns)
    assert exists == len(flags) == COUNT
    assert unseen == [u for u in range(1, COUNT + 1) if u % 3 == 0]
    hits = listings.hits
    assert _fresh_view(conns) == (exists, flags, unseen)
    assert listings.hits >= hits + 2  # SELECT, FETCH and SEARCH read the kept listing

    other = conns.raw()
    other.ok("SELECT INBOX")
    other.ok("UID STORE 3 +FLAGS.SILENT (\\Seen \\Flagged)")
    other.ok("UID STORE 4 -FLAGS.SILENT (\\Seen)")
    exists, flags, unseen = _fresh_view(conns)
    assert flags[3] == b"(\\Flagged \\Seen)"
    assert flags[4] == b"()"
    assert 3 not in unseen
    assert 4 in unseen

    fill(server, message(2), [frozenset({"$Work"})])  # a delivery
    exists, flags, _ = _fresh_view(conns)
    assert exists == COUNT + 1
    assert flags[COUNT + 1] == b"($Work)"

    other.ok("UID STORE 7:9 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    exists, flags, unseen = _fresh_view(conns)
    assert exists == COUNT - 2
    assert not {7, 8, 9} & set(flags)
    assert 9 not in unseen


def test_a_mailbox_made_again_is_not_mistaken_for_the_old_one(
        server: ServerThread, conns: Connections) -> None:
    raw = conns.raw()
    raw.ok("CREATE Big")
    fill(server, message(3), [frozenset()] * COUNT, mailbox="Big")
    exists, flags, unseen = _fresh_view(conns, "Big")
    assert len(unseen) == COUNT
    raw.ok("DELETE Big")
    raw.ok("CREATE Big")
    fill(server, message(4), [frozenset({"\\Seen"})] * COUNT, mailbox="Big")
    exists, flags, unseen = _fresh_view(conns, "Big")
    assert exists == COUNT
    assert set(flags.values()) == {b"(\\Seen)"}
    assert unseen == []
