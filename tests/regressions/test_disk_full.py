"""A full disk that never recovered (issue 12, defect 2).

Before: a full disk made deliveries fail with 451 4.3.0 and an ERROR with a traceback each
(the indexer's real error hidden behind "cannot rollback - no transaction is active"), and
after space was freed the indexer's retries and the WAL took it back, so far more had to be
freed than the mail needed. Now new mail is refused with 452 4.3.1 (RFC 3463 X.3.1, RFC 5321
4.3.2) below ``[limits] min_free_bytes``, before the filesystem is full; one log line says so
and one says when it is over; IMAP keeps reading; and freed space goes to the mail at once.

Each test mounts a small tmpfs as the server's data directory (root only; skipped with the
reason otherwise) and unmounts it whatever happens.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import os
import random
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posthouse.config import Config
from posthouse.message.summary import message_text, summarize
from posthouse.store.errors import StorageFull
from posthouse.store.models import DeliveryTarget, NewMessage
from posthouse.store.space import SpaceGuard
from posthouse.store.sqlite.backend import SqliteStore
from tests.support.imap import RawImap
from tests.support.server import PASSWORD, ServerThread, make_config
from tests.support.smtp_wire import RawSmtp, Reply, strip_trace

ANN = "ann@example.test"
MIB = 1 << 20
WORDS = ["mail", "store", "index", "disk", "full", "space", "freed", "delivery", "server",
         "queue", "bounce", "reader", "writer", "morning", "letter", "invoice", "meeting",
         "report", "summer", "budget", "garden"]

pytestmark = pytest.mark.usefixtures("no_server_errors")


@contextmanager
def small_fs(where: Path, size_mib: int) -> Iterator[Path]:
    """A tmpfs of ``size_mib`` mounted on ``where``; unmounted on the way out."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the data directory needs root")
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700",
                           "tmpfs", str(where)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=False)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, size: int | None = None) -> None:
    """A file of ``size`` bytes, or (None) as large as the filesystem lets it grow."""
    chunk = b"\0" * (64 * 1024)
    with open(path, "wb") as fh:
        written = 0
        try:
            while size is None or written < size:
                part = chunk if size is None else chunk[: min(len(chunk), size - written)]
                fh.write(part)
                fh.flush()
                written += len(part)
        except OSError as exc:
            if size is not None or exc.errno != errno.ENOSPC:
                raise


def until_refusing(srv: ServerThread) -> None:
    """Wait until the server has read the filled disk (it reuses a roomy reading for up to
    space.CACHE_SECONDS); the bound is only there so that a bug fails instead of hanging."""
    deadline = time.monotonic() + 30
    while srv.store.has_room():
        assert time.monotonic() < deadline, "the server never saw the disk fill"
        time.sleep(0.05)


def message(n: int, size: int) -> bytes:
    """Plain text mail of about ``size`` bytes (words, as mail is: the index stays modest)."""
    rnd = random.Random(n)
    lines, total = [], 0
    while total < size:
        line = " ".join(rnd.choice(WORDS) for _ in range(11))
        lines.append(line)
        total += len(line) + 2
    return (f"From: peer@remote.test\r\nTo: {ANN}\r\nSubject: message {n}\r\n"
            f"Message-ID: <m{n}@remote.test>\r\n\r\n" + "\r\n".join(lines) + "\r\n").encode()


def send(port: int, data: bytes, *, size_param: bool = True) -> Reply:
    """One transaction on port 25; the first reply that is not a success, or the last."""
    with RawSmtp(port) as smtp:
        smtp.reply()
        smtp.cmd("EHLO client.test")
        mail = "MAIL FROM:<peer@remote.test>" + (f" SIZE={len(data)}" if size_param else "")
        for line in (mail, f"RCPT TO:<{ANN}>"):
            reply = smtp.cmd(line)
            if reply.code >= 400:
                return reply
        reply = smtp.cmd("DATA")
        if reply.code != 354:
            return reply
        smtp.send(data + b".\r\n")
        reply = smtp.reply()
        smtp.cmd("QUIT")
        return reply


def submit(srv: ServerThread) -> Reply:
    """MAIL FROM on submission (587, STARTTLS, AUTH) by ann."""
    with RawSmtp(srv.port("submission")) as smtp:
        smtp.reply()
        smtp.cmd("EHLO client.test")
        assert smtp.cmd("STARTTLS").code == 220
        smtp.starttls(srv.client_tls())
        smtp.cmd("EHLO client.test")
        assert smtp.login(ANN).code == 235
        return smtp.cmd("MAIL FROM:<ann@example.test> SIZE=2000")


