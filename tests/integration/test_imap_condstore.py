"""CONDSTORE and QRESYNC (RFC 7162) over real sockets, in IMAP4rev1 and IMAP4rev2 modes.

Each command's test cites its section. The resync tests check exact output: a client that
reconnects with its UIDVALIDITY and HIGHESTMODSEQ gets the expunged uids and the changed
messages, nothing more, even across a server restart and after tombstones were compacted.
"""

from __future__ import annotations

import imaplib
import poplib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.store.sqlite.schema import DB_FILE, LATEST_VERSION
from tests.backends.sqlite_checks import UNDO_V9
from tests.integration.imap_msg_support import (
    USER,
    Connections,
    RawImap,
    claim_recent,
    fill,
    message,
    status,
)
from tests.support.server import PASSWORD, ServerThread, make_config

MODES = ("rev1", "rev2")


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    """INBOX with ten messages, uids 1..10, not \\Recent."""
    server.add_user(USER)
    for n in range(1, 11):
        fill(server, message(n))
    claim_recent(server)
    opened = Connections(server)
    yield opened
    opened.close_all()


def _session(conns: Connections, mode: str, *extensions: str) -> RawImap:
    raw = conns.raw()
    names = (("IMAP4rev2",) if mode == "rev2" else ()) + extensions
    if names:
        raw.ok("ENABLE " + " ".join(names))
    return raw


def _code(lines: list[bytes], name: bytes) -> int:
    for line in lines:
        found = re.search(rb"[\[(]" + name + rb" (\d+)[\])]", line)
        if found:
            return int(found[1])
    raise AssertionError(f"no {name!r} in {lines}")


def _fetches(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if b" FETCH " in line]


def _modseq(line: bytes) -> int:
    found = re.search(rb"MODSEQ \((\d+)\)", line)
    assert found, line
    return int(found[1])


# -- capabilities -----------------------------------------------------------------------

def test_imaplib_sees_every_extension_before_login(server: ServerThread) -> None:
    """imaplib reads CAPABILITY once, before login: MOVE and UIDPLUS must be there."""
    server.add_user(USER)
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"),
                             ssl_context=server.client_tls(), timeout=30)
    try:
        before = set(imap.capabilities)
        assert {"MOVE", "UIDPLUS", "CONDSTORE", "QRESYNC", "ENABLE", "IDLE"} <= before
        assert "AUTH=PLAIN" in before  # TLS: passwords may be sent
        typ, data = imap.login(USER, PASSWORD)
        assert typ == "OK"
        assert b"[CAPABILITY " in data[0]
        assert b"QRESYNC" in data[0]
        typ, _ = imap.select("INBOX")
        assert typ == "OK"
        typ, _ = imap.uid("MOVE", "1:*", "Trash")  # imaplib accepts MOVE only if advertised
        assert typ == "OK"
    finally:
        imap.logout()


def test_plain_port_lists_extensions_without_auth(server: ServerThread) -> None:
    """Before STARTTLS on 143: every extension, LOGINDISABLED, no AUTH= (RFC 9051 6.2.3)."""
    imap = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=30)
    try:
        caps = set(imap.capabilities)
        assert {"MOVE", "UIDPLUS", "QRESYNC", "STARTTLS", "LOGINDISABLED"} <= caps
        assert not any(c.startswith("AUTH=") for c in caps)
    finally:
        imap.logout()


