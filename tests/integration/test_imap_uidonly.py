"""RFC 9586 UIDONLY over real sockets, in IMAP4rev1 and IMAP4rev2 modes.

After ``ENABLE UIDONLY`` no message number crosses the wire in either direction: a command
that uses one is answered ``BAD [UIDREQUIRED]`` (3, 3.2), FETCH data comes as
``* uid UIDFETCH (...)`` (3.3), expunges as ``VANISHED`` (3), and ``EXISTS`` still counts.
The other session in the unsolicited-update tests is Python's imaplib.
"""

from __future__ import annotations

import poplib
import re
from collections.abc import Iterator

import pytest

from tests.integration.imap_msg_support import (
    USER,
    Connections,
    RawImap,
    claim_recent,
    fill,
    imaplib_client,
    message,
    status,
)
from tests.support.server import PASSWORD, ServerThread

MODES = ("rev1", "rev2")
_NUMBERED = re.compile(rb"^\* \d+ (FETCH|EXPUNGE)\b")


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
    raw.ok("ENABLE " + " ".join(names))
    return raw


def _no_numbers(lines: list[bytes]) -> list[bytes]:
    assert not [line for line in lines if _NUMBERED.match(line)], lines
    return lines


def _code(lines: list[bytes], name: bytes) -> int:
    for line in lines:
        found = re.search(rb"\[" + name + rb" (\d+)\]", line)
        if found:
            return int(found[1])
    raise AssertionError(f"no {name!r} in {lines}")


@pytest.mark.parametrize("mode", MODES)
def test_advertised_and_enabled(conns: Connections, mode: str) -> None:
    """UIDONLY is advertised and enabled once (RFC 9586 3.1, RFC 5161 3.1)."""
    raw = conns.raw()
    caps = raw.ok("CAPABILITY")[0].split()
    assert b"UIDONLY" in caps
    names = "IMAP4rev2 UIDONLY" if mode == "rev2" else "UIDONLY"
    assert raw.ok(f"ENABLE {names}")[0].rstrip() == f"* ENABLED {names}".encode()
    assert raw.ok("ENABLE UIDONLY") == [b"* ENABLED\r\n"]


@pytest.mark.parametrize("mode", MODES)
def test_every_numbered_form_is_bad_uidrequired(conns: Connections, mode: str) -> None:
    """Sequence numbers in any argument: tagged BAD [UIDREQUIRED], nothing done (3, 3.2)."""
    a = _session(conns, mode, "UIDONLY", "QRESYNC")
    a.ok("SELECT INBOX")
    for command in (
        "FETCH 1 (FLAGS)", "FETCH 1:* (UID)", "FETCH $ (FLAGS)",
        "STORE 2 +FLAGS (\\Deleted)", "STORE 1:* FLAGS.SILENT (\\Seen)",
        "SEARCH ALL", "SEARCH RETURN (COUNT) UNSEEN",
        "COPY 1 Trash", "MOVE 1:3 Trash",
        "UID SEARCH 1:3", "UID SEARCH NOT 2", "UID SEARCH OR SEEN 4",
        "UID SEARCH RETURN (MIN) *",
        "SEARCH UID 1:*",
        "SELECT INBOX (QRESYNC (1 1 1:10 (1,5 1,5)))",
    ):
        out = a.command(command)
        assert out[:-1] == [], (command, out)
        assert status(out).startswith(b"BAD [UIDREQUIRED] "), (command, out)
        a.ok("NOOP")  # BAD in a row too often ends the session
    # nothing was changed, copied or moved, and INBOX is still selected
    deleted = a.ok("UID SEARCH DELETED")[0]
    assert deleted == b"* SEARCH\r\n" if mode == "rev1" else b" ALL " not in deleted
    assert re.search(rb"\(MESSAGES 10\)", a.ok("STATUS INBOX (MESSAGES)")[0])
    assert re.search(rb"\(MESSAGES 0\)", a.ok("STATUS Trash (MESSAGES)")[0])
    assert re.fullmatch(rb"\* 1 UIDFETCH \(FLAGS \(\) MODSEQ \(\d+\)\)\r\n",
                        a.ok("UID FETCH 1 (FLAGS)")[0])


