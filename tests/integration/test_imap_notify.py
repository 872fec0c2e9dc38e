"""RFC 5465 NOTIFY over real sockets, in IMAP4rev1 and IMAP4rev2: STATUS for other
mailboxes on SMTP delivery, APPEND, flag changes and expunges from another session
(HIGHESTMODSEQ with CONDSTORE), the selected mailbox's MessageNew with fetch attributes,
SELECTED and SELECTED-DELAYED expunges, MailboxName, SubscriptionChange and METADATA
changes, the STATUS option, NONE, the session's own changes, BADEVENT and the other
refusals, and NOTIFICATIONOVERFLOW.

Notifications between commands are read straight off the socket; that nothing else came
is shown by a later command's answer (no wall-clock waits)."""

from __future__ import annotations

import dataclasses
import poplib
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.config import ConfigError, load_config
from tests.integration.imap_msg_support import (
    USER,
    Connections,
    RawImap,
    imaplib_client,
    status,
)
from tests.support.server import PASSWORD, ServerThread, make_config

MODES = ["rev1", "rev2"]
MESSAGE = b"Subject: hello\r\nFrom: a@example.test\r\n\r\nbody\r\n"


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    server.add_user(USER)
    opened = Connections(server)
    yield opened
    opened.close_all()


def _open(conns: Connections, mode: str, *extra: str) -> RawImap:
    raw = conns.raw(USER)
    names = (["IMAP4rev2"] if mode == "rev2" else []) + list(extra)
    if names:
        raw.ok("ENABLE " + " ".join(names))
    return raw


def _lines(responses: list[bytes]) -> list[bytes]:
    return [line.rstrip(b"\r\n") for line in responses]


def _next(raw: RawImap) -> bytes:
    """The next response the server sends unasked."""
    return raw.response().rstrip(b"\r\n")


def _append(raw: RawImap, mailbox: str, data: bytes = MESSAGE) -> None:
    raw.ok(b'APPEND "%s" {%d+}\r\n%s' % (mailbox.encode(), len(data), data))


def _smtp(server: ServerThread, data: bytes = MESSAGE) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as smtp:
        smtp.sendmail("someone@remote.example", [USER], data)


def _uidvalidity(raw: RawImap, mailbox: str) -> int:
    line = _lines(raw.ok(f'STATUS "{mailbox}" (UIDVALIDITY)'))[0]
    return int(line.rsplit(b" ", 1)[1].rstrip(b")"))


@pytest.mark.parametrize("mode", MODES)
def test_capability_before_and_after_login(conns: Connections, mode: str) -> None:
    anon = conns.raw(None)
    assert b" NOTIFY " in anon.greeting
    raw = _open(conns, mode)
    assert b"NOTIFY" in _lines(raw.ok("CAPABILITY"))[0].split()


@pytest.mark.parametrize("mode", MODES)
def test_status_on_smtp_delivery_to_an_unselected_inbox(conns: Connections,
                                                        mode: str) -> None:
    watcher = _open(conns, mode)
    uidvalidity = _uidvalidity(watcher, "INBOX")
    assert _lines(watcher.ok("NOTIFY SET (inboxes (MessageNew MessageExpunge))")) == []
    _smtp(conns.server)
    assert _next(watcher) == (b'* STATUS "INBOX" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY %d'
                              b' UNSEEN 1)' % uidvalidity)


@pytest.mark.parametrize("mode", MODES)
def test_status_on_another_sessions_append_flags_and_expunge(conns: Connections,
                                                             mode: str) -> None:
    watcher = _open(conns, mode)
    other = _open(conns, mode)
    other.ok("CREATE Lists")
    uidvalidity = _uidvalidity(watcher, "Lists")
    watcher.ok("NOTIFY SET (personal (MessageNew MessageExpunge FlagChange))")
    _append(other, "Lists")
    assert _next(watcher) == (b'* STATUS "Lists" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY %d'
                              b' UNSEEN 1)' % uidvalidity)
    other.ok("SELECT Lists")
    other.ok("STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)")
    assert _next(watcher) == (b'* STATUS "Lists" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY %d'
                              b' UNSEEN 0)' % uidvalidity)
    other.ok("EXPUNGE")
    assert _next(watcher) == (b'* STATUS "Lists" (MESSAGES 0 UIDNEXT 2 UIDVALIDITY %d'
                              b' UNSEEN 0)' % uidvalidity)
    # nothing else was sent: the next command's answer is only its tagged OK
    assert watcher.command("NOOP")[0].split(b" ")[1] == b"OK"


