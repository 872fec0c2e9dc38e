"""IMAP mailbox commands over real sockets: SELECT/EXAMINE, CREATE/DELETE/RENAME, LIST,
LSUB, STATUS, QUOTA, CLOSE/UNSELECT, in IMAP4rev1 and after ENABLE IMAP4rev2."""

from __future__ import annotations

import imaplib
import re
from collections.abc import Iterator

import pytest

from tests.support.imap import ADDRESS, RawImap, deliver, tls_client
from tests.support.server import PASSWORD, ServerThread


@pytest.fixture
def srv(server: ServerThread) -> ServerThread:
    server.add_user(ADDRESS)
    return server


@pytest.fixture
def client(srv: ServerThread) -> Iterator[RawImap]:
    c = tls_client(srv)
    yield c
    c.close()


def test_select_rev1(srv: ServerThread, client: RawImap) -> None:
    deliver(srv, flags=frozenset({"\\Seen"}))
    deliver(srv)
    lines = client.cmd("a", "SELECT INBOX")
    assert lines[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"
    assert lines[1] == b"* 2 EXISTS"
    assert lines[2] == b"* 2 RECENT"  # RFC 3501 6.3.1: this session claims \Recent
    assert lines[3] == b"* OK [UNSEEN 2] First unseen"
    assert re.fullmatch(rb"\* OK \[UIDVALIDITY \d+\] UIDs valid", lines[4])
    assert lines[5] == b"* OK [UIDNEXT 3] Predicted next UID"
    assert lines[6] == (b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft"
                        b" \\*)] Permanent flags")
    # RFC 7162 3.1.2.1: with every SELECT, CONDSTORE enabled or not
    assert re.fullmatch(rb"\* OK \[HIGHESTMODSEQ \d+\] Highest", lines[7])
    assert re.fullmatch(rb"\* OK \[MAILBOXID \(F\d+V\d+\)\] Mailbox id", lines[8])
    assert lines[9] == b"a OK [READ-WRITE] SELECT completed"
    second = tls_client(srv)
    assert b"* 0 RECENT" in second.cmd("b", "SELECT INBOX")  # already claimed
    second.close()


def test_select_rev2_and_examine(srv: ServerThread, client: RawImap) -> None:
    deliver(srv)
    client.cmd("e", "ENABLE IMAP4rev2")
    lines = client.cmd("a", "SELECT INBOX")
    assert not any(b"RECENT" in line or b"UNSEEN" in line for line in lines)
    assert b"* 1 EXISTS" in lines
    assert b'* LIST (\\HasNoChildren) "/" "INBOX"' in lines  # RFC 9051 6.3.2
    lines = client.cmd("b", "EXAMINE Drafts")
    assert lines[0] == b"* OK [CLOSED] Previous mailbox closed"
    assert b"* OK [PERMANENTFLAGS ()] Permanent flags" in lines
    assert b'* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"' in lines
    assert lines[-1] == b"b OK [READ-ONLY] EXAMINE completed"


def test_failed_select_leaves_nothing_selected(client: RawImap) -> None:
    client.cmd("a", "SELECT INBOX")
    assert client.cmd("b", "SELECT Nope")[-1] == b"b NO [NONEXISTENT] No such mailbox"
    assert client.cmd("c", "CLOSE")[-1] == b"c BAD CLOSE not allowed now"


def test_close_expunges_silently_but_not_after_examine(srv: ServerThread,
                                                      client: RawImap) -> None:
    deliver(srv, flags=frozenset({"\\Deleted"}))
    deliver(srv)
    client.cmd("a", "EXAMINE INBOX")
    assert client.cmd("b", "CLOSE") == [b"b OK CLOSE completed"]
    assert len(srv.inbox(ADDRESS)) == 2
    client.cmd("c", "SELECT INBOX")
    assert client.cmd("d", "UNSELECT") == [b"d OK UNSELECT completed"]
    assert len(srv.inbox(ADDRESS)) == 2
    client.cmd("e", "SELECT INBOX")
    assert client.cmd("f", "CLOSE") == [b"f OK CLOSE completed"]  # no EXPUNGE responses
    assert len(srv.inbox(ADDRESS)) == 1


def test_create_delete_rename(client: RawImap) -> None:
    assert client.cmd("a", "CREATE Work/2024/")[-1].startswith(b"a OK [MAILBOXID (")
    assert client.cmd("b", "CREATE Work")[-1] == b"b NO [ALREADYEXISTS] Mailbox exists"
    assert client.cmd("c", "RENAME Work Job")[-1] == b"c OK RENAME completed"
    lines = client.cmd("d", 'LIST "" "Job*"')
    assert lines[:-1] == [b'* LIST (\\HasChildren) "/" "Job"',
                          b'* LIST (\\HasNoChildren) "/" "Job/2024"']
    assert client.cmd("e", "DELETE Job")[-1] == b"e OK DELETE completed"
    assert client.cmd("f", 'LIST "" "Job/%"')[:-1] == [b'* LIST (\\HasNoChildren) "/" "Job/2024"']
    assert client.cmd("g", 'LIST "" "%"').count(
        b'* LIST (\\Noselect \\HasChildren) "/" "Job"') == 1  # RFC 9051 6.3.9
    assert client.cmd("h", "DELETE Nope")[-1] == b"h NO [NONEXISTENT] No such mailbox"
    assert client.cmd("i", "DELETE INBOX")[-1].startswith(b"i NO [CANNOT]")
    assert client.cmd("j", "RENAME Nope Other")[-1].startswith(b"j NO [NONEXISTENT]")
    assert client.cmd("k", "RENAME Drafts Sent")[-1].startswith(b"k NO [ALREADYEXISTS]")


def test_rename_inbox_moves_messages(srv: ServerThread, client: RawImap) -> None:
    deliver(srv)
    assert client.cmd("a", "RENAME INBOX Old")[-1] == b"a OK RENAME completed"
    assert srv.inbox(ADDRESS) == []
    assert len(srv.inbox(ADDRESS, "Old")) == 1
    status = client.cmd("b", "STATUS INBOX (MESSAGES)")
    assert status[0] == b'* STATUS "INBOX" (MESSAGES 0)'


@pytest.mark.parametrize("name", ["../x", "a//b", "/a", '"a\\x01b"', "{1}\r\n\x07",
                                  "&Jjo", "a*b"])
def test_bad_names_are_refused(client: RawImap, name: str) -> None:
    lines = client.cmd("a", "CREATE " + name)
    assert lines[-1].startswith((b"a NO", b"a BAD")), lines


def test_bad_names_get_no_cannot(client: RawImap) -> None:
    assert client.cmd("a", 'CREATE "../x"')[-1].startswith(b"a NO [CANNOT] Invalid mailbox name")
    assert client.cmd("b", 'CREATE "a//b"')[-1].startswith(b"b NO [CANNOT] Invalid mailbox name")
    client.send(b"c CREATE {3}\r\n")
    assert client.readline() == b"+ Ready"
    client.send(b"a\x01b\r\n")
    assert client.read_until_tag(b"c")[-1].startswith(b"c NO [CANNOT]")


def test_non_ascii_names_rev1_and_utf8(srv: ServerThread, client: RawImap) -> None:
    assert client.cmd("a", "CREATE Entw&APw-rfe")[-1].startswith(b"a OK [MAILBOXID (")
    assert b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"' in client.cmd("b", 'LIST "" "E*"')
    assert client.cmd("c", 'CREATE "Entwürfe"')[-1].startswith(b"c NO [CANNOT]")
    client.cmd("d", "ENABLE UTF8=ACCEPT")
    assert client.cmd("e", 'LIST "" "E*"')[0] == (
        '* LIST (\\HasNoChildren) "/" "Entwürfe"'.encode())
    assert client.cmd("f", 'CREATE "Ünïcode/日本"')[-1].startswith(b"f OK [MAILBOXID (")
    names = [m.name for m in srv.call(srv.store.list_mailboxes(
        srv.call(srv.store.get_user(ADDRESS)).id))]
    assert {"Entwürfe", "Ünïcode/日本"} <= set(names)


def test_list_patterns_and_special_use_defaults(client: RawImap) -> None:
    lines = client.cmd("a", 'LIST "" "*"')
    assert lines[:-1] == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"',
        b'* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
        b'* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
        b'* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
        b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
        b'* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
    ]
    assert client.cmd("b", 'LIST "" ""')[0] == b'* LIST (\\Noselect) "/" ""'
    assert client.cmd("c", 'LIST "" inbox')[0] == b'* LIST (\\HasNoChildren) "/" "INBOX"'
    client.cmd("d", "CREATE a/b/c")
    assert client.cmd("e", 'LIST "a/" "%"')[:-1] == [b'* LIST (\\HasChildren) "/" "a/b"']
    assert client.cmd("f", 'LIST "" "a/*"')[:-1] == [b'* LIST (\\HasChildren) "/" "a/b"',
                                                     b'* LIST (\\HasNoChildren) "/" "a/b/c"']
    assert client.cmd("g", 'LIST (SPECIAL-USE) "" "*"')[:-1] == lines[1:-1]