@pytest.mark.parametrize("mode", MODES)
def test_uid_commands_answer_without_message_numbers(conns: Connections, mode: str) -> None:
    """UID FETCH/STORE/SEARCH/COPY/MOVE/EXPUNGE and EXPUNGE under UIDONLY (3, 3.3)."""
    a = _session(conns, mode, "UIDONLY")
    lines = a.ok("SELECT INBOX")
    assert b"* 10 EXISTS\r\n" in lines  # a count, not a message number: still sent
    assert not any(b"[UNSEEN " in line for line in lines)  # that one is a number
    assert a.ok("UID FETCH 2:3 (FLAGS)") == [
        b"* 2 UIDFETCH (FLAGS ())\r\n", b"* 3 UIDFETCH (FLAGS ())\r\n"]
    assert a.ok("UID FETCH 4 (UID RFC822.SIZE)")[0].startswith(b"* 4 UIDFETCH (UID 4 RFC822.SIZE ")
    body = a.ok("UID FETCH 5 (BODY[HEADER.FIELDS (SUBJECT)])")  # sets \Seen: FLAGS too
    assert body == [b"* 5 UIDFETCH (BODY[HEADER.FIELDS (SUBJECT)] {22}\r\n"
                    b"Subject: message 5\r\n\r\n FLAGS (\\Seen))\r\n"]
    assert a.ok("UID STORE 6 +FLAGS (\\Flagged)") == [b"* 6 UIDFETCH (FLAGS (\\Flagged))\r\n"]
    assert a.ok("UID STORE 6 +FLAGS.SILENT (\\Answered)") == []
    modseq = a.ok("UID FETCH 6 (FLAGS MODSEQ)")[0]  # MODSEQ turns CONDSTORE on
    assert re.fullmatch(rb"\* 6 UIDFETCH \(FLAGS \(\\Answered \\Flagged\) MODSEQ \(\d+\)\)\r\n",
                        modseq)
    found = a.ok("UID SEARCH SEEN")
    if mode == "rev1":
        assert found == [b"* SEARCH 5\r\n"]
    else:
        assert found[0].endswith(b" UID ALL 5\r\n")
    a.ok("UID SEARCH RETURN (SAVE) FLAGGED")
    assert a.ok("UID FETCH $ (FLAGS)")[0].startswith(b"* 6 UIDFETCH (FLAGS ")
    copied = a.command("UID COPY 1:2 Trash")
    assert re.fullmatch(rb"OK \[COPYUID \d+ 1:2 1:2\] UID COPY completed", status(copied))
    moved = _no_numbers(a.ok("UID MOVE 10 Trash"))
    assert moved[0].startswith(b"* OK [COPYUID ")
    assert moved[1:] == [b"* VANISHED 10\r\n"]
    a.ok("UID STORE 3,7 +FLAGS.SILENT (\\Deleted)")
    assert _no_numbers(a.ok("UID EXPUNGE 3")) == [b"* VANISHED 3\r\n"]
    a.ok("UID STORE 8 +FLAGS.SILENT (\\Deleted)")
    out = a.command("EXPUNGE")  # takes no numbers: allowed, answered with VANISHED
    assert out[:-1] == [b"* VANISHED 7:8\r\n"]
    assert re.fullmatch(rb"OK (\[HIGHESTMODSEQ \d+\] )?EXPUNGE completed", status(out))
    assert re.search(rb"\(MESSAGES 6\)", a.ok("STATUS INBOX (MESSAGES)")[0])


@pytest.mark.parametrize("mode", MODES)
def test_idle_gets_uidfetch_vanished_and_exists(
    conns: Connections, server: ServerThread, mode: str,
) -> None:
    """Another client's flag change, expunge and new message reach IDLE as UIDFETCH,
    VANISHED and EXISTS (RFC 9586 3, 3.3; RFC 2177)."""
    idler = _session(conns, mode, "UIDONLY")
    idler.ok("SELECT INBOX")
    other = imaplib_client(server)
    try:
        assert other.select("INBOX")[0] == "OK"
        idler.count += 1
        idler.sock.sendall(b"t%d IDLE\r\n" % idler.count)
        assert idler.response().startswith(b"+ ")
        assert other.uid("STORE", "4", "+FLAGS.SILENT", "(\\Answered)")[0] == "OK"
        assert idler.response() == b"* 4 UIDFETCH (FLAGS (\\Answered))\r\n"
        assert other.uid("STORE", "5", "+FLAGS.SILENT", "(\\Deleted)")[0] == "OK"
        assert idler.response() == b"* 5 UIDFETCH (FLAGS (\\Deleted))\r\n"
        assert other.expunge()[0] == "OK"
        assert idler.response() == b"* VANISHED 5\r\n"
        assert other.append("INBOX", None, None, message(11))[0] == "OK"
        assert idler.response() == b"* 10 EXISTS\r\n"
        if mode == "rev1":  # \Recent went to whichever session claimed it first
            assert re.fullmatch(rb"\* [01] RECENT\r\n", idler.response())
        idler.sock.sendall(b"DONE\r\n")
        assert idler.response().startswith(b"t%d OK" % idler.count)
        assert idler.ok("UID FETCH 11 (FLAGS)")[0].startswith(b"* 11 UIDFETCH (FLAGS (")
    finally:
        other.logout()


