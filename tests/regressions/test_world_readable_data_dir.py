"""Mail and password hashes readable by every local account (issue 12, defect 6).

The data directory holds the store (password hashes, SCRAM secrets), the blobs (every message),
the search index and the TLS and DKIM keys. However loose the umask the server or an admin
command starts with, everything in it is the owner's only: directories 0700, files 0600. A data
directory made before that (0755 / 0644) is put right at the next start, with one log line.
"""

from __future__ import annotations

import logging
import os
import smtplib
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerThread, make_config

ANN = "ann@example.test"
MESSAGE = b"From: peer@remote.test\r\nTo: ann@example.test\r\nSubject: private\r\n\r\nsecret\r\n"


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    """The umask most shells start with: new files 0644, new directories 0755."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def open_to_others(root: Path) -> list[str]:
    """Every entry under root (root included) that its group or other users may use."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{stat.S_IMODE(mode):o} {path.relative_to(root)}")
    return found


def send_over_smtp(srv: ServerThread) -> None:
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30) as client:
        assert client.sendmail("peer@remote.test", [ANN], MESSAGE) == {}


def test_a_fresh_data_dir_with_delivered_mail_is_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = ServerThread(make_config(data)).start()
    try:
        srv.add_user(ANN)
        send_over_smtp(srv)
        assert len(srv.inbox(ANN)) == 1
        assert open_to_others(data) == []
    finally:
        srv.stop()
    # what the store wrote while closing (checkpoint, search index) is owner-only too
    assert (data / "blobs").is_dir()
    assert open_to_others(data) == []
    assert os.umask(0o022) == 0o022  # App.stop gave the process its umask back


def test_a_world_readable_data_dir_is_fixed_at_the_next_start(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    srv = ServerThread(make_config(data)).start()
    try:
        srv.add_user(ANN)
        send_over_smtp(srv)
    finally:
        srv.stop()
    entries = [data, *data.rglob("*")]
    for path in entries:  # as an older posthouse (or a copy with cp -r) left it
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert len(open_to_others(data)) == len(entries)

    caplog.set_level(logging.INFO, logger="posthouse")
    srv = ServerThread(make_config(data)).start()
    try:
        assert open_to_others(data) == []
        assert len(srv.inbox(ANN)) == 1  # the store still opens and reads its mail
        send_over_smtp(srv)
        assert len(srv.inbox(ANN)) == 2
    finally:
        srv.stop()
    assert open_to_others(data) == []
    lines = [r.getMessage() for r in caplog.records if "group/other" in r.getMessage()]
    assert lines == [f"data directory {data}: took group/other access away from "
                     f"{len(entries)} entries"], lines


def test_cli_init_and_user_add_make_owner_only_files(tmp_path: Path) -> None:
    data = tmp_path / "d"
    cli = [sys.executable, "-m", "posthouse"]
    proc = subprocess.run([*cli, "init", "--data-dir", str(data)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([*cli, "user", "add", ANN, "--password-stdin", "--data-dir",
                           str(data)], input="a long password\n", capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (data / "posthouse.toml").is_file()
    assert open_to_others(data) == []


def test_the_umask_comes_back_whatever_order_servers_stop_in(tmp_path: Path) -> None:
    # Several servers in one process (tests, embedders): the private umask holds until the
    # last one stops, then the process gets its own back, even when the first stops first.
    first = ServerThread(make_config(tmp_path / "a")).start()
    second = ServerThread(make_config(tmp_path / "b")).start()
    first.stop()
    assert os.umask(0o077) == 0o077  # the second still runs: still private
    second.stop()
    assert os.umask(0o022) == 0o022