@pytest.mark.parametrize("mode", MODES)
def test_highestmodseq_with_condstore(conns: Connections, mode: str) -> None:
    watcher = _open(conns, mode, "CONDSTORE")
    other = _open(conns, mode)
    watcher.ok("NOTIFY SET (personal (MessageNew MessageExpunge FlagChange))")
    _append(other, "INBOX")
    line = _next(watcher)
    assert line.startswith(b'* STATUS "INBOX" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY ')
    first = int(line.split(b"HIGHESTMODSEQ ")[1].rstrip(b")"))
    other.ok("SELECT INBOX")
    other.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    line = _next(watcher)
    assert b"UNSEEN 1 HIGHESTMODSEQ " in line
    assert int(line.split(b"HIGHESTMODSEQ ")[1].rstrip(b")")) > first


@pytest.mark.parametrize("mode", MODES)
def test_selected_message_new_with_fetch_attributes(conns: Connections, mode: str) -> None:
    watcher = _open(conns, mode)
    other = _open(conns, mode)
    watcher.ok("SELECT INBOX")
    watcher.ok("NOTIFY SET (selected (MessageNew (UID FLAGS BODY.PEEK[HEADER.FIELDS"
               " (SUBJECT)] BODY[TEXT]) MessageExpunge FlagChange))")
    _append(other, "INBOX")
    assert _next(watcher) == b"* 1 EXISTS"
    if mode == "rev1":
        assert _next(watcher) == b"* 1 RECENT"
    flags = b"(\\Recent)" if mode == "rev1" else b"()"
    assert _next(watcher) == (b"* 1 FETCH (UID 1 FLAGS %s BODY[HEADER.FIELDS (SUBJECT)] {18}"
                              b"\r\nSubject: hello\r\n\r\n BODY[TEXT] {6}\r\nbody\r\n)" % flags)
    # the unsolicited FETCH of BODY[TEXT] did not set \Seen
    other.ok("SELECT INBOX")
    assert b"FLAGS ()" in _lines(other.ok("FETCH 1 (FLAGS)"))[0]
    other.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    flagged = b"(\\Flagged \\Recent)" if mode == "rev1" else b"(\\Flagged)"
    assert _next(watcher) == b"* 1 FETCH (UID 1 FLAGS %s)" % flagged
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert _next(watcher).startswith(b"* 1 FETCH (UID 1 FLAGS (\\Deleted \\Flagged")
    other.ok("EXPUNGE")
    assert _next(watcher) == b"* 1 EXPUNGE"  # SELECTED: at once, between commands
    if mode == "rev1":
        assert _next(watcher) == b"* 0 RECENT"
    # what this session appends itself is announced, but not fetched for it (5.2)
    own = _lines(watcher.ok(b"APPEND INBOX {%d+}\r\n%s" % (len(MESSAGE), MESSAGE)))
    assert own == [b"* 1 EXISTS"] + ([b"* 1 RECENT"] if mode == "rev1" else [])
    _append(other, "INBOX")
    assert _next(watcher) == b"* 2 EXISTS"
    if mode == "rev1":  # whichever session saw it first claimed it (RFC 3501 2.3.2)
        assert _next(watcher) in (b"* 1 RECENT", b"* 2 RECENT")
    assert _next(watcher).startswith(b"* 2 FETCH (UID 3 FLAGS ")