# -- CONDSTORE --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_condstore_select_fetch_store_search_status(conns: Connections, mode: str) -> None:
    a = _session(conns, mode)
    lines = a.ok("SELECT INBOX (CONDSTORE)")  # RFC 7162 3.1.8
    highest = _code(lines, b"HIGHESTMODSEQ")
    fetched = a.ok("FETCH 1:* (UID MODSEQ)")  # RFC 7162 3.1.4
    assert len(fetched) == 10
    assert all(_modseq(line) <= highest for line in fetched)
    before = _modseq(fetched[2])
    # STORE UNCHANGEDSINCE: a message changed meanwhile fails, [MODIFIED] (3.1.3)
    stored = a.ok(f"STORE 3 (UNCHANGEDSINCE {before}) +FLAGS (\\Flagged)")
    after = _modseq(stored[0])
    assert after > before
    assert b"FLAGS (\\Flagged)" in stored[0]
    out = a.command(f"STORE 3,4 (UNCHANGEDSINCE {_modseq(fetched[3])}) +FLAGS (\\Seen)")
    assert status(out) == b"OK [MODIFIED 3] STORE completed"
    assert _fetches(out) == [out[0]]
    assert out[0].startswith(b"* 4 FETCH (FLAGS (\\Seen) MODSEQ")
    # FETCH CHANGEDSINCE: only the two changed messages (3.1.4.1)
    changed = a.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})")
    assert [re.search(rb"UID (\d+)", line)[1] for line in changed] == [b"3", b"4"]  # type: ignore[index]
    # SEARCH MODSEQ ends with the highest modseq of what matched (3.1.5)
    top = _modseq(changed[1])
    if mode == "rev1":
        assert a.ok(f"SEARCH MODSEQ {highest + 1}") == [b"* SEARCH 3 4 (MODSEQ %d)\r\n" % top]
    else:
        assert a.ok(f"UID SEARCH MODSEQ {highest + 1}")[0].endswith(
            b" UID ALL 3:4 MODSEQ %d\r\n" % top)
    # STATUS HIGHESTMODSEQ (3.1.6)
    st = a.ok("STATUS Trash (HIGHESTMODSEQ)")
    assert re.fullmatch(rb'\* STATUS "?Trash"? \(HIGHESTMODSEQ \d+\)\r\n', st[0])


@pytest.mark.parametrize("mode", MODES)
def test_status_highestmodseq_enables_condstore(conns: Connections, mode: str) -> None:
    """A CONDSTORE-enabling command: later FETCH responses carry MODSEQ (RFC 7162 3.1)."""
    a = _session(conns, mode)
    a.ok("SELECT INBOX")
    assert b"MODSEQ" not in a.ok("FETCH 1 (FLAGS)")[0]
    a.ok("STATUS INBOX (HIGHESTMODSEQ)")
    assert b"MODSEQ (" in a.ok("FETCH 1 (FLAGS)")[0]


# -- QRESYNC in a session ---------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_qresync_needs_enable(conns: Connections, mode: str) -> None:
    a = _session(conns, mode)
    out = a.command("SELECT INBOX (QRESYNC (1 1))")
    assert status(out).startswith(b"BAD")  # RFC 7162 3.2.5
    assert a.ok("ENABLE QRESYNC") == [b"* ENABLED QRESYNC\r\n"]
    a.ok("SELECT INBOX")
    bad = a.command("UID FETCH 1:* (FLAGS) (VANISHED)")  # needs CHANGEDSINCE (3.2.6)
    assert status(bad).startswith(b"BAD")
    bad = a.command("FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")  # UID FETCH only
    assert status(bad).startswith(b"BAD")


@pytest.mark.parametrize("mode", MODES)
def test_expunge_is_vanished_and_reselect_is_closed(conns: Connections, mode: str) -> None:
    a = _session(conns, mode, "QRESYNC")
    lines = a.ok("SELECT INBOX")
    highest = _code(lines, b"HIGHESTMODSEQ")
    a.ok("STORE 2,3,9 +FLAGS.SILENT (\\Deleted)")
    out = a.command("EXPUNGE")
    assert out[0] == b"* VANISHED 2:3,9\r\n"  # RFC 7162 3.2.10
    assert re.fullmatch(rb"OK \[HIGHESTMODSEQ \d+\] EXPUNGE completed", status(out))  # 3.2.7
    assert _code(out, b"HIGHESTMODSEQ") == _code(a.ok("STATUS INBOX (HIGHESTMODSEQ)"),
                                                  b"HIGHESTMODSEQ")
    got = a.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest} VANISHED)")  # 3.2.6
    assert got == [b"* VANISHED (EARLIER) 2:3,9\r\n"]
    got = a.ok(f"UID FETCH 4:8 (FLAGS) (CHANGEDSINCE {highest} VANISHED)")
    assert got == []
    moved = a.ok("UID MOVE 10 Trash")  # RFC 6851 4.3 with RFC 7162: VANISHED, not EXPUNGE
    assert moved[0].startswith(b"* OK [COPYUID ")
    assert moved[1:] == [b"* VANISHED 10\r\n"]
    lines = a.ok("EXAMINE INBOX")
    assert lines[0] == b"* OK [CLOSED] Previous mailbox closed\r\n"  # 3.2.11
    a.ok("SELECT INBOX")
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    closed = a.command("CLOSE")  # 3.2.8: silent, with the new HIGHESTMODSEQ
    assert closed[:-1] == []
    after = _code(closed, b"HIGHESTMODSEQ")
    assert after == _code(a.ok("STATUS INBOX (HIGHESTMODSEQ)"), b"HIGHESTMODSEQ")
    got = a.ok(f"SELECT INBOX (QRESYNC ({_code(lines, b'UIDVALIDITY')} {after}))")
    assert not any(b"VANISHED" in line or b"FETCH" in line for line in got)
    other = conns.raw()
    other.ok("SELECT INBOX")
    other.ok("UID STORE 4 +FLAGS.SILENT (\\Seen)")  # a change `a` has not been told of
    assert status(a.command("CLOSE")) == b"OK CLOSE completed"  # so no HIGHESTMODSEQ


