"""A 20,000-message mailbox: FETCH 1:* (UID FLAGS) and SEARCH stream in batches and never
touch message bodies or cached parses (counted on the store, not timed)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from tests.integration.imap_msg_support import USER, Connections, claim_recent, fill, message
from tests.support.server import ServerThread

COUNT = 20_000
CHUNK = 2_000  # copies filed per store transaction


def _flags(uid: int) -> frozenset[str]:
    flags = set()
    if uid % 3 == 0:
        flags.add("\\Seen")
    if uid % 7 == 0:
        flags.add("\\Flagged")
    return frozenset(flags)


class StoreSpy:
    """Counts the store reads a command makes (wraps the live store's methods)."""

    def __init__(self, store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: Counter[str] = Counter()
        self.largest_batch = 0
        self.summaries = 0
        read_blob, read_blobs = store.read_blob, store.read_blobs
        fetch_meta, uid_list = store.fetch_meta, store.uid_list

        async def spy_read_blob(blob_id: str) -> bytes:
            self.calls["read_blob"] += 1
            return bytes(await read_blob(blob_id))

        async def spy_read_blobs(blob_ids: Sequence[str]) -> dict[str, bytes]:
            self.calls["read_blob"] += len(blob_ids)
            return dict(await read_blobs(blob_ids))

        async def spy_fetch_meta(mailbox_id: int, uids: Sequence[int], *,
                                 with_summary: bool = False) -> Any:
            self.calls["fetch_meta"] += 1
            self.largest_batch = max(self.largest_batch, len(uids))
            self.summaries += with_summary
            return await fetch_meta(mailbox_id, uids, with_summary=with_summary)

        async def spy_uid_list(mailbox_id: int) -> Any:
            self.calls["uid_list"] += 1
            return await uid_list(mailbox_id)

        monkeypatch.setattr(store, "uid_list", spy_uid_list)
        monkeypatch.setattr(store, "read_blob", spy_read_blob)
        monkeypatch.setattr(store, "read_blobs", spy_read_blobs)
        monkeypatch.setattr(store, "fetch_meta", spy_fetch_meta)


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    """INBOX with COUNT messages: uid n is flagged by _flags(n); every 2,000th chunk has its
    own text (chunk k says "chunk-k")."""
    server.add_user(USER)
    for start in range(1, COUNT + 1, CHUNK):
        chunk = start // CHUNK
        data = message(chunk, subject=f"chunk {chunk}", body=f"payload chunk-{chunk} here")
        uids = fill(server, data, [_flags(u) for u in range(start, start + CHUNK)])
        assert uids == list(range(start, start + CHUNK))
    claim_recent(server)
    opened = Connections(server)
    yield opened
    opened.close_all()


def test_fetch_all_uid_flags(server: ServerThread, conns: Connections,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    raw = conns.raw()
    raw.ok("SELECT INBOX")
    spy = StoreSpy(server.store, monkeypatch)
    lines = raw.ok("FETCH 1:* (UID FLAGS)")
    assert len(lines) == COUNT
    for n, line in enumerate(lines, 1):
        flags = " ".join(sorted(_flags(n))).encode()
        assert line == b"* %d FETCH (UID %d FLAGS (%s))\r\n" % (n, n, flags)
    assert spy.calls["read_blob"] == 0
    assert spy.summaries == 0
    # flags of much of the mailbox: one read of its compact listing, no per-message rows
    assert (spy.calls["uid_list"], spy.calls["fetch_meta"]) == (1, 0)
    last = raw.ok("UID FETCH 19990:* (FLAGS)")  # a few: per-message metadata, batched
    assert len(last) == 11
    assert last[-1] == b"* 20000 FETCH (UID 20000 FLAGS ())\r\n"
    assert spy.calls["fetch_meta"] == 1
    with_size = raw.ok("FETCH 1:* (FLAGS RFC822.SIZE)")  # more than flags: batched metadata
    assert len(with_size) == COUNT
    assert spy.largest_batch <= 500
    assert spy.calls["fetch_meta"] >= 1 + COUNT // 500


def test_fetch_all_flags_still_shows_what_another_session_expunged(
        server: ServerThread, conns: Connections, monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 2180 4.1: until this session is told, a message expunged elsewhere stays
    readable; the listing lacks it, so it comes from what the store holds for the view."""
    raw, other = conns.raw(), conns.raw()
    raw.ok("SELECT INBOX")
    other.ok("SELECT INBOX")
    other.ok("UID STORE 5,7 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    spy = StoreSpy(server.store, monkeypatch)
    lines = raw.ok("UID FETCH 1:* (FLAGS)")
    assert spy.calls["uid_list"] == 1
    fetched = [line for line in lines if b" FETCH " in line]
    assert len(fetched) == COUNT
    shown = {int(line.split(b"UID ")[1].split(b" ")[0]): line for line in fetched}
    assert sorted(shown) == list(range(1, COUNT + 1))
    assert b"\\Deleted" in shown[7]
    assert b"\\Deleted" in shown[5]
    told = lines + raw.ok("NOOP")  # UID FETCH may tell of expunges after its data (7.5.1)
    assert told.index(b"* 5 EXPUNGE\r\n") < told.index(b"* 6 EXPUNGE\r\n")  # uid 5, uid 7


def test_search_streams(server: ServerThread, conns: Connections,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    raw = conns.raw()
    raw.ok("EXAMINE INBOX")
    spy = StoreSpy(server.store, monkeypatch)
    flagged = [u for u in range(1, COUNT + 1) if u % 7 == 0]
    out = raw.ok("UID SEARCH FLAGGED")[0]
    assert out == b"* SEARCH " + b" ".join(b"%d" % u for u in flagged) + b"\r\n"
    both = [u for u in flagged if u % 3 == 0 and u <= 5000]
    assert raw.ok("SEARCH RETURN (MIN MAX COUNT) FLAGGED SEEN 1:5000") == [
        b'* ESEARCH (TAG "t4") MIN %d MAX %d COUNT %d\r\n' % (both[0], both[-1], len(both))]
    chunk3 = list(range(3 * CHUNK + 1, 4 * CHUNK + 1))
    assert raw.ok("UID SEARCH RETURN (ALL) BODY chunk-3") == [
        b'* ESEARCH (TAG "t5") UID ALL %d:%d\r\n' % (chunk3[0], chunk3[-1])]
    assert raw.ok("SEARCH RETURN (COUNT) LARGER 10") == [
        b'* ESEARCH (TAG "t6") COUNT %d\r\n' % COUNT]
    assert spy.calls["read_blob"] == 0
    assert spy.summaries == 0
    assert spy.largest_batch <= 500