def test_list_extended_return_options(srv: ServerThread, client: RawImap) -> None:
    deliver(srv, flags=frozenset({"\\Deleted"}))
    client.cmd("a", "SUBSCRIBE INBOX")  # the default mailboxes are subscribed already
    client.cmd("b", "SUBSCRIBE Gone")
    lines = client.cmd("c", 'LIST "" "INBOX" RETURN (SUBSCRIBED CHILDREN STATUS '
                            '(MESSAGES DELETED SIZE))')
    assert lines[0] == b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"'
    assert re.fullmatch(rb'\* STATUS "INBOX" \(MESSAGES 1 DELETED 1 SIZE \d+\)', lines[1])
    lines = client.cmd("d", 'LIST (SUBSCRIBED) "" "*"')
    assert lines[0] == b'* LIST (\\Subscribed \\HasNoChildren) "/" "INBOX"'
    assert b'* LIST (\\Subscribed \\NonExistent \\HasNoChildren) "/" "Gone"' in lines
    assert b'* LIST (\\Subscribed \\HasNoChildren \\Trash) "/" "Trash"' in lines
    lines = client.cmd("e", 'LIST "" ("Drafts" "Sent") RETURN (SPECIAL-USE)')
    assert lines[:-1] == [b'* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
                          b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"']
    client.cmd("f", "SUBSCRIBE x/y")
    lines = client.cmd("g", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "x"')
    assert lines[0] == (b'* LIST (\\NonExistent \\HasNoChildren) "/" "x"'
                        b' ("CHILDINFO" ("SUBSCRIBED"))')
    assert client.cmd("h", 'LIST (BOGUS) "" "*"')[-1].startswith(b"h BAD")


def test_lsub(client: RawImap) -> None:
    for i, name in enumerate(("INBOX", "Archive", "Junk", "Sent", "Trash")):
        client.cmd(f"u{i}", f"UNSUBSCRIBE {name}")
    client.cmd("a", "SUBSCRIBE Drafts")
    client.cmd("b", "CREATE p/q")
    client.cmd("c", "SUBSCRIBE p/q")
    assert client.cmd("d", 'LSUB "" "*"')[:-1] == [b'* LSUB () "/" "Drafts"',
                                                   b'* LSUB () "/" "p/q"']
    assert client.cmd("e", 'LSUB "" "%"')[:-1] == [b'* LSUB () "/" "Drafts"',
                                                   b'* LSUB (\\Noselect) "/" "p"']
    client.cmd("f", "UNSUBSCRIBE Drafts")
    assert client.cmd("g", 'LSUB "" "D*"') == [b"g OK LSUB completed"]


def test_status_items(srv: ServerThread, client: RawImap) -> None:
    deliver(srv, flags=frozenset({"\\Seen"}))
    deliver(srv, flags=frozenset({"\\Deleted"}))
    lines = client.cmd("a", "STATUS INBOX (MESSAGES UIDNEXT UNSEEN DELETED SIZE RECENT)")
    sizes = sum(len(m) for m in srv.inbox(ADDRESS))
    assert lines[0] == (b'* STATUS "INBOX" (MESSAGES 2 UIDNEXT 3 UNSEEN 1 DELETED 1 SIZE %d'
                        b' RECENT 2)' % sizes)  # nobody has selected INBOX yet
    client.cmd("s", "SELECT INBOX")  # this session takes \\Recent (RFC 3501 2.3.2)
    client.cmd("u", "UNSELECT")
    assert client.cmd("t", "STATUS INBOX (RECENT)")[0] == b'* STATUS "INBOX" (RECENT 0)'
    assert client.cmd("b", "STATUS Nope (MESSAGES)")[-1].startswith(b"b NO [NONEXISTENT]")
    assert client.cmd("c", "STATUS INBOX (BOGUS)")[-1].startswith(b"c BAD")
    # RFC 7162 3.1.6: offered now, and it enables CONDSTORE
    assert client.cmd("d", "STATUS INBOX (HIGHESTMODSEQ)")[0].startswith(
        b'* STATUS "INBOX" (HIGHESTMODSEQ ')


def test_quota(srv: ServerThread) -> None:
    srv.add_user("q@example.test", quota_bytes=10 * 1024 * 1024)
    deliver(srv, "q@example.test", b"Subject: x\r\n\r\n" + b"y" * 3000 + b"\r\n")
    imap = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=srv.client_tls())
    imap.login("q@example.test", PASSWORD)
    typ, data = imap.getquotaroot("INBOX")
    assert typ == "OK"
    assert data == [[b'"INBOX" ""'], [b'"" (STORAGE 3 10240)']]
    assert imap.getquota('""') == ("OK", [b'"" (STORAGE 3 10240)'])
    assert imap.setquota('""', "(STORAGE 1)")[0] == "NO"
    imap.logout()


def test_no_quota_means_no_root(client: RawImap) -> None:
    assert client.cmd("a", "GETQUOTAROOT INBOX") == [b'* QUOTAROOT "INBOX"',
                                                      b"a OK GETQUOTAROOT completed"]
    assert client.cmd("b", 'GETQUOTA ""')[-1].startswith(b"b NO [NONEXISTENT]")


def test_imaplib_rev1_folder_workflow(srv: ServerThread) -> None:
    imap = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=srv.client_tls())
    imap.login(ADDRESS, PASSWORD)
    assert imap.create("Projects")[0] == "OK"
    assert imap.subscribe("Projects")[0] == "OK"
    typ, data = imap.lsub()
    assert typ == "OK"
    assert b'() "/" "Projects"' in data
    typ, data = imap.select("Projects", readonly=True)
    assert (typ, data) == ("OK", [b"0"])
    assert imap.close()[0] == "OK"
    assert imap.delete("Projects")[0] == "OK"
    imap.logout()