def imap_append_and_read(srv: ServerThread, before: int) -> bytes:
    """APPEND's tagged answer; SELECT and FETCH must work whatever APPEND got (``before``:
    messages in the INBOX before the APPEND)."""
    imap = RawImap(srv.port("imaps"), tls=srv.client_tls())
    try:
        assert imap.cmd("l", f'LOGIN "{ANN}" "{PASSWORD}"')[-1].startswith(b"l OK")
        data = message(999, 2000)
        imap.send(b"a APPEND INBOX {%d}\r\n" % len(data))
        first = imap.readline()
        if first.startswith(b"a "):
            tagged = first  # refused before the literal
        else:
            assert first.startswith(b"+")
            imap.send(data + b"\r\n")
            tagged = imap.read_until_tag(b"a")[-1]
        expected = before + tagged.startswith(b"a OK")
        lines = imap.cmd("s", "SELECT INBOX")
        assert f"* {expected} EXISTS".encode() in lines, lines
        fetched = imap.cmd("f", f"FETCH 1:{expected} (UID RFC822.SIZE BODY.PEEK[HEADER])")
        assert fetched[-1].startswith(b"f OK")
        assert sum(1 for line in fetched if b" FETCH (" in line) == expected
        imap.cmd("o", "LOGOUT")
    finally:
        imap.sock.close()
    return tagged


def server_config(data: Path, min_free: int) -> Config:
    base = make_config(data)
    return dataclasses.replace(base, limits=dataclasses.replace(base.limits,
                                                                min_free_bytes=min_free))


