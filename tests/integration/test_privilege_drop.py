"""Issue 12, defect 5: started as root, ``posthouse serve`` binds its ports and then runs as the
service user, with no capability left, before it reads a byte from the network; without that
user it refuses to serve as root. Started as a user with CAP_NET_BIND_SERVICE (the systemd
unit's way), it binds a port below 1024 and then gives the capability up.

These tests create temporary system users (useradd) and remove them (userdel): they need root
and skip without it. Data dirs live in /tmp directly: pytest's tmp_path sits under a root-only
directory the service user could not enter.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import read_until_ready

PY = [sys.executable, "-m", "posthouse"]
BASE = 26000  # fixed ports below the ephemeral range; no other test uses this base
PASSWORD = "drop-pass-123"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates a system user with "
                       "useradd and starts posthouse serve as root"),
    pytest.mark.skipif(shutil.which("useradd") is None or shutil.which("userdel") is None,
                       reason="needs useradd/userdel (Debian package passwd)"),
]


def _remove_user(name: str) -> None:
    subprocess.run(["userdel", name], capture_output=True, check=False)
    subprocess.run(["groupdel", name], capture_output=True, check=False)  # if userdel left it


@pytest.fixture
def new_name() -> Iterator[str]:
    """A fresh user name; whatever user or group gets that name is removed afterwards."""
    name = f"phtest{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        _remove_user(name)


@pytest.fixture
def service_user(new_name: str) -> pwd.struct_passwd:
    """A temporary system user with its own group, no home, no shell."""
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
                    "/nonexistent", "--shell", "/usr/sbin/nologin", new_name],
                   check=True, capture_output=True)
    return pwd.getpwnam(new_name)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="posthouse-privdrop-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_config(data: Path, user: str, **listen: str) -> Path:
    listeners = "".join(f'{proto} = {value}\n' for proto, value in listen.items())
    config = data / "posthouse.toml"
    config.write_text(f'[server]\nhostname = "mx.example.test"\ndata_dir = "{data}"\n'
                      f'user = "{user}"\n'
                      + (f"[listen]\n{listeners}" if listeners else ""), encoding="utf-8")
    return config


def run(*args: str, stdin: str | None = None,
        prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, *PY, *args], input=stdin, capture_output=True, text=True,
                          timeout=120, check=False)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def proc_status(pid: int) -> list[dict[str, str]]:
    """/proc/<pid>/task/*/status of every thread, as key -> value."""
    out = []
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        fields = {}
        for line in status.read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        out.append(fields)
    assert out
    return out


CAP_NET_BIND_SERVICE = 1 << 10


def assert_unprivileged(pid: int, user: pwd.struct_passwd, *,
                        resolver_threads_may_bind: bool = False) -> None:
    """Every thread: the user's uid and gid (real, effective, saved, fs), none of root's
    groups, no capability in the effective, permitted or ambient set, no_new_privs.

    ``resolver_threads_may_bind``: never root, started with CAP_NET_BIND_SERVICE: uvloop's
    resolver threads (libuv-worker), made while binding, keep that one capability (capset
    changes the calling thread only); every other thread has none."""
    for fields in proc_status(pid):
        assert fields["Uid"].split() == [str(user.pw_uid)] * 4, fields["Uid"]
        assert fields["Gid"].split() == [str(user.pw_gid)] * 4, fields["Gid"]
        assert "0" not in fields["Groups"].split(), fields["Groups"]
        allowed = 0
        if resolver_threads_may_bind and fields["Name"] == "libuv-worker":
            allowed = CAP_NET_BIND_SERVICE
        for cap in ("CapEff", "CapPrm", "CapAmb"):
            assert int(fields[cap], 16) & ~allowed == 0, (fields["Name"], cap, fields[cap])
        assert fields["NoNewPrivs"] == "1", fields["Name"]


def start(argv: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = read_until_ready(proc, 60)
    if not out.rstrip().endswith("ready"):
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"serve did not become ready:\n{out}\n{err}")
    return proc, out


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def test_serve_as_root_drops_to_the_service_user(service_user: pwd.struct_passwd,
                                                 data_dir: Path) -> None:
    """init and user add run as root (their files are root's); serve as root gives the data
    dir to the user, becomes it, and a message delivered over SMTP is read over IMAP."""
    name = service_user.pw_name
    write_config(data_dir, name)
    assert run("init", "--data-dir", str(data_dir)).returncode == 0
    proc = run("user", "add", "ann@example.test", "--password-stdin", "--data-dir",
               str(data_dir), stdin=PASSWORD + "\n")
    assert proc.returncode == 0, proc.stderr
    os.chown(data_dir / "posthouse.sqlite3", 0, 0)  # as a root admin command may leave it
    server, out = start([*PY, "serve", "--data-dir", str(data_dir), "--bind", "127.0.0.1",
                         "--port-base", str(BASE), "--allow-plaintext-loopback"])
    try:
        assert f"running as user {name}" in out
        assert_unprivileged(server.pid, service_user)
        with smtplib.SMTP("127.0.0.1", BASE + 25, timeout=10) as smtp:
            smtp.sendmail("someone@far.example", ["ann@example.test"],
                          b"Subject: dropped\r\n\r\ndelivered to an unprivileged server\r\n")
        imap = imaplib.IMAP4("127.0.0.1", BASE + 143, timeout=10)
        try:
            assert imap.login("ann@example.test", PASSWORD)[0] == "OK"
            imap.select("INBOX")
            typ, data = imap.fetch("1", "(BODY.PEEK[TEXT])")
            assert typ == "OK"
            assert b"delivered to an unprivileged server" in data[0][1]  # type: ignore[index]
        finally:
            imap.logout()
        assert_unprivileged(server.pid, service_user)  # the store's threads as well
        for path in [data_dir, *data_dir.rglob("*")]:
            st = path.lstat()
            assert (st.st_uid, st.st_gid) == (service_user.pw_uid, service_user.pw_gid), path
            assert not st.st_mode & 0o077, path
    finally:
        stop(server)


@pytest.mark.parametrize("who", ["missing", "root"])
def test_serve_as_root_refuses_without_an_unprivileged_user(new_name: str, data_dir: Path,
                                                            who: str) -> None:
    user = new_name if who == "missing" else "root"  # new_name: no such user exists
    write_config(data_dir, user)
    line = one_line_error(run("serve", "--data-dir", str(data_dir), "--bind", "127.0.0.1",
                              "--port-base", str(BASE + 100)))
    assert line.startswith("posthouse: refusing to serve as root:"), line
    assert repr(user) in line
    assert "allow_root" in line
    if who == "missing":
        assert "run 'posthouse init' as root" in line


def test_init_as_root_creates_the_service_user(new_name: str, data_dir: Path) -> None:
    write_config(data_dir, new_name)
    proc = run("init", "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    assert f"service user: {new_name}" in proc.stdout
    entry = pwd.getpwnam(new_name)
    assert entry.pw_uid != 0
    assert entry.pw_shell == "/usr/sbin/nologin"
    assert not Path(entry.pw_dir).exists()
    for path in [data_dir, *data_dir.rglob("*")]:
        assert path.lstat().st_uid == entry.pw_uid, path


def _free_low_port() -> int:
    for port in range(700, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024 on 127.0.0.1")


def as_user(user: pwd.struct_passwd, *, bind_cap: bool) -> tuple[str, ...]:
    """Run a command as ``user``; with ``bind_cap``, holding CAP_NET_BIND_SERVICE as an
    ambient capability, as systemd's AmbientCapabilities= gives it."""
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (Debian package util-linux)")
    prefix = ("setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups")
    if bind_cap:  # as contrib/systemd/posthouse.service: the bounding set holds only this
        prefix += ("--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service",
                   "--bounding-set=-all,+net_bind_service")
    return prefix


def test_serve_as_a_user_with_cap_net_bind_service_gives_it_up(
        service_user: pwd.struct_passwd, data_dir: Path) -> None:
    """The systemd unit's mode: never root; the ambient CAP_NET_BIND_SERVICE binds a port
    below 1024 and is gone before anything is accepted."""
    port = _free_low_port()
    off = "[]"
    write_config(data_dir, service_user.pw_name, smtp=f'["127.0.0.1:{port}"]',
                 submission=off, submissions=off, imap=off, imaps=off, pop3=off, pop3s=off,
                 http=off, https=off)
    assert run("init", "--data-dir", str(data_dir)).returncode == 0  # as root: chowns
    argv = [*as_user(service_user, bind_cap=True), *PY, "serve", "--data-dir", str(data_dir)]
    server, out = start(argv)
    try:
        assert f"127.0.0.1:{port}" in out
        assert_unprivileged(server.pid, service_user, resolver_threads_may_bind=True)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            assert smtp.noop()[0] == 250
    finally:
        stop(server)


def test_serve_as_another_user_than_configured_refuses(service_user: pwd.struct_passwd,
                                                       data_dir: Path) -> None:
    config = write_config(data_dir, "root")
    for path in (data_dir, config):
        os.chown(path, service_user.pw_uid, service_user.pw_gid)
    line = one_line_error(run("serve", "--data-dir", str(data_dir), "--bind", "127.0.0.1",
                              "--port-base", str(BASE + 200),
                              prefix=as_user(service_user, bind_cap=False)))
    assert "[server] user is 'root'" in line
    assert f"started as {service_user.pw_name!r}" in line