@pytest.mark.parametrize("mode", MODES)
def test_noop_gets_uidfetch_and_vanished_with_modseq(
    conns: Connections, server: ServerThread, mode: str,
) -> None:
    """Pending updates after NOOP, with CONDSTORE on: UIDFETCH with MODSEQ, then VANISHED
    once the expunge is no longer held back (RFC 9586 3.3, RFC 7162 3.1.4.1)."""
    a = _session(conns, mode, "UIDONLY", "CONDSTORE")
    highest = _code(a.ok("SELECT INBOX"), b"HIGHESTMODSEQ")
    other = imaplib_client(server)
    try:
        other.select("INBOX")
        other.uid("STORE", "2", "+FLAGS.SILENT", "($Label1)")
        updates = _no_numbers(a.ok("NOOP"))
        assert updates[-1].startswith(b"* 2 UIDFETCH (FLAGS ($Label1) MODSEQ (")
        assert int(re.findall(rb"MODSEQ \((\d+)\)", updates[-1])[0]) > highest
        assert updates[0].startswith(b"* FLAGS (")  # the new keyword is announced first
        other.uid("STORE", "9", "+FLAGS.SILENT", "(\\Deleted)")
        other.expunge()
        assert _no_numbers(a.ok("NOOP")) == [b"* VANISHED 9\r\n"]
    finally:
        other.logout()
    pop = poplib.POP3_SSL("127.0.0.1", server.port("pop3s"), context=server.client_tls(),
                          timeout=10)
    pop.user(USER)
    pop.pass_(PASSWORD)
    pop.dele(1)  # the first message left: uid 1
    pop.quit()
    assert _no_numbers(a.ok("NOOP")) == [b"* VANISHED 1\r\n"]


def test_unauthenticate_forgets_uidonly(conns: Connections) -> None:
    """ENABLEd extensions end with the authenticated state (RFC 8437 3)."""
    a = _session(conns, "rev1", "UIDONLY")
    a.ok("SELECT INBOX")
    assert status(a.command("FETCH 1 (FLAGS)")).startswith(b"BAD [UIDREQUIRED] ")
    a.ok("UNAUTHENTICATE")
    a.ok(f'LOGIN "{USER}" "{PASSWORD}"')
    a.ok("SELECT INBOX")
    assert a.ok("FETCH 1 (FLAGS)") == [b"* 1 FETCH (FLAGS ())\r\n"]


@pytest.mark.parametrize("mode", MODES)
def test_qresync_select_resyncs_with_uidfetch(conns: Connections, mode: str) -> None:
    """SELECT ... (QRESYNC ...) under UIDONLY: VANISHED (EARLIER) and UIDFETCH for the
    changes; the seq-match form is refused (RFC 9586 3, RFC 7162 3.2.5)."""
    a = _session(conns, mode, "UIDONLY", "QRESYNC")
    lines = a.ok("SELECT INBOX")
    validity, highest = _code(lines, b"UIDVALIDITY"), _code(lines, b"HIGHESTMODSEQ")
    a.ok("UID STORE 4 +FLAGS.SILENT (\\Seen)")
    a.ok("UID STORE 6 +FLAGS.SILENT (\\Deleted)")
    a.ok("UID EXPUNGE 6")
    a.ok("UNSELECT")
    got = _no_numbers(a.ok(f"SELECT INBOX (QRESYNC ({validity} {highest} 1:10))"))
    assert b"* VANISHED (EARLIER) 6\r\n" in got
    fetched = [line for line in got if b"UIDFETCH" in line]
    assert len(fetched) == 1
    assert re.fullmatch(rb"\* 4 UIDFETCH \(FLAGS \(\\Seen\) MODSEQ \(\d+\)\)\r\n", fetched[0])
    refused = a.command(f"SELECT INBOX (QRESYNC ({validity} {highest} 1:10 (1,5 1,5)))")
    assert status(refused).startswith(b"BAD [UIDREQUIRED] ")
    vanished = a.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest} VANISHED)")
    assert vanished[0] == b"* VANISHED (EARLIER) 6\r\n"
    assert [line[:16] for line in vanished[1:]] == [b"* 4 UIDFETCH (FL"]


def test_without_uidonly_nothing_changes(conns: Connections) -> None:
    """A session that did not enable UIDONLY keeps message numbers (RFC 9586 3.1)."""
    a = conns.raw()
    lines = a.ok("SELECT INBOX")
    assert any(b"[UNSEEN 1]" in line for line in lines)
    assert a.ok("FETCH 1 (FLAGS)") == [b"* 1 FETCH (FLAGS ())\r\n"]
    assert a.ok("UID FETCH 2 (FLAGS)") == [b"* 2 FETCH (UID 2 FLAGS ())\r\n"]