@pytest.mark.parametrize("mode", MODES)
def test_idle_sees_modseq_and_vanished_from_imap_and_pop3(
    conns: Connections, server: ServerThread, mode: str,
) -> None:
    """Another session's flag change and expunge, and a POP3 deletion, reach IDLE as
    FETCH (... MODSEQ (n)) and VANISHED (RFC 7162 3.1.4.1, 3.2.10)."""
    idler = _session(conns, mode, "QRESYNC")
    highest = _code(idler.ok("SELECT INBOX"), b"HIGHESTMODSEQ")
    other = conns.raw()
    other.ok("SELECT INBOX")
    idler.count += 1
    idler.sock.sendall(b"t%d IDLE\r\n" % idler.count)
    assert idler.response().startswith(b"+ ")
    other.ok("STORE 4 +FLAGS.SILENT (\\Answered)")
    line = idler.response()
    assert line.startswith(b"* 4 FETCH (UID 4 FLAGS (\\Answered) MODSEQ (")
    assert _modseq(line) > highest
    other.ok("STORE 5 +FLAGS.SILENT (\\Deleted)")
    assert idler.response().startswith(b"* 5 FETCH (UID 5 FLAGS (\\Deleted) MODSEQ (")
    other.ok("EXPUNGE")
    assert idler.response() == b"* VANISHED 5\r\n"
    other.close()
    pop = poplib.POP3_SSL("127.0.0.1", server.port("pop3s"), context=server.client_tls(),
                          timeout=10)
    pop.user(USER)
    pop.pass_(PASSWORD)
    pop.dele(1)
    pop.quit()
    assert idler.response() == b"* VANISHED 1\r\n"
    idler.sock.sendall(b"DONE\r\n")
    assert idler.response().startswith(b"t%d OK" % idler.count)
    assert idler.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest} VANISHED)")[0] == (
        b"* VANISHED (EARLIER) 1,5\r\n")


# -- QRESYNC resync: a client that was away ---------------------------------------------

def _away_changes(server: ServerThread) -> tuple[int, int]:
    """Session A learns UIDVALIDITY/HIGHESTMODSEQ and leaves; B changes flags of 2 and 6,
    expunges 3 and 7, flags 8 then expunges it; one new message arrives (uid 11)."""
    with RawImap(server) as a:
        a.ok("ENABLE QRESYNC")
        lines = a.ok("SELECT INBOX")
        uidvalidity, highest = _code(lines, b"UIDVALIDITY"), _code(lines, b"HIGHESTMODSEQ")
    with RawImap(server) as b:
        b.ok("SELECT INBOX")
        b.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
        b.ok("STORE 6 +FLAGS.SILENT ($Important)")
        b.ok("STORE 8 +FLAGS.SILENT (\\Flagged)")
        b.ok("STORE 3,7,8 +FLAGS.SILENT (\\Deleted)")
        b.ok("EXPUNGE")
    fill(server, message(11))
    return uidvalidity, highest


