"""Issue 14: defects seen with independent clients and conformance scripts, over real
sockets, in IMAP4rev1 and after ENABLE IMAP4rev2 where the answer differs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.imap_msg_support import (
    USER,
    Connections,
    RawImap,
    claim_recent,
    fill,
    message,
    status,
)
from tests.support.server import ServerThread

MODES = ["rev1", "rev2"]


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    """INBOX with three messages, uids 1..3, not \\Recent."""
    server.add_user(USER)
    for n in (1, 2, 3):
        fill(server, message(n))
    claim_recent(server)
    opened = Connections(server)
    yield opened
    opened.close_all()


def _open(conns: Connections, mode: str, command: str = "SELECT INBOX") -> RawImap:
    raw = conns.raw()
    if mode == "rev2":
        raw.ok("ENABLE IMAP4rev2")
    raw.ok(command)
    return raw


def _index(lines: list[bytes], start: bytes) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(start))


# -- 1. a new keyword is announced with FLAGS before the FETCH that shows it ---------------

FLAGS_HOT = b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Hot)\r\n"
PERMANENT_HOT = (b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Hot"
                 b" \\*)] Permanent flags\r\n")


@pytest.mark.parametrize("mode", MODES)
def test_store_new_keyword_sends_flags_first(conns: Connections, mode: str) -> None:
    one, other = _open(conns, mode), _open(conns, mode)
    assert one.ok("STORE 1 +FLAGS ($Hot)") == [
        FLAGS_HOT, PERMANENT_HOT, b"* 1 FETCH (FLAGS ($Hot))\r\n"]
    assert one.ok("STORE 2 +FLAGS ($hot)") == [b"* 2 FETCH (FLAGS ($hot))\r\n"]  # known now
    assert other.ok("NOOP") == [FLAGS_HOT, PERMANENT_HOT, b"* 1 FETCH (UID 1 FLAGS ($Hot))\r\n",
                                b"* 2 FETCH (UID 2 FLAGS ($hot))\r\n"]


@pytest.mark.parametrize("mode", MODES)
def test_silent_store_still_announces_flags(conns: Connections, mode: str) -> None:
    one = _open(conns, mode)
    assert one.ok("STORE 3 +FLAGS.SILENT ($Hot)") == [FLAGS_HOT, PERMANENT_HOT]


@pytest.mark.parametrize("mode", MODES)
def test_append_new_keyword_sends_flags(conns: Connections, mode: str) -> None:
    one, other = _open(conns, mode), _open(conns, mode)
    data = message(4)
    lines = one.ok(b"APPEND INBOX ($Hot) {%d+}\r\n" % len(data) + data)
    assert lines[:2] == [FLAGS_HOT, PERMANENT_HOT]
    assert b"* 4 EXISTS\r\n" in lines
    assert b"* 4 EXISTS\r\n" in other.ok("NOOP")
    lines = other.ok("FETCH 4 FLAGS")
    assert lines[_index(lines, b"* FLAGS")] == FLAGS_HOT
    assert _index(lines, b"* FLAGS") < _index(lines, b"* 4 FETCH")
    assert _index(lines, b"* OK [PERMANENTFLAGS") < _index(lines, b"* 4 FETCH")


def test_examine_announces_empty_permanentflags(conns: Connections) -> None:
    writer, reader = _open(conns, "rev2"), _open(conns, "rev2", "EXAMINE INBOX")
    writer.ok("STORE 1 +FLAGS.SILENT ($Hot)")
    assert reader.ok("NOOP") == [
        FLAGS_HOT, b"* OK [PERMANENTFLAGS ()] Permanent flags\r\n",
        b"* 1 FETCH (UID 1 FLAGS ($Hot))\r\n"]


# -- 2. nothing but BYE after LOGOUT -------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_no_updates_after_logout(server: ServerThread, conns: Connections, mode: str) -> None:
    one, other = _open(conns, mode), _open(conns, mode)
    other.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    other.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    fill(server, message(9))
    lines = one.command("LOGOUT")
    assert lines[0].startswith(b"* BYE ")
    assert status(lines).startswith(b"OK")
    assert len(lines) == 2, lines


# -- 4. LIST patterns that are not modified UTF-7, or match nothing ------------------------

@pytest.mark.parametrize("pattern", ['"&Jjo"', '"&"', '"a&b"', '"&AGE"', '"INBOX&-&"'])
def test_list_pattern_not_utf7_is_ok_and_empty(conns: Connections, pattern: str) -> None:
    raw = conns.raw()
    assert raw.ok(f'LIST "" {pattern}') == []
    assert raw.ok(f'LSUB "" {pattern}') == []
    assert raw.ok(f'LIST (SUBSCRIBED) "" ({pattern} "INBOX")') == [
        b'* LIST (\\Subscribed \\HasNoChildren) "/" "INBOX"\r\n']


def test_list_reference_not_utf7_is_ok_and_empty(conns: Connections) -> None:
    raw = conns.raw()
    assert raw.ok('LIST "&Jjo" "*"') == []
    assert raw.ok('LIST "&" ("*" "%")') == []
    assert raw.ok('LSUB "&" "*"') == []


def test_list_pattern_matching_nothing(conns: Connections) -> None:
    raw = conns.raw()
    assert raw.ok('LIST "" "no-such-box*"') == []
    assert raw.ok('LIST "" "&AOk-t&AOk-"') == []  # valid, just absent


# -- 5. address search keys see the parsed address -----------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_search_from_ignores_comments(server: ServerThread, conns: Connections,
                                      mode: str) -> None:
    data = (b"From: <user-from (comment)@ (comment) domain.org>\r\n"
            b"To: (team) user-to@ (x)\r\n example.net\r\n"
            b"Subject: cfws\r\n\r\nbody\r\n")
    fill(server, data)
    raw = _open(conns, mode)

    def found() -> list[bytes]:
        if mode == "rev2":
            return [b'* ESEARCH (TAG "t%d") ALL 4\r\n' % raw.count]
        return [b"* SEARCH 4\r\n"]

    assert raw.ok("SEARCH FROM user-from@domain.org") == found()
    assert raw.ok("SEARCH TO user-to@example.net") == found()
    assert raw.ok('SEARCH FROM "(comment)"') == found()  # the field as written matches too


# -- 6. LIST (SUBSCRIBED RECURSIVEMATCH) as in RFC 5258 section 5 --------------------------

def _names(lines: list[bytes]) -> list[bytes]:
    return [line.rstrip(b"\r\n") for line in lines]


def test_recursivematch_rfc5258_example_9(conns: Connections) -> None:
    raw = conns.raw()
    for name in ("foo2", "foo2/bar1", "foo2/bar2", "baz2", "baz2/bar2", "baz2/bar22",
                 "baz2/bar222", "eps2", "eps2/mamba", "qux2/bar2"):
        raw.ok(f"CREATE {name}")
    for name in ("foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22", "baz2/bar222", "eps2",
                 "eps2/mamba", "qux2/bar2"):
        raw.ok(f"SUBSCRIBE {name}")
    assert _names(raw.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "*2"')) == [
        b'* LIST (\\Subscribed \\HasNoChildren) "/" "baz2/bar2"',
        b'* LIST (\\Subscribed \\HasNoChildren) "/" "baz2/bar22"',
        b'* LIST (\\Subscribed \\HasNoChildren) "/" "baz2/bar222"',
        b'* LIST (\\Subscribed \\HasChildren) "/" "eps2" ("CHILDINFO" ("SUBSCRIBED"))',
        b'* LIST (\\HasChildren) "/" "foo2" ("CHILDINFO" ("SUBSCRIBED"))',
        b'* LIST (\\Subscribed \\HasNoChildren) "/" "foo2/bar2"',
        b'* LIST (\\Subscribed \\HasNoChildren) "/" "qux2/bar2"',
    ]


def test_recursivematch_rfc5258_example_8(conns: Connections) -> None:
    raw = conns.raw()
    for name in ("Foo", "Foo/Bar", "Foo/Baz", "Moo"):
        raw.ok(f"CREATE {name}")
    for name in ("INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"):
        raw.ok(f"UNSUBSCRIBE {name}")
    raw.ok("SUBSCRIBE Foo/Baz")
    pattern = 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"'
    assert _names(raw.ok(pattern)) == [
        b'* LIST (\\HasChildren) "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))']
    assert raw.ok('LIST (SUBSCRIBED) "" "%"') == []
    raw.ok("SUBSCRIBE Foo")
    assert _names(raw.ok(pattern)) == [
        b'* LIST (\\Subscribed \\HasChildren) "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))']
    raw.ok("UNSUBSCRIBE Foo")
    raw.ok("UNSUBSCRIBE Foo/Baz")
    raw.ok("SUBSCRIBE Xyzzy/Plugh")
    assert _names(raw.ok(pattern)) == [
        b'* LIST (\\NonExistent \\HasNoChildren) "/" "Xyzzy" ("CHILDINFO" ("SUBSCRIBED"))']
    raw.ok("UNSUBSCRIBE Xyzzy/Plugh")
    assert raw.ok(pattern) == []
    raw.ok("SUBSCRIBE Foo")
    raw.ok("SUBSCRIBE Moo")
    assert _names(raw.ok(pattern + " RETURN (CHILDREN)")) == [
        b'* LIST (\\Subscribed \\HasChildren) "/" "Foo"',
        b'* LIST (\\Subscribed \\HasNoChildren) "/" "Moo"']


# -- 7. names starting with "~" ------------------------------------------------------------

def test_tilde_names_are_refused(conns: Connections) -> None:
    raw = conns.raw()
    for command in ('CREATE "~root/x"', "CREATE ~x", 'RENAME Drafts "~root/Drafts"'):
        answer = status(raw.command(command))
        assert answer.startswith(b"NO [CANNOT] Invalid mailbox name"), answer
        assert b"'~'" in answer
    assert raw.ok('LIST "" "~*"') == []
    raw.ok('CREATE "a~b"')  # only a leading "~" is reserved


# -- 8. a search string that is not UTF-8 --------------------------------------------------

@pytest.mark.parametrize("enable", ["UTF8=ACCEPT", "IMAP4rev2"])
def test_search_string_not_utf8_is_badcharset(conns: Connections, enable: str) -> None:
    raw = conns.raw()
    raw.ok(f"ENABLE {enable}")
    raw.ok("SELECT INBOX")
    for command in (b'SEARCH SUBJECT "caf\xe9"', b"SEARCH BODY {4+}\r\ncaf\xe9",
                    b'UID SEARCH CHARSET UTF-8 FROM "\xff\xfe"'):
        answer = status(raw.command(command))
        assert answer.startswith(b"NO [BADCHARSET (UTF-8 US-ASCII)]"), answer
    assert raw.ok('SEARCH SUBJECT "message 2"')  # the session goes on


# -- 3. an expunged message stays readable until the session is told -----------------------

BIG_BODY = "x" * 70 + "\r\n"


def _blob_files(server: ServerThread) -> set[str]:
    root = Path(server.cfg.server.data_dir) / "blobs"
    return {p.name for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def big(server: ServerThread, conns: Connections) -> bytes:
    """Message 4: large enough to live in a blob file."""
    data = message(4, body=BIG_BODY * 4000)
    fill(server, data)
    claim_recent(server)
    return data


def _expunge_elsewhere(conns: Connections, mode: str, sequence: str = "2,4") -> None:
    other = _open(conns, mode)
    other.ok(f"STORE {sequence} +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")


@pytest.mark.parametrize("mode", MODES)
def test_fetch_of_message_expunged_elsewhere_answers_data(
    server: ServerThread, conns: Connections, big: bytes, mode: str
) -> None:
    one = _open(conns, mode)
    files = _blob_files(server)
    assert len(files) == 1
    _expunge_elsewhere(conns, mode)
    lines = one.command("FETCH 1:4 (FLAGS BODY.PEEK[] ENVELOPE)")
    assert status(lines) == b"OK FETCH completed", lines
    assert [line.split(b" ", 2)[1] for line in lines[:-1]] == [b"1", b"2", b"3", b"4"]
    assert lines[3].endswith(big + b" ENVELOPE " + lines[3].split(b" ENVELOPE ", 1)[1])
    assert b"\\Deleted" in lines[1]
    assert big in lines[3]
    assert _blob_files(server) == files  # not freed: this session can address it
    lines = one.command("FETCH 4 BODY[TEXT]")  # \Seen cannot be set on it: still the data
    assert status(lines) == b"OK FETCH completed"
    assert BIG_BODY.encode() * 4000 in lines[0]
    lines = one.ok("NOOP")
    assert lines[:2] == [b"* 2 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n"]
    assert _blob_files(server) == set()  # told: freed
    assert status(one.command("FETCH 3 BODY.PEEK[]")).startswith(b"BAD")


@pytest.mark.parametrize("mode", MODES)
def test_uid_fetch_answers_before_the_expunge(
    server: ServerThread, conns: Connections, big: bytes, mode: str
) -> None:
    one = _open(conns, mode)
    _expunge_elsewhere(conns, mode)
    lines = one.command("UID FETCH 4 (UID BODY.PEEK[])")
    assert status(lines) == b"OK UID FETCH completed", lines
    assert lines[0].startswith(b"* 4 FETCH (UID 4 BODY[] {")
    assert big in lines[0]
    assert lines[1:3] == [b"* 2 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n"]  # after the FETCH
    assert _blob_files(server) == set()


@pytest.mark.parametrize("mode", MODES)
def test_blob_freed_when_a_session_leaves_untold(
    server: ServerThread, conns: Connections, big: bytes, mode: str
) -> None:
    one, idle = _open(conns, mode), _open(conns, mode)
    _expunge_elsewhere(conns, mode)
    assert big in one.command("FETCH 4 BODY.PEEK[]")[0]
    one.close()  # logs out without being told
    assert len(_blob_files(server)) == 1  # the other session was not told either
    assert idle.command("LOGOUT")[-1].startswith(b"t")  # LOGOUT: no EXPUNGE, just BYE
    deadline = time.monotonic() + 10
    while _blob_files(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _blob_files(server) == set()


def test_select_elsewhere_and_examine_release(server: ServerThread, conns: Connections,
                                              big: bytes) -> None:
    one = _open(conns, "rev2", "EXAMINE INBOX")
    _expunge_elsewhere(conns, "rev2")
    assert big in one.command("FETCH 4 BODY.PEEK[]")[0]
    one.ok("SELECT Drafts")  # the INBOX view is closed with the SELECT
    assert _blob_files(server) == set()


def test_expunged_message_readable_under_qresync(server: ServerThread, conns: Connections,
                                                 big: bytes) -> None:
    one = conns.raw()
    one.ok("ENABLE QRESYNC")
    one.ok("SELECT INBOX")
    _expunge_elsewhere(conns, "rev2")
    lines = one.command("FETCH 4 (MODSEQ BODY.PEEK[])")
    assert status(lines) == b"OK FETCH completed"
    assert big in lines[0]
    assert one.ok("NOOP")[0] == b"* VANISHED 2,4\r\n"
    assert _blob_files(server) == set()
