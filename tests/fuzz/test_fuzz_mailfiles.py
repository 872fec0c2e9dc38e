"""Fuzzing the file formats of mailfiles/: mbox splitting and From_ dates, Maildir file
names, dovecot-uidlist and dovecot-keywords.

Inputs are valid-ish mboxes, file names and index files, then mutated. The parsers never
raise on any input (a bad line is a problem, not an exception); every mbox message carries a
number and a line in order; and whatever bytes a message holds, writing it as mboxrd and
reading it back gives the same bytes and flags (RFC 4155 appendix A: mboxrd is reversible).
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from posthouse.mailfiles import maildir, mbox
from tests.fuzz.support import FUZZ, mutated

_LINES = st.sampled_from([
    b"From a@b.example Tue Mar  5 09:00:00 2024\n", b"From broken\n", b"From here\n",
    b">From x\n", b">>From y\n", b"Subject: s\n", b"Status: RO\n", b"X-Status: AF\n",
    b"X-Keywords: $a, b\n", b"\n", b"\r\n", b"body\n", b" folded\n", b"From \n",
])
mboxes = st.one_of(
    st.lists(_LINES, max_size=30).map(b"".join),
    mutated(st.lists(_LINES, max_size=20).map(b"".join), max_edits=6),
)
_FLAGS = st.frozensets(st.sampled_from(["\\Seen", "\\Answered", "\\Flagged", "\\Deleted",
                                        "\\Draft", "$label1", "Important"]))
bodies = st.lists(st.sampled_from([
    b"From: a@b\r\n", b"Subject: s\r\n", b"\r\n", b"From x\r\n", b">From y\r\n",
    b">>>From z\r\n", b"text\r\n", b"From \r\n", b"Status: RO\r\n", b"no line end"
]), max_size=12).map(b"".join)
names = mutated(st.sampled_from([b"1700000000.M1P2.host,S=12,W=13:2,FRS",
                                 b"1.x:2,abz", b"plain", b"x:1,S", b"y:2,"]), max_edits=4)
index_lines = mutated(st.sampled_from([
    b"3 V1700000000 N9 Gabc\n1 :a,S=1\n2 W9 :b:2,S\n", b"1 42 7\n5 old\n", b"0 $label\n1 x\n",
]), max_edits=6)


@FUZZ
@given(mboxes, st.sampled_from(mbox.FORMATS))
def test_mbox_split_never_raises(content: bytes, fmt: str) -> None:
    seen = []
    for message in mbox.split_messages(io.BytesIO(content), fmt):
        assert isinstance(message.data, bytes)
        assert message.date is None or message.date.tzinfo is not None
        seen.append((message.number, message.line))
    assert seen == sorted(seen)


@FUZZ
@given(bodies.filter(lambda b: b.strip() != b""), _FLAGS)
def test_mboxrd_round_trip(body: bytes, flags: frozenset[str]) -> None:
    """What was written comes back the same, with LF line ends as on disk: the message, a
    last line end if it had none, and the empty line that ends the header section if it had
    none (the flag headers are written into that section)."""
    if b"Status:" in body.split(b"\r\n\r\n")[0] and not body.startswith(b"\r\n"):
        return  # an mbox flag header of the message's own is read as flags: not reversible
    written = mbox.format_message(body, flags, datetime(2024, 1, 2, tzinfo=UTC))
    (back,) = mbox.split_messages(io.BytesIO(written), "mboxrd")
    expected = body.replace(b"\r\n", b"\n")
    expected += b"" if expected.endswith(b"\n") else b"\n"
    if b"\n\n" not in expected and not expected.startswith(b"\n"):
        expected += b"\n"
    assert back.data == expected
    assert back.flags == flags


@FUZZ
@given(names)
def test_maildir_names_never_raise(raw: bytes) -> None:
    name = raw.decode("utf-8", "replace")
    flags, bad = maildir.parse_info(name, {0: "$label1"})
    assert all(isinstance(f, str) for f in flags)
    assert all(isinstance(b, str) for b in bad)
    with contextlib.suppress(ValueError):
        maildir.folder_name(name)


@FUZZ
@given(index_lines)
def test_index_files_never_raise(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        (path / maildir.UIDLIST).write_bytes(raw)
        (path / maildir.KEYWORDS).write_bytes(raw)
        (path / maildir.SUBSCRIPTIONS).write_bytes(raw)
        uidlist, _ = maildir.read_uidlist(path)
        assert uidlist is None or all(uid > 0 for uid in uidlist.uids.values())
        keywords, _ = maildir.read_keywords(path)
        assert all(0 <= k < maildir.MAX_KEYWORDS for k in keywords)
        maildir.read_subscriptions(path)
