"""Table-driven tests of the command parsers: one or more rows for every command."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posthouse.imap import commands as c
from posthouse.imap.connection import ImapConnection
from posthouse.imap.events import LiteralArg, NeedLiteral, RawCommand
from posthouse.imap.fetchitems import Attr, BinarySize, BodySection, Section
from posthouse.imap.parser import PARSERS, parse_command
from posthouse.imap.replies import ParseError
from posthouse.imap.responses import Status, encode_response
from posthouse.imap.search import (
    AllKey,
    And,
    DateField,
    DateKey,
    DateOp,
    FlagKey,
    HeaderKey,
    ModSeqKey,
    Not,
    Or,
    SeqKey,
    SizeKey,
    TextField,
    TextKey,
)
from posthouse.imap.sequence import SequenceSet
from posthouse.store.models import FlagOp
from posthouse.wire.errors import RemoteProtocolError
from posthouse.wire.events import NEED_DATA


def raw_command(wire: bytes) -> RawCommand:
    """Read one command, accepting every literal."""
    reader = ImapConnection(max_line=8192, max_literal=1 << 20)
    reader.receive_data(wire)
    while True:
        event = reader.next_event()
        if isinstance(event, NeedLiteral):
            reader.accept_literal()
            continue
        assert isinstance(event, RawCommand), event
        assert reader.next_event() is NEED_DATA
        return event


def parse(line: bytes, *, utf8: bool = False) -> c.ImapCommand:
    return parse_command(raw_command(line + b"\r\n"), utf8=utf8)


S = SequenceSet.parse
CET = timezone(timedelta(hours=1))

VALID: list[tuple[bytes, c.ImapCommand]] = [
    (b"a CAPABILITY", c.CapabilityCommand()),
    (b"a noop", c.NoopCommand()),
    (b"a LOGOUT", c.LogoutCommand()),
    (b"a STARTTLS", c.StartTLSCommand()),
    (b"a NAMESPACE", c.NamespaceCommand()),
    (b"a IDLE", c.IdleCommand()),
    (b"a NOTIFY NONE", c.NotifyCommand(None)),
    (b"a CHECK", c.CheckCommand()),
    (b"a CLOSE", c.CloseCommand()),
    (b"a UNSELECT", c.UnselectCommand()),
    (b"a UNAUTHENTICATE", c.UnauthenticateCommand()),
    (b"a EXPUNGE", c.ExpungeCommand()),
    # AUTHENTICATE / LOGIN / ENABLE / ID
    (b"a AUTHENTICATE plain", c.AuthenticateCommand("PLAIN")),
    (b"a AUTHENTICATE PLAIN =", c.AuthenticateCommand("PLAIN", b"=")),  # raw (RFC 4959)
    (
        b"a AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=",
        c.AuthenticateCommand("PLAIN", b"AGJvYgBzZWNyZXQ="),  # as sent: the mechanism decodes
    ),
    (b"a LOGIN bob secret", c.LoginCommand("bob", "secret")),
    (b'a LOGIN "bob@example.org" "se\\"cr\\\\et"', c.LoginCommand("bob@example.org", 'se"cr\\et')),
    (b"a LOGIN {3}\r\nbob {6+}\r\nsecret", c.LoginCommand("bob", "secret")),
    (b'a LOGIN "j\xc3\xbcrgen" "p\xc3\xa4ss"', c.LoginCommand("jürgen", "päss")),
    (b"a LOGIN bob pass]word", c.LoginCommand("bob", "pass]word")),
    (b"a ENABLE UTF8=ACCEPT condstore", c.EnableCommand(("UTF8=ACCEPT", "CONDSTORE"))),
    (b"a ID NIL", c.IdCommand(None)),
    (b'a ID ("name" "mutt" "version" NIL)', c.IdCommand((("name", "mutt"), ("version", None)))),
    (b"a ID ()", c.IdCommand(())),
    # mailboxes
    (b"a SELECT inbox", c.SelectCommand("INBOX")),
    (b"a SELECT InBoX (CONDSTORE)", c.SelectCommand("INBOX", condstore=True)),
    # RFC 7162 3.2.5: QRESYNC (uidvalidity modseq [known-uids [seq-match-data]])
    (b"a SELECT x (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
     c.SelectCommand("x", qresync=c.QresyncParams(67890007, 20050715194045000,
                                                  S("41,43:211,214:541")))),
    (b"a EXAMINE x (QRESYNC (1 2 1:9 (1:3,5 1:3,9)) CONDSTORE)",
     c.ExamineCommand("x", condstore=True, qresync=c.QresyncParams(
         1, 2, S("1:9"), (S("1:3,5"), S("1:3,9"))))),
    (b"a SELECT x (QRESYNC (1 2 (4 9)))",
     c.SelectCommand("x", qresync=c.QresyncParams(1, 2, None, (S("4"), S("9"))))),
    (b'a EXAMINE "Entw&APw-rfe"', c.ExamineCommand("Entwürfe")),
    (b"a EXAMINE {5}\r\nDraft", c.ExamineCommand("Draft")),
    (b"a CREATE Projects/2024", c.CreateCommand("Projects/2024")),
    (b"a CREATE Spam (USE (\\junk))", c.CreateCommand("Spam", ("\\Junk",))),
    (b"a CREATE X (USE ())", c.CreateCommand("X", ())),
    (b"a DELETE old", c.DeleteCommand("old")),
    (b"a RENAME old new", c.RenameCommand("old", "new")),
    (b'a RENAME "a b" "c&-d"', c.RenameCommand("a b", "c&d")),
    (b"a SUBSCRIBE news", c.SubscribeCommand("news")),
    (b"a UNSUBSCRIBE news", c.UnsubscribeCommand("news")),
    (
        b"a STATUS INBOX (MESSAGES unseen UIDNEXT)",
        c.StatusCommand("INBOX", ("MESSAGES", "UNSEEN", "UIDNEXT")),
    ),
    (
        b"a STATUS x (SIZE DELETED RECENT UIDVALIDITY HIGHESTMODSEQ)",
        c.StatusCommand("x", ("SIZE", "DELETED", "RECENT", "UIDVALIDITY", "HIGHESTMODSEQ")),
    ),
    (b'a GETQUOTA ""', c.GetQuotaCommand("")),
    (b"a GETQUOTAROOT INBOX", c.GetQuotaRootCommand("INBOX")),
    (
        b'a SETQUOTA "" (STORAGE 512 MESSAGE 1000)',
        c.SetQuotaCommand("", (("STORAGE", 512), ("MESSAGE", 1000))),
    ),
    (b'a SETQUOTA "" ()', c.SetQuotaCommand("", ())),
    # COMPRESS (RFC 4978), METADATA (RFC 5464), LIST-METADATA (RFC 9590)
    (b"a COMPRESS deflate", c.CompressCommand("DEFLATE")),
    (b'a GETMETADATA (DEPTH 1) "" /shared', c.GetMetadataCommand("", ("/shared",), None, 1)),
    (b"a SETMETADATA INBOX (/private/comment NIL)",
     c.SetMetadataCommand("INBOX", (("/private/comment", None),))),
    (b'a LIST "" * RETURN (METADATA (DEPTH 1 /private/a MAXSIZE 9))',
     c.ListCommand("", ("*",), returns=frozenset({"METADATA"}), extended=True,
                   metadata=c.MetadataRequest(("/private/a",), 9, 1))),
    # LIST / LSUB
    (b'a LIST "" *', c.ListCommand("", ("*",))),
    (b'a LIST "" ""', c.ListCommand("", ("",))),
    (b"a LIST ~/Mail/ %", c.ListCommand("~/Mail/", ("%",))),
    (b'a LIST "" Foo]*', c.ListCommand("", ("Foo]*",))),
    (
        b'a LIST (SUBSCRIBED RECURSIVEMATCH) "" "*"',
        c.ListCommand("", ("*",), frozenset({"SUBSCRIBED", "RECURSIVEMATCH"}), extended=True),
    ),
    (b'a LIST "" ("INBOX" "Sent*")', c.ListCommand("", ("INBOX", "Sent*"), extended=True)),
    (
        b'a LIST "" % RETURN (CHILDREN SPECIAL-USE)',
        c.ListCommand("", ("%",), returns=frozenset({"CHILDREN", "SPECIAL-USE"}), extended=True),
    ),
    (
        b'a LIST "" % RETURN (STATUS (MESSAGES UNSEEN))',
        c.ListCommand(
            "",
            ("%",),
            returns=frozenset({"STATUS"}),
            status_items=("MESSAGES", "UNSEEN"),
            extended=True,
        ),
    ),
    (
        b'a LIST (SPECIAL-USE) "" * RETURN ()',
        c.ListCommand("", ("*",), frozenset({"SPECIAL-USE"}), extended=True),
    ),
    (b'a LSUB "" *', c.LsubCommand("", "*")),
    # APPEND
    (b"a APPEND INBOX {5}\r\nhello", c.AppendCommand("INBOX", (c.AppendMessage(b"hello"),))),
    (
        b'a APPEND Sent (\\Seen $Label) "05-Mar-2024 14:03:09 +0100" {2+}\r\nhi',
        c.AppendCommand(
            "Sent",
            (
                c.AppendMessage(
                    b"hi",
                    frozenset({"\\Seen", "$Label"}),
                    datetime(2024, 3, 5, 14, 3, 9, tzinfo=CET),
                ),
            ),
        ),
    ),
    (
        b'a APPEND x " 5-Mar-2024 14:03:09 -0000" {0}\r\n',
        c.AppendCommand(
            "x", (c.AppendMessage(b"", internaldate=datetime(2024, 3, 5, 14, 3, 9, tzinfo=UTC)),)
        ),
    ),
    (
        b"a APPEND x () ~{3}\r\na\x00b",
        c.AppendCommand("x", (c.AppendMessage(b"a\x00b", binary=True),)),
    ),
    (
        b"a APPEND x UTF8 (~{2+}\r\nhi)",
        c.AppendCommand("x", (c.AppendMessage(b"hi", binary=True, utf8=True),)),
    ),
    (
        b"a APPEND x {1+}\r\na (\\Draft) {1+}\r\nb",
        c.AppendCommand(
            "x", (c.AppendMessage(b"a"), c.AppendMessage(b"b", frozenset({"\\Draft"})))
        ),
    ),
    # STORE / COPY / MOVE / UID EXPUNGE
    (b"a STORE 1 +FLAGS (\\Deleted)", c.StoreCommand(S("1"), FlagOp.ADD, frozenset({"\\Deleted"}))),
    (
        b"a STORE 1:* -flags.silent \\SEEN \\answered",
        c.StoreCommand(S("1:*"), FlagOp.REMOVE, frozenset({"\\Seen", "\\Answered"}), silent=True),
    ),
    (b"a STORE 2,4 FLAGS ()", c.StoreCommand(S("2,4"), FlagOp.REPLACE, frozenset())),
    (
        b"a UID STORE 7 (UNCHANGEDSINCE 12) FLAGS.SILENT (Work)",
        c.StoreCommand(S("7"), FlagOp.REPLACE, frozenset({"Work"}), True, True, 12),
    ),
    (b"a STORE $ +FLAGS (\\Flagged)", c.StoreCommand(S("$"), FlagOp.ADD, frozenset({"\\Flagged"}))),
    (b"a COPY 1:3 Archive", c.CopyCommand(S("1:3"), "Archive")),
    (b'a UID COPY 10:20 "Old mail"', c.CopyCommand(S("10:20"), "Old mail", uid=True)),
    (b"a MOVE 1 Trash", c.MoveCommand(S("1"), "Trash")),
    (b"a uid move *:5 Trash", c.MoveCommand(S("*:5"), "Trash", uid=True)),
    (b"a UID EXPUNGE 3000:3002", c.UidExpungeCommand(S("3000:3002"))),
    # FETCH
    (
        b"a FETCH 1 ALL",
        c.FetchCommand(S("1"), (Attr.FLAGS, Attr.INTERNALDATE, Attr.RFC822_SIZE, Attr.ENVELOPE)),
    ),
    (b"a FETCH 1 fast", c.FetchCommand(S("1"), (Attr.FLAGS, Attr.INTERNALDATE, Attr.RFC822_SIZE))),
    (
        b"a FETCH 1 FULL",
        c.FetchCommand(
            S("1"), (Attr.FLAGS, Attr.INTERNALDATE, Attr.RFC822_SIZE, Attr.ENVELOPE, Attr.BODY)
        ),
    ),
    (
        b"a FETCH 2:4 (FLAGS UID RFC822.SIZE BODYSTRUCTURE BODY ENVELOPE INTERNALDATE)",
        c.FetchCommand(
            S("2:4"),
            (
                Attr.FLAGS,
                Attr.UID,
                Attr.RFC822_SIZE,
                Attr.BODYSTRUCTURE,
                Attr.BODY,
                Attr.ENVELOPE,
                Attr.INTERNALDATE,
            ),
        ),
    ),
    (
        b"a FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT)",
        c.FetchCommand(S("1"), (Attr.RFC822, Attr.RFC822_HEADER, Attr.RFC822_TEXT)),
    ),
    (b"a FETCH 1 BODY[]", c.FetchCommand(S("1"), (BodySection(),))),
    (
        b"a FETCH 1 body.peek[]<0.1024>",
        c.FetchCommand(S("1"), (BodySection(partial=(0, 1024), peek=True),)),
    ),
    (
        b"a FETCH 1 (BODY[HEADER] BODY[TEXT] BODY[1.2.MIME] BODY[2.HEADER] BODY[3])",
        c.FetchCommand(
            S("1"),
            (
                BodySection(Section(text="HEADER")),
                BodySection(Section(text="TEXT")),
                BodySection(Section((1, 2), "MIME")),
                BodySection(Section((2,), "HEADER")),
                BodySection(Section((3,))),
            ),
        ),
    ),
    (
        b"a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From Subject)])",
        c.FetchCommand(
            S("1"),
            (BodySection(Section(text="HEADER.FIELDS", fields=("From", "Subject")), peek=True),),
        ),
    ),
    (
        b'a FETCH 1 BODY[1.HEADER.FIELDS.NOT ("X-Spam" Received)]',
        c.FetchCommand(
            S("1"), (BodySection(Section((1,), "HEADER.FIELDS.NOT", ("X-Spam", "Received"))),)
        ),
    ),
    (
        b"a FETCH 1 (BINARY[1] BINARY.PEEK[2]<5.10> BINARY.SIZE[1] BINARY[])",
        c.FetchCommand(
            S("1"),
            (
                BodySection(Section((1,)), binary=True),
                BodySection(Section((2,)), (5, 10), peek=True, binary=True),
                BinarySize((1,)),
                BodySection(binary=True),
            ),
        ),
    ),
    (
        b"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
        c.FetchCommand(S("1:*"), (Attr.FLAGS,), uid=True, changedsince=12345),
    ),
    (b"a FETCH 1 (MODSEQ)", c.FetchCommand(S("1"), (Attr.MODSEQ,))),
    (b"a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12 VANISHED)",
     c.FetchCommand(S("300:500"), (Attr.FLAGS,), True, 12, vanished=True)),
]


@pytest.mark.parametrize(
    ("wire", "expected"), VALID, ids=[w[:40].decode("latin-1") for w, _ in VALID]
)
def test_valid_commands(wire: bytes, expected: c.ImapCommand) -> None:
    assert parse(wire) == expected


def test_every_command_type_has_a_row_here() -> None:
    rows = {type(cmd) for _, cmd in VALID} | {c.SearchCommand}
    assert rows == set(c.COMMAND_TYPES)


def test_utf8_mailbox_names_when_enabled() -> None:
    assert parse('a SELECT "Entwürfe"'.encode(), utf8=True) == c.SelectCommand("Entwürfe")
    # with UTF8=ACCEPT, "&" is just a character (RFC 6855 3)
    assert parse(b'a CREATE "A&B"', utf8=True) == c.CreateCommand("A&B")
    assert parse(b"a SELECT Entw&APw-rfe", utf8=True) == c.SelectCommand("Entw&APw-rfe")


def test_append_data_is_kept_exactly() -> None:
    body = b"From: a\r\nSubject: x\r\n\r\nline {5}\r\n"
    cmd = parse(b"a APPEND INBOX {%d}\r\n" % len(body) + body)
    assert isinstance(cmd, c.AppendCommand)
    assert cmd.data == body
    assert cmd.flags == frozenset()
    assert cmd.internaldate is None


SEARCHES: list[tuple[bytes, c.SearchCommand]] = [
    (b"a SEARCH ALL", c.SearchCommand(AllKey())),
    (b"a SEARCH 1:5,7", c.SearchCommand(SeqKey(S("1:5,7")))),
    (b"a SEARCH $", c.SearchCommand(SeqKey(S("$")))),
    (b"a UID SEARCH UID 100:*", c.SearchCommand(SeqKey(S("100:*"), uid=True), uid=True)),
    (
        b"a SEARCH CHARSET UTF-8 SUBJECT {4}\r\n\xc3\xa4\xc3\xb6",
        c.SearchCommand(HeaderKey("subject", "äö"), charset="UTF-8"),
    ),
    (
        b"a SEARCH charset us-ascii TEXT hello",
        c.SearchCommand(TextKey(TextField.TEXT, "hello"), charset="US-ASCII"),
    ),
    (
        b'a SEARCH FROM "Smith" TO bob CC x BCC y',
        c.SearchCommand(
            And(
                (
                    HeaderKey("from", "Smith"),
                    HeaderKey("to", "bob"),
                    HeaderKey("cc", "x"),
                    HeaderKey("bcc", "y"),
                )
            )
        ),
    ),
    (b'a SEARCH HEADER X-Mailer ""', c.SearchCommand(HeaderKey("x-mailer", ""))),
    (b"a SEARCH BODY needle", c.SearchCommand(TextKey(TextField.BODY, "needle"))),
    (
        b"a SEARCH ANSWERED UNANSWERED DELETED UNDELETED DRAFT UNDRAFT",
        c.SearchCommand(
            And(
                (
                    FlagKey("\\Answered"),
                    FlagKey("\\Answered", False),
                    FlagKey("\\Deleted"),
                    FlagKey("\\Deleted", False),
                    FlagKey("\\Draft"),
                    FlagKey("\\Draft", False),
                )
            )
        ),
    ),
    (
        b"a SEARCH FLAGGED UNFLAGGED SEEN UNSEEN RECENT",
        c.SearchCommand(
            And(
                (
                    FlagKey("\\Flagged"),
                    FlagKey("\\Flagged", False),
                    FlagKey("\\Seen"),
                    FlagKey("\\Seen", False),
                    FlagKey("\\Recent"),
                )
            )
        ),
    ),
    (b"a SEARCH NEW", c.SearchCommand(And((FlagKey("\\Recent"), FlagKey("\\Seen", False))))),
    (b"a SEARCH OLD", c.SearchCommand(FlagKey("\\Recent", False))),
    (
        b"a SEARCH KEYWORD $Junk UNKEYWORD Work",
        c.SearchCommand(And((FlagKey("$Junk"), FlagKey("Work", False)))),
    ),
    (
        b"a SEARCH LARGER 1000 SMALLER 5000000000",
        c.SearchCommand(And((SizeKey(True, 1000), SizeKey(False, 5000000000)))),
    ),
    (
        b'a SEARCH BEFORE 1-Feb-2024 ON "15-mar-2024" SINCE 01-Jan-2000',
        c.SearchCommand(
            And(
                (
                    DateKey(DateField.INTERNAL, DateOp.BEFORE, date(2024, 2, 1)),
                    DateKey(DateField.INTERNAL, DateOp.ON, date(2024, 3, 15)),
                    DateKey(DateField.INTERNAL, DateOp.SINCE, date(2000, 1, 1)),
                )
            )
        ),
    ),
    (
        b"a SEARCH SENTBEFORE 1-Feb-2024 SENTON 2-Feb-2024 SENTSINCE 3-Feb-2024",
        c.SearchCommand(
            And(
                (
                    DateKey(DateField.SENT, DateOp.BEFORE, date(2024, 2, 1)),
                    DateKey(DateField.SENT, DateOp.ON, date(2024, 2, 2)),
                    DateKey(DateField.SENT, DateOp.SINCE, date(2024, 2, 3)),
                )
            )
        ),
    ),
    (b"a SEARCH NOT SEEN", c.SearchCommand(Not(FlagKey("\\Seen")))),
    (
        b"a SEARCH OR (FROM a SUBJECT b) NOT NOT 3",
        c.SearchCommand(
            Or(And((HeaderKey("from", "a"), HeaderKey("subject", "b"))), Not(Not(SeqKey(S("3")))))
        ),
    ),
    (b"a SEARCH (DELETED)", c.SearchCommand(FlagKey("\\Deleted"))),
    (
        b"a SEARCH RETURN (MIN MAX COUNT) UNSEEN",
        c.SearchCommand(FlagKey("\\Seen", False), returns=frozenset({"MIN", "MAX", "COUNT"})),
    ),
    (b"a SEARCH RETURN () ALL", c.SearchCommand(AllKey(), returns=frozenset({"ALL"}))),
    (
        b"a UID SEARCH RETURN (SAVE) CHARSET UTF-8 SEEN",
        c.SearchCommand(FlagKey("\\Seen"), "UTF-8", frozenset({"SAVE"}), uid=True),
    ),
    (b"a SEARCH MODSEQ 620162338", c.SearchCommand(ModSeqKey(620162338))),
    (
        b'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338',
        c.SearchCommand(ModSeqKey(620162338, "/flags/\\draft")),
    ),
]


@pytest.mark.parametrize(
    ("wire", "expected"), SEARCHES, ids=[w[:40].decode("latin-1") for w, _ in SEARCHES]
)
def test_search(wire: bytes, expected: c.SearchCommand) -> None:
    assert parse(wire) == expected


INVALID: list[tuple[bytes, Status, str | None]] = [
    (b"a FROBNICATE", Status.BAD, None),
    (b"a UID FROB 1", Status.BAD, None),
    (b"a UID EXPUNGE", Status.BAD, None),
    (b"a EXPUNGE 1:2", Status.BAD, None),
    (b"a NOOP extra", Status.BAD, None),
    (b"a LOGIN bob", Status.BAD, None),
    (b"a LOGIN", Status.BAD, None),
    (b"a LOGIN  bob x", Status.BAD, None),  # two spaces
    (b'a LOGIN "bob x', Status.BAD, None),  # unterminated
    (b'a LOGIN "b\\ob" x', Status.BAD, None),  # bad escape
    (b'a LOGIN "\xff\xfe" x', Status.BAD, None),  # 8-bit but not UTF-8
    (b"a SELECT", Status.BAD, None),
    (b"a SELECT caf\xc3\xa9", Status.BAD, None),  # 8-bit atom
    (b'a SELECT "caf\xc3\xa9"', Status.NO, "CANNOT"),  # 8-bit without UTF8=ACCEPT
    (b"a SELECT &AGE-", Status.NO, "CANNOT"),  # non-canonical modified UTF-7
    (b"a SELECT x (QRESYNC (1 0))", Status.BAD, None),
    (b"a SELECT x (QRESYNC (1 2 1:*))", Status.BAD, None),
    (b"a SELECT x (QRESYNC (1 2 1:5 (1:3)))", Status.BAD, None),
    (b"a SELECT x (QRESYNC (1 2) QRESYNC (1 2))", Status.BAD, None),
    (b"a CREATE x (USE (\\Bogus))", Status.NO, "USEATTR"),
    (b"a CREATE x (FOO)", Status.BAD, None),
    (b"a STATUS x (MESSAGES BOGUS)", Status.BAD, None),
    (b"a STATUS x ()", Status.BAD, None),
    (b"a STATUS x MESSAGES", Status.BAD, None),
    (b'a LIST (BOGUS) "" *', Status.BAD, None),
    (b'a LIST (RECURSIVEMATCH) "" *', Status.BAD, None),
    (b'a LIST "" * RETURN (BOGUS)', Status.BAD, None),
    (b'a LIST ""', Status.BAD, None),
    (b"a ENABLE", Status.BAD, None),
    (b"a AUTHENTICATE", Status.BAD, None),
    (b"a AUTHENTICATE PLAIN AGJv!", Status.BAD, None),
    (b'a ID ("a")', Status.BAD, None),
    (b'a ID ("' + b"k" * 31 + b'" "v")', Status.BAD, None),
    (b"a APPEND INBOX", Status.BAD, None),
    (b'a APPEND INBOX "hello"', Status.BAD, None),
    (b"a APPEND INBOX (\\Recent) {1+}\r\nx", Status.BAD, None),
    (b'a APPEND INBOX "32-Jan-2024 00:00:00 +0000" {1+}\r\nx', Status.BAD, None),
    (b'a APPEND INBOX "1-Jan-2024 00:00:00 +2400" {1+}\r\nx', Status.BAD, None),
    (b"a APPEND INBOX {3+}\r\na\x00b", Status.BAD, None),  # NUL needs literal8
    (b"a STORE 1 FLAGS (\\Recent)", Status.BAD, None),
    (b"a STORE 1 FLAGS (\\*)", Status.BAD, None),
    (b"a STORE 1 +-FLAGS (x)", Status.BAD, None),
    (b"a STORE 1 LABELS (x)", Status.BAD, None),
    (b"a STORE 0 FLAGS (x)", Status.BAD, None),
    (b"a STORE 1 (UNCHANGEDSINCE x) FLAGS (a)", Status.BAD, None),
    (b"a COPY 1", Status.BAD, None),
    (b"a COPY 1:x INBOX", Status.BAD, None),
    (b"a COPY $,1 INBOX", Status.BAD, None),
    (b"a FETCH 1", Status.BAD, None),
    (b"a FETCH 1 ()", Status.BAD, None),
    (b"a FETCH 1 (FLAGS", Status.BAD, None),
    (b"a FETCH 1 BOGUS", Status.BAD, None),
    (b"a FETCH 1 BODY[MIME]", Status.BAD, None),
    (b"a FETCH 1 BODY[1.BOGUS]", Status.BAD, None),
    (b"a FETCH 1 BODY[0]", Status.BAD, None),
    (b"a FETCH 1 BODY[1.]", Status.BAD, None),
    (b"a FETCH 1 BODY[HEADER.FIELDS]", Status.BAD, None),
    (b"a FETCH 1 BODY[HEADER.FIELDS ()]", Status.BAD, None),
    (b"a FETCH 1 BODY[]<1.0>", Status.BAD, None),
    (b"a FETCH 1 BINARY[TEXT]", Status.BAD, None),
    (b"a FETCH 1 BINARY", Status.BAD, None),
    (b"a FETCH 1 BODY.PEEK", Status.BAD, None),
    (b"a FETCH 1 FLAGS (VANISHED VANISHED)", Status.BAD, None),
    (b"a FETCH 1 FLAGS ()", Status.BAD, None),
    (b"a FETCH 4294967296 FLAGS", Status.BAD, None),
    (b"a SEARCH", Status.BAD, None),
    (b"a SEARCH BOGUS", Status.BAD, None),
    (b"a SEARCH CHARSET KOI8-R SUBJECT x", Status.NO, "BADCHARSET"),
    (b"a SEARCH RETURN (PARTIAL 1:10) ALL", Status.BAD, None),
    (b"a SEARCH BEFORE 31-Feb-2024", Status.BAD, None),
    (b"a SEARCH BEFORE 2024-02-01", Status.BAD, None),
    (b"a SEARCH OR SEEN", Status.BAD, None),
    (b"a SEARCH ()", Status.BAD, None),
    (b"a SEARCH LARGER -1", Status.BAD, None),
    (b"a SEARCH " + b"NOT " * 40 + b"SEEN", Status.BAD, None),
    (b"a SEARCH " + b"(" * 40 + b"SEEN" + b")" * 40, Status.BAD, None),
    (b"a GETQUOTA", Status.BAD, None),
    (b"a SETQUOTA x (STORAGE)", Status.BAD, None),
]


@pytest.mark.parametrize(
    ("wire", "status", "code"), INVALID, ids=[w[:40].decode("latin-1") for w, _, _ in INVALID]
)
def test_invalid_commands(wire: bytes, status: Status, code: str | None) -> None:
    with pytest.raises(ParseError) as info:
        parse(wire)
    assert info.value.status is status
    assert (info.value.code.name if info.value.code else None) == code


def test_bad_charset_lists_what_is_supported() -> None:
    with pytest.raises(ParseError) as info:
        parse(b"a SEARCH CHARSET ISO-8859-1 ALL")
    response = info.value.response("a")
    assert response.code is not None
    assert response.code.name == "BADCHARSET"
    expected = b"a NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n"
    assert encode_response(response) == expected


NAMES = sorted({*PARSERS, "UID"})
FRAGMENTS = [
    b" ",
    b"(",
    b")",
    b'"',
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b"<",
    b">",
    b".",
    b":",
    b"*",
    b"$",
    b"1",
    b"0",
    b"NIL",
    b"UID",
    b"FLAGS",
    b"BODY",
    b"HEADER.FIELDS",
    b"RETURN",
    b"CHARSET",
    b"UTF-8",
    b"NOT",
    b"OR",
    b"&",
    b"-",
    b"\xc3\xa4",
    b"+",
]


@settings(max_examples=1000)
@given(
    st.sampled_from(NAMES),
    st.lists(
        st.one_of(
            st.sampled_from(FRAGMENTS),
            st.binary(max_size=6),
            st.builds(LiteralArg, st.binary(max_size=6), st.booleans()),
        ),
        max_size=14,
    ),
    st.booleans(),
)
def test_any_arguments_parse_or_raise_parse_error(
    name: str, pieces: list[bytes | LiteralArg], utf8: bool
) -> None:
    raw = RawCommand("t", name, tuple(pieces))
    outcome: c.ImapCommand | ParseError
    try:
        outcome = parse_command(raw, utf8=utf8)
    except ParseError as exc:
        outcome = exc
    if isinstance(outcome, ParseError):
        assert isinstance(outcome, RemoteProtocolError)
        assert outcome.status in (Status.BAD, Status.NO)
    else:
        assert isinstance(outcome, c.ImapCommand)


LINES = [w for w, _ in VALID] + [w for w, _ in SEARCHES]


@settings(max_examples=1000)
@given(
    st.sampled_from(LINES),
    st.lists(st.tuples(st.integers(0, 200), st.binary(max_size=3)), max_size=4),
)
def test_mutated_valid_commands_parse_or_raise_parse_error(
    line: bytes, edits: list[tuple[int, bytes]]
) -> None:
    for pos, insert in edits:
        pos %= len(line) + 1
        line = line[:pos] + insert + line[pos + 1 :]
    reader = ImapConnection(max_line=8192, max_literal=4096)
    reader.receive_data(line + b"\r\n")
    while (event := reader.next_event()) is not NEED_DATA:
        if isinstance(event, NeedLiteral):
            reader.accept_literal()
        elif isinstance(event, RawCommand):
            with contextlib.suppress(ParseError):
                parse_command(event)


def test_section_names_for_responses() -> None:
    cmd = parse(b'a FETCH 1 (BODY.PEEK[1.HEADER.FIELDS (From "X Y")]<10.20> BINARY.SIZE[2])')
    assert isinstance(cmd, c.FetchCommand)
    body, size = cmd.items
    assert isinstance(body, BodySection)
    assert isinstance(size, BinarySize)
    assert body.response_name() == 'BODY[1.HEADER.FIELDS (From "X Y")]<10>'
    assert not body.sets_seen
    assert size.response_name() == "BINARY.SIZE[2]"
    assert Attr.RFC822.sets_seen
    assert not Attr.RFC822_HEADER.sets_seen