def store_lines(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    """("disk full" warnings, "recovered" infos) of the store; and no rollback noise, no
    traceback from any posthouse logger."""
    records = [r for r in caplog.records if r.name.startswith("posthouse")]
    assert not [r.getMessage() for r in records if "cannot rollback" in r.getMessage()]
    assert not [r.getMessage() for r in records if r.exc_info]
    assert not [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    full = [r.getMessage() for r in records
            if r.levelno == logging.WARNING and r.getMessage().startswith("disk full")]
    back = [r.getMessage() for r in records if r.getMessage().startswith("disk space recovered")]
    return full, back


def received(srv: ServerThread, sent: list[bytes], appended: tuple[bytes, ...] = ()) -> None:
    """Every acknowledged message is in ann's INBOX, byte for byte, in order: ``sent`` over
    SMTP (with the trace fields the server adds), then ``appended`` over IMAP."""
    stored = srv.inbox(ANN)
    assert [strip_trace(m) for m in stored[:len(sent)]] == sent
    assert tuple(stored[len(sent):]) == appended


def test_below_the_threshold_mail_is_refused_before_the_disk_is_full_and_recovers_at_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="posthouse")
    with small_fs(tmp_path / "fs", 48) as fs:
        srv = ServerThread(server_config(fs / "data", 4 * MIB)).start()
        try:
            srv.add_user(ANN)
            sent = [message(n, 150_000) for n in range(2)]
            for data in sent:
                assert send(srv.port("smtp"), data).code == 250
            srv.call(srv.store.catch_up_index())

            # 2 MiB free: the disk could take the message, the threshold (4 MiB) does not
            fill(fs / "filler-a", 12 * MIB)
            fill(fs / "filler-b", free_bytes(fs) - 2 * MIB)
            until_refusing(srv)
            refused = send(srv.port("smtp"), message(100, 150_000))
            assert (refused.code, refused.enhanced) == (452, "4.3.1"), refused
            refused = send(srv.port("smtp"), message(101, 150_000), size_param=False)
            assert (refused.code, refused.enhanced) == (452, "4.3.1"), refused
            assert free_bytes(fs) > MIB  # refused before the filesystem was full
            refused = submit(srv)
            assert (refused.code, refused.enhanced) == (452, "4.3.1"), refused
            tagged = imap_append_and_read(srv, len(sent))
            assert tagged.startswith(b"a NO [UNAVAILABLE]"), tagged

            # 12 MiB freed, 14 free, 10 above the threshold: 8 MiB of mail goes in at once
            (fs / "filler-a").unlink()
            batch = [message(200 + n, 150_000 if n % 2 else 300_000) for n in range(37)]
            assert sum(map(len, batch)) > 8 * MIB
            for data in batch:
                reply = send(srv.port("smtp"), data)
                assert reply.code == 250, (reply, free_bytes(fs))
                sent.append(data)
            assert imap_append_and_read(srv, len(sent)).startswith(b"a OK")
            received(srv, sent, appended=(message(999, 2000),))
        finally:
            srv.stop()
    full, back = store_lines(caplog)
    assert len(full) == 1, full
    assert "below min_free_bytes" in full[0]
    assert len(back) == 1, back


def test_a_disk_full_error_answers_452_with_one_log_line_and_recovers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """No threshold, and a guard that sees more free space than there is (as with a quota
    statvfs cannot see): the write itself meets ENOSPC, which is answered 452 4.3.1 too."""
    caplog.set_level(logging.INFO, logger="posthouse")
    with small_fs(tmp_path / "fs", 24) as fs:
        srv = ServerThread(server_config(fs / "data", 0))

        def over_reported(path: Path) -> os.statvfs_result:
            st = os.statvfs(path)
            extra = 64 * MIB // st.f_frsize
            return os.statvfs_result((st.f_bsize, st.f_frsize, st.f_blocks + extra,
                                      st.f_bfree + extra, st.f_bavail + extra, st.f_files,
                                      st.f_ffree, st.f_favail, st.f_flag, st.f_namemax))

        # a clock that stands still: the retry after ERROR_HOLD_SECONDS never comes
        srv.app.store.space = SpaceGuard(fs / "data", min_free_bytes=0,
                                         statvfs=over_reported, clock=lambda: 0.0)
        srv.start()
        try:
            srv.add_user(ANN)
            sent = [message(1, 20_000)]
            assert send(srv.port("smtp"), sent[0]).code == 250
            srv.call(srv.store.catch_up_index())

            fill(fs / "filler-a", 8 * MIB)
            fill(fs / "filler-b")  # until ENOSPC
            refused = send(srv.port("smtp"), message(100, 300_000))  # its blob file fails
            assert (refused.code, refused.enhanced) == (452, "4.3.1"), refused
            for n in range(3):  # now refused at MAIL FROM, without touching the disk
                refused = send(srv.port("smtp"), message(101 + n, 20_000))
                assert (refused.code, refused.enhanced) == (452, "4.3.1"), refused
            tagged = imap_append_and_read(srv, len(sent))
            assert tagged.startswith(b"a NO [UNAVAILABLE]"), tagged

            (fs / "filler-a").unlink()  # 8 MiB freed: 5 MiB of mail goes in at once
            for n in range(20):
                data = message(200 + n, 150_000 if n % 2 else 300_000)
                reply = send(srv.port("smtp"), data)
                assert reply.code == 250, (reply, free_bytes(fs))
                sent.append(data)
            received(srv, sent)
        finally:
            srv.stop()
    full, back = store_lines(caplog)
    assert len(full) == 1, full
    assert "a write failed" in full[0]
    assert len(back) == 1, back


def test_sqlite_full_inside_a_commit_is_storage_full_and_the_store_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """SQLITE_FULL met by the writer itself (the guard cannot read the filesystem, so it lets
    every write try): each failed delivery is StorageFull, nothing half-written shows, no
    "cannot rollback", and once space is freed the same store takes mail again."""
    caplog.set_level(logging.INFO, logger="posthouse")

    def unreadable(path: Path) -> os.statvfs_result:
        raise OSError(errno.EIO, "statvfs unavailable")

    async def scenario(fs: Path) -> None:
        data = fs / "data"
        store = SqliteStore(data, summarize=summarize, message_text=message_text,
                            space=SpaceGuard(data, min_free_bytes=0, statvfs=unreadable))
        await store.open()
        try:
            await store.add_domain("example.test")
            user = await store.add_user(ANN, "x")
            fill(fs / "filler-a", 4 * MIB)
            fill(fs / "filler-b")  # until ENOSPC
            acknowledged: list[bytes] = []
            failures = 0
            for n in range(400):  # inline messages: only SQLite's files grow
                data_n = message(n, 40_000)
                try:
                    await store.deliver(NewMessage(data_n, None, datetime.now(UTC)),
                                        [DeliveryTarget(user.id)])
                except StorageFull:
                    failures += 1
                    if failures == 5:
                        break
                else:
                    acknowledged.append(data_n)
            assert failures == 5  # the disk did fill, and every failure was StorageFull
            (fs / "filler-a").unlink()
            for n in range(1000, 1020):
                data_n = message(n, 40_000)
                await store.deliver(NewMessage(data_n, None, datetime.now(UTC)),
                                    [DeliveryTarget(user.id)])
                acknowledged.append(data_n)
            inbox = await store.get_mailbox(user.id, "INBOX")
            assert inbox is not None
            rows = await store.uid_list(inbox.id)
            metas = await store.fetch_meta(inbox.id, [r.uid for r in rows])
            assert [await store.read_blob(m.blob_id) for m in metas] == acknowledged
            # summaries the full disk refused are filed again once there is room (bounded
            # wait: they are retried after a pause that starts at one second)
            deadline = time.monotonic() + 60
            while len(await store.fetch_meta(inbox.id, [r.uid for r in rows],
                                             with_summary=True)) < len(rows):
                assert time.monotonic() < deadline, "summaries never filed"
                await asyncio.sleep(0.1)
        finally:
            await store.close()

    with small_fs(tmp_path / "fs", 16) as fs:
        asyncio.run(scenario(fs))
    records = [r for r in caplog.records if r.name.startswith("posthouse")]
    assert not [r.getMessage() for r in records if "cannot rollback" in r.getMessage()]
    assert not [r.getMessage() for r in records if r.exc_info]
    assert not [r.getMessage() for r in caplog.records if r.name == "asyncio"]