def _resync(server: ServerThread, mode: str, params: str) -> list[bytes]:
    with RawImap(server) as a:
        a.ok("ENABLE QRESYNC IMAP4rev2" if mode == "rev2" else "ENABLE QRESYNC")
        return a.ok(f"SELECT INBOX (QRESYNC ({params}))")


@pytest.mark.parametrize("mode", MODES)
def test_qresync_resync_across_restart(tmp_path: Path, mode: str) -> None:
    """The acceptance test of issue 14: exactly the changes and VANISHED uids."""
    cfg = make_config(tmp_path / "data")
    with ServerThread(cfg) as first:
        first.add_user(USER)
        for n in range(1, 11):
            fill(first, message(n))
        uidvalidity, highest = _away_changes(first)
    with ServerThread(cfg) as server:  # restarted on the same data dir
        lines = _resync(server, mode, f"{uidvalidity} {highest} 1:10")
        assert _code(lines, b"UIDVALIDITY") == uidvalidity
        assert b"* 8 EXISTS\r\n" in lines
        tail = [line for line in lines if line.startswith(b"* VANISHED") or b"FETCH" in line]
        assert tail[0] == b"* VANISHED (EARLIER) 3,7:8\r\n"
        assert [re.sub(rb"MODSEQ \(\d+\)", b"M", line) for line in tail[1:]] == [
            b"* 2 FETCH (UID 2 FLAGS (\\Seen) M)\r\n",
            b"* 5 FETCH (UID 6 FLAGS ($Important) M)\r\n",
        ]
        assert len(_fetches(lines)) == 2  # nothing more: uid 11 is outside 1:10
        assert all(_modseq(line) > highest for line in _fetches(lines))
        # without known uids, the new message is a change too (RFC 7162 3.2.5.1)
        lines = _resync(server, mode, f"{uidvalidity} {highest}")
        assert b"* VANISHED (EARLIER) 3,7:8\r\n" in lines
        assert [re.search(rb"UID (\d+)", f)[1] for f in _fetches(lines)] == [  # type: ignore[index]
            b"2", b"6", b"11"]
        # up to date: nothing at all; another UIDVALIDITY: a plain SELECT
        now = _code(lines, b"HIGHESTMODSEQ")
        assert _fetches(_resync(server, mode, f"{uidvalidity} {now} 1:11")) == []
        again = _resync(server, mode, f"{uidvalidity} {now}")
        assert not any(b"VANISHED" in line for line in again)
        other = _resync(server, mode, f"{uidvalidity + 1} 1 1:10")
        assert not any(b"VANISHED" in line or b"FETCH" in line for line in other)


@pytest.mark.parametrize("mode", MODES)
def test_compacted_tombstones_answer_conservatively(server: ServerThread, mode: str) -> None:
    """After compaction an old modseq gets every missing known uid (a superset, never a
    miss); a modseq above the compacted range stays exact."""
    server.add_user(USER)
    for n in range(1, 11):
        fill(server, message(n))
    with RawImap(server) as b:  # gone before the client last synced
        b.ok("SELECT INBOX")
        b.ok("UID STORE 10 +FLAGS.SILENT (\\Deleted)")
        b.ok("UID EXPUNGE 10")
    uidvalidity, highest = _away_changes(server)
    lines = _resync(server, mode, f"{uidvalidity} {highest} 1:10")
    assert b"* VANISHED (EARLIER) 3,7:8\r\n" in lines  # exact while tombstones last
    with RawImap(server) as b:
        b.ok("SELECT INBOX")
        b.ok("UID STORE 4 +FLAGS.SILENT (\\Deleted)")
        later = _code(b.ok("STATUS INBOX (HIGHESTMODSEQ)"), b"HIGHESTMODSEQ")
        b.ok("UID EXPUNGE 4")

    async def compact() -> int:
        user = await server.store.get_user(USER)
        box = await server.store.get_mailbox(user.id, "INBOX")
        return int(await server.store.compact_tombstones(box.id, 1))

    assert server.call(compact()) == 4  # 10, then 3, 7, 8 dropped; 4 kept
    # every known uid that is missing: 10 too, which the client already knew was gone
    lines = _resync(server, mode, f"{uidvalidity} {highest} 1:10")
    assert b"* VANISHED (EARLIER) 3:4,7:8,10\r\n" in lines
    lines = _resync(server, mode, f"{uidvalidity} {highest}")
    assert b"* VANISHED (EARLIER) 3:4,7:8,10\r\n" in lines
    lines = _resync(server, mode, f"{uidvalidity} {later} 1:11")
    assert b"* VANISHED (EARLIER) 4\r\n" in lines  # newer than the floor: exact