def test_rev2_names_and_list(client: RawImap) -> None:
    client.cmd("a", "ENABLE IMAP4rev2")
    assert client.cmd("b", 'CREATE "Köln/Süd"')[-1].startswith(b"b OK [MAILBOXID (")
    client.cmd("c", 'DELETE "Köln"')
    assert client.cmd("d", 'LIST "" "K%"')[:-1] == [
        '* LIST (\\NonExistent \\HasChildren) "/" "Köln"'.encode()]  # RFC 9051 6.3.9
    lines = client.cmd("e", 'SELECT "Köln/Süd"')
    assert '* LIST (\\HasNoChildren) "/" "Köln/Süd"'.encode() in lines
    assert client.cmd("f", "CREATE K&APY-ln2")[-1].startswith(b"f OK [MAILBOXID (")  # as UTF-8
    assert b'* LIST (\\HasNoChildren) "/" "K&APY-ln2"' in client.cmd("g", 'LIST "" "K*"')


def test_examine_shows_recent_and_leaves_it_for_select(srv: ServerThread,
                                                       client: RawImap) -> None:
    """RFC 3501 6.3.2: EXAMINE must not make messages lose \\Recent."""
    deliver(srv)
    deliver(srv)
    assert b"* 2 RECENT" in client.cmd("a", "EXAMINE INBOX")
    assert b"* 2 RECENT" in client.cmd("b", "EXAMINE INBOX")
    assert b"* 2 RECENT" in client.cmd("c", "SELECT INBOX")
    assert b"* 0 RECENT" in client.cmd("d", "EXAMINE INBOX")
