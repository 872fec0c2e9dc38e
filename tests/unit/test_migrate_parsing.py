"""The IMAP migration's pure parts: source responses, folder mapping, uid sets, the state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from posthouse.migrate.engine import _local_flags, _message_id, _uid_set
from posthouse.migrate.folders import decode_name, plan_folders, select_folders
from posthouse.migrate.response import (
    ListedFolder,
    ResponseError,
    first_personal_namespace,
    literal_size,
    parse_fetch,
    parse_internaldate,
    parse_list,
    response_code,
    tokenize,
)
from posthouse.migrate.state import FolderState, MigrationState, StateError

LOCAL_SPECIAL = {"\\sent": "Sent", "\\drafts": "Drafts", "\\trash": "Trash",
                 "\\junk": "Junk", "\\archive": "Archive"}


def test_tokenize_values_strings_literals_and_sections() -> None:
    data = (b'12 FETCH (UID 7 FLAGS (\\Seen $Label1) INTERNALDATE "01-Feb-2024 10:11:12 +0100"'
            b' RFC822.SIZE 5 BODY[HEADER.FIELDS (MESSAGE-ID)] {5}\r\nab)\r\n BODY[] NIL)')
    values = tokenize(data)
    assert values[:2] == [b"12", b"FETCH"]
    items = values[2]
    assert isinstance(items, list)
    assert items[0:4] == [b"UID", b"7", b"FLAGS", [b"\\Seen", b"$Label1"]]
    assert items[8] == b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
    assert items[9] == b"ab)\r\n"  # a literal may hold anything, parentheses too
    assert items[10:] == [b"BODY[]", None]


def test_tokenize_quoted_escapes_and_errors() -> None:
    assert tokenize(b'LIST () "/" "a \\"b\\" \\\\c"') == [b"LIST", [], b"/", b'a "b" \\c']
    for bad in (b"(a", b"a)", b'"open', b"{5}\r\nab", b"{x}\r\n"):
        with pytest.raises(ResponseError):
            tokenize(bad)


def test_literal_size_and_response_code() -> None:
    assert literal_size(b"* 1 FETCH (BODY[] {123}\r\n") == 123
    assert literal_size(b"* 1 FETCH (BODY[] {12+}\r\n") == 12
    assert literal_size(b"* OK done\r\n") is None
    assert response_code(b"[UIDVALIDITY 3857529045] UIDs valid") == ("UIDVALIDITY",
                                                                     b"3857529045")
    assert response_code(b"[READ-ONLY] ok") == ("READ-ONLY", b"")
    assert response_code(b"no code") is None


def test_internaldate() -> None:
    assert parse_internaldate(" 1-Feb-2024 10:11:12 -0130") == datetime(
        2024, 2, 1, 10, 11, 12, tzinfo=timezone(-timedelta(hours=1, minutes=30)))
    assert parse_internaldate("17-Jul-1996 02:44:25 +0000").astimezone(UTC).hour == 2
    for bad in ("17-Foo-1996 02:44:25 +0000", "yesterday", "17-Jul-1996 02:44:25"):
        with pytest.raises(ResponseError):
            parse_internaldate(bad)


def test_parse_fetch() -> None:
    item = parse_fetch(tokenize(b'3 FETCH (FLAGS (\\Seen \\Recent) UID 44 RFC822.SIZE 9 '
                                b'INTERNALDATE "01-Jan-2020 00:00:00 +0000" BODY[] {3}\r\nabc)'))
    assert item is not None
    assert item.uid == 44
    assert item.flags == {"\\Seen", "\\Recent"}
    assert item.size == 9
    assert item.body == b"abc"
    assert item.internaldate == datetime(2020, 1, 1, tzinfo=UTC)
    assert parse_fetch(tokenize(b"3 FETCH (FLAGS ())")) is None  # no UID: not ours
    assert _local_flags(item.flags or frozenset()) == {"\\Seen"}
    assert _local_flags(frozenset({"\\SEEN", "\\recent", "Work"})) == {"\\Seen", "Work"}


def test_parse_list_and_namespace() -> None:
    listed = parse_list(tokenize(b'LIST (\\HasNoChildren \\Sent) "." "Sent Items"'))
    assert listed == ListedFolder(frozenset({"\\hasnochildren", "\\sent"}), ".",
                                  b"Sent Items")
    flat = parse_list(tokenize(b"LIST (\\Noselect) NIL {4}\r\nTop!"))
    assert flat == ListedFolder(frozenset({"\\noselect"}), None, b"Top!")
    ns = tokenize(b'NAMESPACE (("INBOX." ".")) NIL (("#shared." "."))')
    assert first_personal_namespace(ns) == ("INBOX.", ".")
    assert first_personal_namespace(tokenize(b"NAMESPACE NIL NIL NIL")) is None


def _folder(name: bytes, *attrs: str, delim: str | None = ".") -> ListedFolder:
    return ListedFolder(frozenset(attrs), delim, name)


def test_plan_maps_special_use_by_attribute_then_by_name() -> None:
    plans = plan_folders([
        _folder(b"INBOX"), _folder(b"Gesendet", "\\sent"), _folder(b"Sent"),
        _folder(b"Deleted Messages"), _folder(b"Spam"), _folder(b"Spam.Old"),
        _folder(b"Work.Spam"), _folder(b"Stuff", "\\noselect"),
        _folder(b"Ordner &AOQ-"), _folder(b"a/b"),
    ], utf8=False, namespace_prefix="", local_special=LOCAL_SPECIAL)
    got = {p.name: (p.local_name, p.selectable) for p in plans}
    assert got == {
        "INBOX": ("INBOX", True),
        "Gesendet": ("Sent", True),  # the attribute wins over the name
        "Sent": ("Sent", True),  # a plain folder named Sent: merged into the same mailbox
        "Deleted Messages": ("Trash", True),
        "Spam": ("Junk", True),
        "Spam/Old": ("Junk/Old", True),  # children follow their parent
        "Work/Spam": ("Work/Spam", True),  # names count only at the top
        "Stuff": ("Stuff", False),
        "Ordner \u00e4": ("Ordner \u00e4", True),
        "a_b": ("a_b", True),  # "/" inside a name cannot be kept
    }
    assert plans[0].name == "INBOX"


def test_plan_drops_the_personal_namespace_prefix_and_reads_utf8() -> None:
    plans = plan_folders([_folder(b"INBOX"), _folder(b"INBOX.Sent"), _folder(b"INBOX.A.B"),
                          _folder("INBOX.\u00c4rger".encode())],
                         utf8=True, namespace_prefix="INBOX.", local_special=LOCAL_SPECIAL)
    assert [p.local_name for p in plans] == ["INBOX", "A/B", "Sent", "\u00c4rger"]
    assert decode_name(b"Bad &Jjo", utf8=False) == "Bad &Jjo"  # not mUTF-7: kept as is


def test_select_folders() -> None:
    plans = plan_folders([_folder(n) for n in (b"INBOX", b"Archive.2019", b"Archive.2020",
                                               b"Work")],
                         utf8=False, namespace_prefix="", local_special={})
    names = [p.name for p in select_folders(plans, ["Archive*", "INBOX"], ["*2019"])]
    assert names == ["INBOX", "Archive/2020"]
    assert len(select_folders(plans, [], [])) == 4


def test_uid_set_and_message_id() -> None:
    assert _uid_set([1, 2, 3, 5, 7, 8, 10]) == b"1:3,5,7:8,10"
    assert _uid_set([4]) == b"4"
    assert _message_id(b"Message-ID: \r\n <A@B.example>\r\n\r\n") == "<a@b.example>"
    assert _message_id(b"") == ""


def test_state_round_trip_lock_and_damage(tmp_path: Path) -> None:
    path = MigrationState.path_for(tmp_path, host="IMAP.example", user="u", to="a@b")
    assert path == MigrationState.path_for(tmp_path, host="imap.example", user="u",
                                           to="A@B")
    state = MigrationState(path, host="imap.example", user="u", to="a@b")
    state.open()
    state.folders["Work"] = FolderState(7, 3, 99, {1: 10, 5: 11})
    state.save()
    other = MigrationState(path, host="imap.example", user="u", to="a@b")
    with pytest.raises(StateError, match="another import"):
        other.open()
    state.close()
    other.open()
    assert other.folders["Work"] == FolderState(7, 3, 99, {1: 10, 5: 11})
    assert other.folders["Work"].highest == 5
    assert other.folders["Work"].highest_local == 11
    other.close()
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    path.write_text("{not json")
    with pytest.raises(StateError, match="unreadable"):
        MigrationState(path, host="imap.example", user="u", to="a@b").open()
