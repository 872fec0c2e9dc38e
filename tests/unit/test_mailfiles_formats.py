"""The Maildir and mbox format helpers: names, flags, uidlist, From_ lines and quoting."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from posthouse.mailfiles import maildir, mbox


def test_folder_names_round_trip_modified_utf7() -> None:
    assert maildir.folder_name(".Work.Projekte &ANw-") == "Work/Projekte Ü"
    assert maildir.folder_dirname("Work/Projekte Ü") == ".Work.Projekte &ANw-"
    for bad in (".bad&name", ".a..b", "Work"):
        with pytest.raises(ValueError, match=r"bad|empty|not a Maildir"):
            maildir.folder_name(bad)


def test_info_flags_and_keywords() -> None:
    keywords = {0: "$label1", 2: "Important"}
    flags, bad = maildir.parse_info("123.host,S=10:2,FRSTDPac", keywords)
    assert flags == {"\\Flagged", "\\Answered", "\\Seen", "\\Deleted", "\\Draft", "$label1",
                     "Important"}
    assert bad == []
    assert maildir.parse_info("x:2,b!", keywords)[1] == [
        "keyword letter 'b' is not in dovecot-keywords: ignored",
        "unknown flag letter '!': ignored"]
    assert maildir.parse_info("x", {}) == (frozenset(), [])
    assert maildir.info_letters({"\\Seen", "\\Flagged", "$x"}, {"$x": "a"}) == "FSa"


def test_uidlist_versions(tmp_path: Path) -> None:
    (tmp_path / "dovecot-uidlist").write_text(
        "3 V1700000000 N9 Gabc\n1 :1.M1.host,S=5\n3 W120 :3.M2.host,S=7:2,S\nbad\n")
    uidlist, problems = maildir.read_uidlist(tmp_path)
    assert uidlist is not None
    assert (uidlist.uidvalidity, uidlist.uidnext) == (1_700_000_000, 9)
    assert uidlist.uids == {"1.M1.host,S=5": 1, "3.M2.host,S=7": 3}
    assert len(problems) == 1
    (tmp_path / "dovecot-uidlist").write_text("1 42 7\n5 old-name\n")
    uidlist, _ = maildir.read_uidlist(tmp_path)
    assert uidlist is not None
    assert (uidlist.uidvalidity, uidlist.uidnext) == (42, 7)


def test_subscriptions_both_forms(tmp_path: Path) -> None:
    (tmp_path / "subscriptions").write_text("V\t2\n\nWork\nWork\tSub\n")
    assert maildir.read_subscriptions(tmp_path) == ["Work", "Work/Sub"]
    (tmp_path / "subscriptions").write_text("Work.&AMQ-rger\n")
    assert maildir.read_subscriptions(tmp_path) == ["Work/Ärger"]


@pytest.mark.parametrize(("line", "expected"), [
    ("From a@b Thu Nov 24 18:22:48 1986", datetime(1986, 11, 24, 18, 22, 48, tzinfo=UTC)),
    ("From a@b Tue Mar  5 09:00:00 2024 +0100",
     datetime(2024, 3, 5, 9, 0, tzinfo=timezone(timedelta(hours=1)))),
    ("From MAILER-DAEMON Mon Jan  1 00:00 2024", datetime(2024, 1, 1, tzinfo=UTC)),
    ("From a@b", None),
    ("From a@b Foo Bar 99 12:00:00 2024", None),
])
def test_from_line_dates(line: str, expected: datetime | None) -> None:
    assert mbox.from_line_date(line) == expected


def test_mboxrd_quoting_is_exact_and_mboxo_is_not() -> None:
    body = b"Subject: q\r\n\r\nFrom a\r\n>From b\r\n>>From c\r\n"
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    written = mbox.format_message(body, {"\\Seen", "\\Answered", "$k"}, when, "x@y")
    assert written.startswith(b"From x@y Tue Jan  2 03:04:05 2024\n")
    assert b"\n>From a\n>>From b\n>>>From c\n" in written
    (rd,) = mbox.split_messages(io.BytesIO(written), "mboxrd")
    assert rd.data == body.replace(b"\r\n", b"\n")
    assert rd.flags == {"\\Seen", "\\Answered", "$k"}
    (o,) = mbox.split_messages(io.BytesIO(written), "mboxo")
    assert o.data == b"Subject: q\n\nFrom a\n>>From b\n>>>From c\n"
    with pytest.raises(ValueError, match="unknown mbox format"):
        list(mbox.split_messages(io.BytesIO(written), "mboxcl2"))


def test_split_needs_a_dated_from_line_or_a_header_after_it() -> None:
    content = (b"junk\n\nFrom a@b Tue Mar  5 09:00:00 2024\nSubject: 1\n\nFrom here\nx\n\n"
               b"From broken\nSubject: 2\n\ny\n")
    got = list(mbox.split_messages(io.BytesIO(content)))
    assert [(m.number, m.line) for m in got] == [(0, 1), (1, 3), (2, 9)]
    assert got[1].data == b"Subject: 1\n\nFrom here\nx\n"
    assert got[2].date is None
    assert got[2].problem is not None