@pytest.mark.parametrize("mode", MODES)
def test_message_new_under_uidonly(conns: Connections, mode: str) -> None:
    """With UIDONLY (RFC 9586) the new message's data comes as UIDFETCH."""
    watcher = _open(conns, mode, "UIDONLY")
    other = _open(conns, mode)
    watcher.ok("SELECT INBOX")
    watcher.ok("NOTIFY SET (selected (MessageNew (FLAGS) MessageExpunge FlagChange))")
    _append(other, "INBOX")
    assert _next(watcher) == b"* 1 EXISTS"
    if mode == "rev1":
        assert _next(watcher) == b"* 1 RECENT"
    flags = b"(\\Recent)" if mode == "rev1" else b"()"
    assert _next(watcher) == b"* 1 UIDFETCH (FLAGS %s)" % flags
    other.ok("SELECT INBOX")
    other.ok("UID STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert _next(watcher).startswith(b"* 1 UIDFETCH (FLAGS (\\Deleted")
    other.ok("UID EXPUNGE 1")
    assert _next(watcher) == b"* VANISHED 1"


@pytest.mark.parametrize("mode", MODES)
def test_selected_delayed_keeps_expunges_for_a_command(conns: Connections,
                                                       mode: str) -> None:
    watcher = _open(conns, mode)
    other = _open(conns, mode)
    _append(other, "INBOX")
    _append(other, "INBOX")
    watcher.ok("SELECT INBOX")
    watcher.ok("NOTIFY SET (selected-delayed (MessageNew MessageExpunge))")
    other.ok("SELECT INBOX")
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    _append(other, "INBOX")
    # the new message is announced at once; the expunge waits (EXISTS counts it still)
    assert _next(watcher) == b"* 3 EXISTS"
    if mode == "rev1":  # 1 and 2 are this session's \Recent; 3 went to whichever session
        assert _next(watcher) in (b"* 2 RECENT", b"* 3 RECENT")  # saw it first (3501 2.3.2)
    # FETCH by sequence number may not see it (RFC 9051 7.5.1); NOOP does
    assert _lines(watcher.ok("FETCH 1 (UID)")) == [b"* 1 FETCH (UID 1)"]
    assert _lines(watcher.ok("NOOP"))[0] == b"* 1 EXPUNGE"


@pytest.mark.parametrize("mode", MODES)
def test_without_a_selected_group_the_selected_mailbox_is_quiet(conns: Connections,
                                                                mode: str) -> None:
    """3.1: no SELECTED group is SELECTED NONE; the session's own changes are still
    answered, and NOTIFY NONE brings back what was held."""
    watcher = _open(conns, mode)
    other = _open(conns, mode)
    _append(other, "INBOX")
    watcher.ok("SELECT INBOX")
    watcher.ok("NOTIFY SET (personal (MailboxName))")
    other.ok("SELECT INBOX")
    other.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
    _append(other, "INBOX")
    assert _lines(watcher.ok("NOOP")) == []
    own = _lines(watcher.ok(b"APPEND INBOX {%d+}\r\n%s" % (len(MESSAGE), MESSAGE)))
    assert own[0] == b"* 3 EXISTS"  # this command's own message, and what was held
    assert _lines(watcher.ok("NOOP")) == []  # the flag change is still held
    watcher.ok("NOTIFY SET (selected (MessageNew MessageExpunge))")  # no FlagChange
    other.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    assert _next(watcher) == b"* 2 EXPUNGE"
    answered = _lines(watcher.ok("NOTIFY NONE"))  # an implicit NOOP, without NOTIFY now
    recent = b" \\Recent" if mode == "rev1" else b""
    assert [line for line in answered if b"FETCH" in line] == [
        b"* 1 FETCH (UID 1 FLAGS (\\Flagged%s))" % recent]


@pytest.mark.parametrize("mode", MODES)
def test_selected_follows_select_and_unselect(conns: Connections, mode: str) -> None:
    """NOTIFY outlives SELECT / UNSELECT; SELECTED is whatever is selected at the time."""
    watcher = _open(conns, mode)
    other = _open(conns, mode)
    other.ok("CREATE Lists")
    watcher.ok("NOTIFY SET (selected (MessageNew MessageExpunge))"
               " (personal (MessageNew MessageExpunge))")
    _append(other, "Lists")  # nothing selected: a STATUS
    assert _next(watcher).startswith(b'* STATUS "Lists" (MESSAGES 1 ')
    watcher.ok("SELECT Lists")
    _append(other, "Lists")  # selected now: EXISTS
    assert _next(watcher) == b"* 2 EXISTS"
    if mode == "rev1":  # the first one too: no session had Lists selected before
        assert _next(watcher) == b"* 2 RECENT"
    _append(other, "INBOX")  # the others still get STATUS
    assert _next(watcher).startswith(b'* STATUS "INBOX" (MESSAGES 1 ')
    watcher.ok("UNSELECT")
    _append(other, "Lists")
    assert _next(watcher).startswith(b'* STATUS "Lists" (MESSAGES 3 ')


@pytest.mark.parametrize("mode", MODES)
def test_mailbox_name_on_create_rename_delete(conns: Connections, mode: str) -> None:
    watcher = _open(conns, mode)
    other = _open(conns, mode)
    watcher.ok("NOTIFY SET (personal (MailboxName))")
    other.ok("CREATE Projects")
    assert _next(watcher) == b'* LIST (\\HasNoChildren) "/" "Projects"'
    other.ok("RENAME Projects Attic")
    assert _next(watcher) == b'* LIST (\\HasNoChildren) "/" "Attic" ("OLDNAME" ("Projects"))'
    other.ok("DELETE Attic")
    assert _next(watcher) == b'* LIST (\\NonExistent) "/" "Attic"'
    other.ok("CREATE a/b")  # the parent is created too
    assert _next(watcher) == b'* LIST (\\HasChildren) "/" "a"'
    assert _next(watcher) == b'* LIST (\\HasNoChildren) "/" "a/b"'


@pytest.mark.parametrize("mode", MODES)
def test_names_go_out_as_the_session_reads_them(conns: Connections, mode: str) -> None:
    """Modified UTF-7 in IMAP4rev1, UTF-8 in IMAP4rev2 (RFC 9051 5.1), also in filters."""
    watcher = _open(conns, mode)
    other = _open(conns, "rev2")
    utf7 = mode == "rev1"
    name = b"&AMQ-rger" if utf7 else "\u00c4rger".encode()
    watcher.ok(b"NOTIFY SET (mailboxes \"%s\" (MessageNew MessageExpunge MailboxName))"
               % name)
    other.ok("CREATE \"\u00c4rger\"")
    assert _next(watcher) == b'* LIST (\\HasNoChildren) "/" "%s"' % name
    _append(other, "\u00c4rger")
    assert _next(watcher).startswith(b'* STATUS "%s" (MESSAGES 1 ' % name)


@pytest.mark.parametrize("mode", MODES)
def test_vanished_with_qresync(conns: Connections, mode: str) -> None:
    watcher = _open(conns, mode, "QRESYNC")
    other = _open(conns, mode)
    _append(other, "INBOX")
    _append(other, "INBOX")
    watcher.ok("SELECT INBOX")
    watcher.ok("NOTIFY SET (selected (MessageNew MessageExpunge FlagChange))")
    other.ok("SELECT INBOX")
    other.ok("UID STORE 1 +FLAGS.SILENT (\\Deleted)")
    line = _next(watcher)
    assert line.startswith(b"* 1 FETCH (UID 1 FLAGS (\\Deleted")
    assert b" MODSEQ (" in line
    other.ok("UID EXPUNGE 1")
    assert _next(watcher) == b"* VANISHED 1"


@pytest.mark.parametrize("mode", MODES)
def test_subtree_and_mailboxes_filters(conns: Connections, mode: str) -> None:
    watcher = _open(conns, mode)
    other = _open(conns, mode)
    # Later does not exist yet: allowed (RFC 5465 6.6), it matches once created
    watcher.ok("NOTIFY SET (subtree Work (MailboxName)) (mailboxes (Later Other) (MailboxName))")
    other.ok("CREATE Elsewhere")
    other.ok("CREATE Work/Reports")
    assert _next(watcher) == b'* LIST (\\HasChildren) "/" "Work"'
    assert _next(watcher) == b'* LIST (\\HasNoChildren) "/" "Work/Reports"'
    other.ok("CREATE Later")
    assert _next(watcher) == b'* LIST (\\HasNoChildren) "/" "Later"'
    assert watcher.command("NOOP")[0].split(b" ")[1] == b"OK"  # nothing for Elsewhere


@pytest.mark.parametrize("mode", MODES)
def test_subscription_change(conns: Connections, mode: str) -> None:
    watcher = _open(conns, mode)
    other = _open(conns, mode)
    other.ok("CREATE News")
    watcher.ok("NOTIFY SET (subscribed (SubscriptionChange MessageNew MessageExpunge))")
    other.ok("SUBSCRIBE News")
    assert _next(watcher) == b'* LIST (\\HasNoChildren \\Subscribed) "/" "News"'
    _append(other, "News")  # subscribed now: it matches the filter
    assert _next(watcher).startswith(b'* STATUS "News" (MESSAGES 1 ')
    other.ok("UNSUBSCRIBE News")
    assert _next(watcher) == b'* LIST (\\HasNoChildren) "/" "News"'
    _append(other, "News")  # no longer subscribed: nothing
    other.ok("SUBSCRIBE Drafts")
    assert _next(watcher) == b'* LIST (\\HasNoChildren \\Drafts \\Subscribed) "/" "Drafts"'


@pytest.mark.parametrize("mode", MODES)
def test_metadata_changes(conns: Connections, mode: str) -> None:
    watcher = _open(conns, mode)
    other = _open(conns, mode)
    watcher.ok("NOTIFY SET (personal (MailboxMetadataChange ServerMetadataChange))")
    other.ok('SETMETADATA INBOX (/private/comment "hi" /shared/comment "all")')
    assert _next(watcher) == b'* METADATA "INBOX" /private/comment /shared/comment'
    other.ok('SETMETADATA "" (/private/vendor/x/y/token "t")')
    assert _next(watcher) == b'* METADATA "" /private/vendor/x/y/token'
    conns.server.call(conns.server.store.set_server_metadata("/shared/comment", b"ops"))
    assert _next(watcher) == b'* METADATA "" /shared/comment'


@pytest.mark.parametrize("mode", MODES)
def test_own_changes_are_not_reported(conns: Connections, mode: str) -> None:
    watcher = _open(conns, mode)
    other = _open(conns, mode)
    watcher.ok("NOTIFY SET (personal (MessageNew MessageExpunge FlagChange MailboxName"
               " SubscriptionChange MailboxMetadataChange))")
    assert _lines(watcher.ok("CREATE Mine")) == []
    _append(watcher, "Mine")
    assert _lines(watcher.ok("SUBSCRIBE Mine")) == []
    assert _lines(watcher.ok('SETMETADATA Mine (/private/comment "x")')) == []
    assert _lines(watcher.ok("RENAME Mine Yours")) == []
    # another session's change comes through, and is the first thing sent
    other.ok("CREATE Theirs")
    assert _next(watcher) == b'* LIST (\\HasNoChildren) "/" "Theirs"'


@pytest.mark.parametrize("mode", MODES)
def test_status_option_and_none(conns: Connections, mode: str) -> None:
    watcher = _open(conns, mode)
    other = _open(conns, mode)
    other.ok("CREATE Lists")
    _append(other, "Lists")
    watcher.ok("SELECT INBOX")
    answer = _lines(watcher.ok("NOTIFY SET STATUS (selected (MessageNew MessageExpunge))"
                               " (mailboxes (INBOX Lists) (MessageNew MessageExpunge))"
                               " (personal (MailboxName))"))
    # every mailbox with message events but the selected one (RFC 5465 3)
    assert len(answer) == 1
    assert answer[0].startswith(b'* STATUS "Lists" (MESSAGES 1 UIDNEXT 2 ')
    every = _lines(watcher.ok("NOTIFY SET STATUS (personal (MessageNew MessageExpunge))"))
    listed = _lines(watcher.ok('LIST "" "*"'))
    assert len(every) == len(listed) - 1
    assert _lines(watcher.ok("NOTIFY NONE")) == []
    other.ok("CREATE Quiet")
    _append(other, "Lists")
    assert _lines(watcher.ok("NOOP")) == []


@pytest.mark.parametrize("mode", MODES)
def test_notify_in_idle(conns: Connections, mode: str) -> None:
    watcher = _open(conns, mode)
    other = _open(conns, mode)
    other.ok("CREATE Lists")
    watcher.ok("SELECT INBOX")
    watcher.ok("NOTIFY SET (personal (MessageNew MessageExpunge))")
    watcher.sock.sendall(b"i IDLE\r\n")
    assert _next(watcher) == b"+ idling"
    _append(other, "Lists")
    assert _next(watcher).startswith(b'* STATUS "Lists" (MESSAGES 1 ')
    watcher.sock.sendall(b"DONE\r\n")
    assert _next(watcher) == b"i OK IDLE terminated"


@pytest.mark.parametrize("mode", MODES)
def test_refusals(conns: Connections, mode: str) -> None:
    raw = _open(conns, mode)
    supported = (b"(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange"
                 b" MailboxMetadataChange ServerMetadataChange)")
    for request in ("(personal (MessageNew MessageExpunge AnnotationChange FlagChange))",
                    "(personal (MessageNew MessageExpunge Frobnicate))"):
        assert status(raw.command("NOTIFY SET " + request)) == (
            b"NO [BADEVENT %s] Unsupported NOTIFY event" % supported)
    for request in ("SET (personal (MessageNew))",  # MessageExpunge must come with it
                    "SET (personal (MessageExpunge))",
                    "SET (personal (FlagChange))",  # needs MessageNew and MessageExpunge
                    "SET (personal (MessageNew (UID) MessageExpunge))",  # fetch: selected only
                    "SET (selected (MailboxName))",  # message events only
                    "SET (selected NONE) (selected-delayed NONE)",
                    "SET (everything (MailboxName))", "SET", "SET ()", "SET (personal ())",
                    "SET STATUS", "SET (subtree (MailboxName))", "BOGUS",
                    "SET (selected (MessageNew (NOSUCHITEM) MessageExpunge))"):
        assert status(raw.command("NOTIFY " + request)).startswith(b"BAD "), request
        raw.ok("NOOP")  # ten BADs in a row would end the session
    anon = conns.raw(None)
    assert status(anon.command("NOTIFY NONE")).startswith(b"BAD ")


@pytest.fixture
def small_backlog(tmp_path: Path) -> Iterator[Connections]:
    cfg = make_config(tmp_path / "data")
    limits = dataclasses.replace(cfg.limits, imap_notify_backlog=3)
    srv = ServerThread(dataclasses.replace(cfg, limits=limits)).start()
    srv.add_user(USER)
    opened = Connections(srv)
    try:
        yield opened
    finally:
        opened.close_all()
        srv.stop()


@pytest.mark.parametrize("mode", MODES)
def test_overflow_turns_notify_off(small_backlog: Connections, mode: str) -> None:
    watcher = _open(small_backlog, mode)
    other = _open(small_backlog, mode)
    other.ok("CREATE Lists")
    watcher.ok("NOTIFY SET (personal (MessageNew MessageExpunge))")
    # while a command is under way (its literal announced) nothing is sent: events wait
    watcher.sock.sendall(b"a APPEND INBOX {%d}\r\n" % len(MESSAGE))
    assert _next(watcher) == b"+ Ready"
    for _ in range(5):
        _append(other, "Lists")
    watcher.sock.sendall(MESSAGE + b"\r\n")
    assert _next(watcher) == (b"* OK [NOTIFICATIONOVERFLOW] Too many notifications,"
                              b" NOTIFY is off")
    assert _next(watcher).startswith(b"a OK [APPENDUID ")
    _append(other, "Lists")
    assert _lines(watcher.ok("NOOP")) == []  # NOTIFY is off now
    watcher.ok("NOTIFY SET (personal (MessageNew MessageExpunge))")  # and can be set again
    _append(other, "Lists")
    assert _next(watcher).startswith(b'* STATUS "Lists" (MESSAGES 7 ')


def test_with_pythons_imaplib(conns: Connections) -> None:
    """A stock client: imaplib sends NOTIFY with xatom and files the unsolicited STATUS
    and LIST responses it reads with its next command."""
    watcher = imaplib_client(conns.server)
    other = _open(conns, "rev1")
    try:
        assert "NOTIFY" in watcher.capabilities
        typ, _ = watcher.xatom("NOTIFY", "SET (personal (MessageNew MessageExpunge"
                                         " MailboxName))")
        assert typ == "OK"
        other.ok("CREATE Lists")
        _append(other, "Lists")
        watcher.noop()
        assert watcher.response("LIST")[1] == [b'(\\HasNoChildren) "/" "Lists"']
        status_data = watcher.response("STATUS")[1]
        assert status_data[0] is not None
        assert status_data[0].startswith(b'"Lists" (MESSAGES 1 UIDNEXT 2 ')
        assert watcher.xatom("NOTIFY", "NONE")[0] == "OK"
    finally:
        watcher.logout()


@pytest.mark.parametrize("mode", MODES)
def test_pop3_deletions_are_message_expunge(conns: Connections, mode: str) -> None:
    """A POP3 client (poplib) deleting mail is an expunge like any other (5.3)."""
    watcher = _open(conns, mode)
    _smtp(conns.server)
    watcher.ok("NOTIFY SET (inboxes (MessageNew MessageExpunge))")
    pop = poplib.POP3_SSL("127.0.0.1", conns.server.port("pop3s"),
                          context=conns.server.client_tls(), timeout=30)
    pop.user(USER)
    pop.pass_(PASSWORD)
    pop.dele(1)
    pop.quit()
    assert _next(watcher).startswith(b'* STATUS "INBOX" (MESSAGES 0 UIDNEXT 2 ')


def test_backlog_config_key(tmp_path: Path) -> None:
    cfg_file = tmp_path / "posthouse.toml"
    cfg_file.write_text("[limits]\nimap_notify_backlog = 50\n")
    assert load_config(cfg_file).limits.imap_notify_backlog == 50
    for value in ("0", "-1"):
        cfg_file.write_text(f"[limits]\nimap_notify_backlog = {value}\n")
        with pytest.raises(ConfigError, match="imap_notify_backlog"):
            load_config(cfg_file)
