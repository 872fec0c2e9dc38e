"""``posthouse import imap`` from a private Dovecot into a running posthouse, over sockets.

5,000 messages in 20 folders (flags, keywords, internal dates, special-use folders by
attribute and by name, a non-ASCII name, nested folders, subscriptions) are migrated, the
import is killed partway and resumed, and posthouse then holds exactly Dovecot's messages
(by content hash), flags and dates, as both servers answer over IMAP. A second run copies
nothing; flags changed on Dovecot are carried over; a UIDVALIDITY change on the source is
met by matching instead of copying again; a source that drops the connection mid-message
gets one line naming folder and uid, and the next run completes the folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posthouse.imap import utf7
from tests.support import imap_source
from tests.support.imap_source import FOLDERS, Snapshot
from tests.support.peers import DovecotPeer, free_port, scratch_dir, wait_until
from tests.support.server import PASSWORD, ServerThread, make_config
from tests.support.trip_proxy import TripProxy

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

ANN = "ann@example.test"
SOURCE_PASSWORD = "peer secret 1"
PY = [sys.executable, "-m", "posthouse"]


@pytest.fixture
def lab() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path


@pytest.fixture
def dovecot(lab: Path) -> Iterator[DovecotPeer]:
    peer = DovecotPeer(lab / "dovecot", imap_port=free_port(), pop3_port=free_port(),
                       users={ANN: SOURCE_PASSWORD},
                       extra_config=imap_source.DOVECOT_NAMESPACE)
    with peer:
        yield peer


@pytest.fixture
def posthouse(lab: Path) -> Iterator[ServerThread]:
    data = lab / "posthouse"
    data.mkdir()
    with ServerThread(make_config(data)) as server:
        server.add_user(ANN)
        yield server


def _argv(server: ServerThread, port: int, *extra: str) -> list[str]:
    return [*PY, "import", "imap", "--host", "127.0.0.1", "--port", str(port), "--plain",
            "--user", ANN, "--to", ANN, "--data-dir", server.cfg.server.data_dir, *extra]


def _env() -> dict[str, str]:
    return dict(os.environ, POSTHOUSE_IMPORT_PASSWORD=SOURCE_PASSWORD)


def run_import(server: ServerThread, port: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_argv(server, port, *extra), env=_env(), capture_output=True,
                          text=True, timeout=240, check=False)


def local_count(server: ServerThread) -> int:
    async def count() -> int:
        user = await server.store.get_user(ANN)
        return int((await server.store.quota_usage(user.id))[1])
    return server.call(count())


def snapshots(dovecot: DovecotPeer, server: ServerThread) -> tuple[Snapshot, Snapshot]:
    source = imap_source.open_imap(dovecot.imap_port, ANN, SOURCE_PASSWORD)
    local = imap_source.open_imap(server.port("imaps"), ANN, PASSWORD, server.client_tls())
    try:
        return imap_source.snapshot(source), imap_source.snapshot(local)
    finally:
        source.logout()
        local.logout()


def assert_same_mail(dovecot: DovecotPeer, server: ServerThread, *, total: int) -> None:
    """Every folder holds the same messages (content hash), flags and dates on both."""
    source, local = snapshots(dovecot, server)
    assert sum(sum(c.values()) for c in source.values()) == total
    for name, local_name in FOLDERS:
        want = source[name.replace(".", "/")]
        got = local.get(local_name)
        assert got == want, (name, local_name, len(want), sum((got or {}).values()))
    mapped = {local_name for _, local_name in FOLDERS}
    assert all(sum(local[n].values()) == 0 for n in local if n not in mapped), sorted(local)


def _summary(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr
    return lines[-1]


def _dovecot_client(dovecot: DovecotPeer) -> Any:
    return imap_source.open_imap(dovecot.imap_port, ANN, SOURCE_PASSWORD)


@pytest.mark.slow
def test_migration_interrupted_resumed_and_kept_in_step(
        dovecot: DovecotPeer, posthouse: ServerThread) -> None:
    per_folder = 250
    imap_source.fill_dovecot(dovecot, ANN, per_folder, big_every=97)
    total = per_folder * len(FOLDERS)
    source = _dovecot_client(dovecot)
    for name in ("Work.Projects", "Lists.debian", "Ordner \u00e4\u00f6\u00fc", "Spam"):
        assert source.subscribe('"' + utf7.encode(name) + '"')[0] == "OK"
    source.logout()

    # the first run hangs in "Old Mail.2020", the 11th folder copied (INBOX first, then by
    # name), at its 101st message: the source stalls mid-message and the import is killed
    stop_at = 7 * per_folder + 101
    trigger = f"Subject: sample message {stop_at}\r\n".encode()
    with TripProxy(dovecot.imap_port, trigger, "stall") as proxy:
        proc = subprocess.Popen(_argv(posthouse, proxy.port), env=_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proxy.tripped.wait(120), proc.communicate(timeout=5)
            counts = [-1]

            def settled() -> bool:
                counts.append(local_count(posthouse))
                return counts[-1] == counts[-2]
            assert wait_until(settled, 30, interval=0.3)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    partial = local_count(posthouse)
    assert 10 * per_folder <= partial <= 10 * per_folder + 100
    # the messages of the folder it hung in are stored but not yet recorded (the state is
    # saved between chunks): the next run must recognise them, not copy them again
    state = json.loads(next((Path(posthouse.cfg.server.data_dir) / "migrate")
                            .glob("imap-*.json")).read_text())
    recorded = sum(len(f["uids"]) for f in state["folders"].values())
    assert recorded == 10 * per_folder < partial

    resumed = run_import(posthouse, dovecot.imap_port)
    assert resumed.returncode == 0, resumed.stderr
    assert f"20 folders, {total - partial} messages copied, {partial} skipped, 0 failed" \
        in _summary(resumed)
    assert local_count(posthouse) == total
    assert_same_mail(dovecot, posthouse, total=total)
    local = imap_source.open_imap(posthouse.port("imaps"), ANN, PASSWORD,
                                  posthouse.client_tls())
    assert {"Work/Projects", "Lists/debian", "Ordner \u00e4\u00f6\u00fc", "Junk"} <= \
        imap_source.subscribed(local, "/")
    local.logout()

    # a second run copies nothing
    again = run_import(posthouse, dovecot.imap_port)
    assert again.returncode == 0, again.stderr
    assert f"0 messages copied, {total} skipped, 0 failed, 0 flag updates" in _summary(again)

    # flags changed on the source are carried over
    source = _dovecot_client(dovecot)
    assert source.select('"Work.Projects"')[0] == "OK"
    assert source.uid("STORE", "1:3", "+FLAGS", "(\\Flagged Later)")[0] == "OK"
    assert source.uid("STORE", "4", "-FLAGS", "(\\Seen \\Flagged $Forwarded Important)")[0] \
        == "OK"
    source.logout()
    changed = run_import(posthouse, dovecot.imap_port)
    assert changed.returncode == 0, changed.stderr
    assert "0 messages copied" in _summary(changed)
    assert " 0 flag updates" not in _summary(changed)
    assert_same_mail(dovecot, posthouse, total=total)

    # the source's UIDVALIDITY changes (its uid list is rebuilt): messages are matched
    folder = dovecot.maildir(ANN) / ".Receipts"
    source = _dovecot_client(dovecot)
    before = source.status('"Receipts"', "(UIDVALIDITY)")[1]
    source.logout()
    for path in folder.iterdir():
        if path.name.startswith(("dovecot-uidlist", "dovecot.index")):
            path.unlink()
    time.sleep(1.1)  # Dovecot takes the new UIDVALIDITY from the clock's seconds
    source = _dovecot_client(dovecot)
    after = source.status('"Receipts"', "(UIDVALIDITY)")[1]
    source.logout()
    assert before != after
    matched = run_import(posthouse, dovecot.imap_port)
    assert matched.returncode == 0, matched.stderr
    assert "0 messages copied" in _summary(matched)
    assert local_count(posthouse) == total


def test_source_dropping_the_connection_mid_message(
        dovecot: DovecotPeer, posthouse: ServerThread) -> None:
    per_folder = 5
    written = imap_source.fill_dovecot(dovecot, ANN, per_folder)
    cut_at = 2 * per_folder + 3  # the third message of Drafts
    source = _dovecot_client(dovecot)
    assert source.select('"Drafts"', readonly=True)[0] == "OK"
    typ, found = source.uid("SEARCH", "HEADER", "Message-ID", f"<sample-{cut_at}@source.test>")
    assert typ == "OK"
    uid = int(found[0].split()[0])
    source.logout()

    trigger = f"Subject: sample message {cut_at}\r\n".encode()
    with TripProxy(dovecot.imap_port, trigger, "cut") as proxy:
        first = run_import(posthouse, proxy.port)
    assert first.returncode == 1
    assert "Traceback" not in first.stderr
    lines = [ln for ln in first.stderr.splitlines() if ln.startswith("posthouse: folder")]
    assert len(lines) == 1, first.stderr
    assert lines[0].startswith(f"posthouse: folder Drafts: uid {uid}: "), lines
    assert "the next run goes on from there" in lines[0]
    assert "1 problems" in _summary(first)
    total = per_folder * len(FOLDERS)
    # every other folder was copied (a new connection); not one byte of the cut message
    cut = written[cut_at - 1].data.replace(b"\n", b"\r\n")
    assert all(m != cut for m in posthouse.inbox(ANN, "Drafts"))
    assert len(posthouse.inbox(ANN, "Drafts")) == 2
    assert local_count(posthouse) == total - 3

    second = run_import(posthouse, dovecot.imap_port)
    assert second.returncode == 0, second.stderr
    assert "3 messages copied" in _summary(second)
    assert_same_mail(dovecot, posthouse, total=total)


def test_folder_filters_and_a_folder_that_cannot_be_opened(
        dovecot: DovecotPeer, posthouse: ServerThread) -> None:
    per_folder = 2
    imap_source.fill_dovecot(dovecot, ANN, per_folder)
    only = run_import(posthouse, dovecot.imap_port, "--folders", "Lists*", "INBOX",
                      "--exclude", "Lists/debian")
    assert only.returncode == 0, only.stderr
    assert "3 folders, 6 messages copied" in _summary(only)
    assert len(posthouse.inbox(ANN, "Lists/python-dev")) == 2
    assert len(posthouse.inbox(ANN, "Lists")) == 2

    locked = dovecot.maildir(ANN) / ".Receipts"
    locked.chmod(0o000)  # Dovecot (not root) cannot read it: EXAMINE fails
    try:
        broken = run_import(posthouse, dovecot.imap_port)
    finally:
        locked.chmod(0o700)
    assert broken.returncode == 1
    lines = [ln for ln in broken.stderr.splitlines() if ln.startswith("posthouse: folder")]
    assert len(lines) == 1, broken.stderr
    assert lines[0].startswith("posthouse: folder Receipts: "), lines
    total = per_folder * len(FOLDERS)
    assert local_count(posthouse) == total - per_folder
    fixed = run_import(posthouse, dovecot.imap_port)
    assert fixed.returncode == 0, fixed.stderr
    assert f"{per_folder} messages copied" in _summary(fixed)
    assert_same_mail(dovecot, posthouse, total=total)