def _make_version_4(db: Path) -> None:
    """Turn a current database back into schema version 4 (before tombstones, the
    METADATA table of version 6, the roles of version 7 and the counters of version 9)."""
    conn = sqlite3.connect(db)
    conn.executescript(
        UNDO_V9 + " DROP TABLE metadata; DROP INDEX expunged_modseq; DROP TABLE expunged;"
        " ALTER TABLE mailboxes DROP COLUMN vanished_floor; ALTER TABLE users DROP COLUMN role;"
        " ALTER TABLE users DROP COLUMN disabled; PRAGMA user_version = 4;")
    conn.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_version_4_data_dir_upgrades_and_resyncs_safely(tmp_path: Path, mode: str) -> None:
    """Expunges from before the upgrade left no tombstone: a client that synced before them
    is answered conservatively; one that synced after the upgrade exactly."""
    cfg = make_config(tmp_path / "data")
    with ServerThread(cfg) as old:
        old.add_user(USER)
        for n in range(1, 7):
            fill(old, message(n))
        with RawImap(old) as a:
            a.ok("ENABLE QRESYNC")
            lines = a.ok("SELECT INBOX")
            uidvalidity, before = _code(lines, b"UIDVALIDITY"), _code(lines, b"HIGHESTMODSEQ")
            a.ok("UID STORE 2 +FLAGS.SILENT (\\Deleted)")
            assert b"* VANISHED 2\r\n" in a.ok("UID EXPUNGE 2")
    _make_version_4(tmp_path / "data" / DB_FILE)
    with ServerThread(cfg) as server:
        conn = sqlite3.connect(tmp_path / "data" / DB_FILE)
        assert conn.execute("PRAGMA user_version").fetchone() == (LATEST_VERSION,)
        conn.close()
        lines = _resync(server, mode, f"{uidvalidity} {before} 1:6")
        assert b"* VANISHED (EARLIER) 2\r\n" in lines  # no tombstone: found as a gap
        upgraded = _code(lines, b"HIGHESTMODSEQ")
        with RawImap(server) as b:
            b.ok("SELECT INBOX")
            b.ok("UID STORE 5 +FLAGS.SILENT (\\Deleted)")
            b.ok("UID EXPUNGE 5")
        lines = _resync(server, mode, f"{uidvalidity} {upgraded} 1:6")
        assert [line for line in lines if b"VANISHED" in line] == [
            b"* VANISHED (EARLIER) 5\r\n"]


@pytest.mark.parametrize("mode", MODES)
def test_no_modseq_goes_out_above_a_held_back_expunge(conns: Connections, mode: str) -> None:
    """While an expunge waits (FETCH by number), a later flag change waits too, so the
    client never sees a MODSEQ above an expunge it was not told of (RFC 5162 erratum 1810)."""
    a = _session(conns, mode, "CONDSTORE")
    a.ok("SELECT INBOX")
    b = conns.raw()
    b.ok("SELECT INBOX")
    b.ok("UID STORE 5 +FLAGS.SILENT (\\Deleted)")
    b.ok("UID EXPUNGE 5")
    b.ok("UID STORE 6 +FLAGS.SILENT (\\Flagged)")
    assert [line[:14] for line in a.ok("FETCH 1 (FLAGS)")] == [b"* 1 FETCH (FLA"]
    released = a.ok("NOOP")
    assert released[0] == b"* 5 EXPUNGE\r\n"
    assert released[-1].startswith(b"* 5 FETCH (UID 6 FLAGS (\\Flagged) MODSEQ (")
