"""Issue 2 acceptance: the README's serve command on an empty data dir brings every listener
up, and a user created with the CLI authenticates over each TLS port with real clients."""

from __future__ import annotations

import imaplib
import os
import poplib
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import read_until_ready

ROOT = Path(__file__).resolve().parents[2]
BASE = 24000  # fixed ports stay below the ephemeral range (32768-60999)
PORTS = {"smtp": 25, "submission": 587, "submissions": 465, "imap": 143, "imaps": 993,
         "pop3": 110, "pop3s": 995}
PASSWORD = "readme-pass-123"


def wait_ready(proc: subprocess.Popen[str]) -> str:
    out = read_until_ready(proc, 120)
    if not out.rstrip().endswith("ready"):
        raise AssertionError("serve did not become ready:\n" + out)
    return out


@pytest.fixture
def readme_server(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "data"
    env = {**os.environ, "POSTHOUSE_DATA": str(data)}
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "serve.sh"), "--bind", "127.0.0.1", "--port-base", str(BASE),
         "--allow-root"],  # the suite may run as root; privilege drop: test_privilege_drop.py
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    try:
        out = wait_ready(proc)
        assert "first user: postmaster@example.test" in out
        yield data
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        assert proc.stdout is not None
        proc.stdout.close()


def tls_context(data: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(data / "tls" / "cert.pem"))
    ctx.check_hostname = False
    return ctx


def test_every_listener_up_and_cli_user_authenticates_over_tls(readme_server: Path) -> None:
    data = readme_server
    for port in PORTS.values():
        with socket.create_connection(("127.0.0.1", BASE + port), timeout=5):
            pass
    proc = subprocess.run(
        [sys.executable, "-m", "posthouse", "user", "add", "zoe@example.test",
         "--password-stdin", "--data-dir", str(data)],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    ctx = tls_context(data)
    with smtplib.SMTP_SSL("127.0.0.1", BASE + 465, context=ctx, timeout=10) as s:
        assert s.login("zoe@example.test", PASSWORD)[0] == 235
    with smtplib.SMTP("127.0.0.1", BASE + 587, timeout=10) as s:
        s.starttls(context=ctx)
        assert s.login("zoe@example.test", PASSWORD)[0] == 235
    imap = imaplib.IMAP4_SSL("127.0.0.1", BASE + 993, ssl_context=ctx, timeout=10)
    assert imap.login("zoe@example.test", PASSWORD)[0] == "OK"
    imap.logout()
    pop = poplib.POP3_SSL("127.0.0.1", BASE + 995, context=ctx, timeout=10)
    pop.user("zoe@example.test")
    assert pop.pass_(PASSWORD).startswith(b"+OK")
    pop.quit()
    with smtplib.SMTP_SSL("127.0.0.1", BASE + 465, context=ctx, timeout=10) as s, \
            pytest.raises(smtplib.SMTPAuthenticationError):
        s.login("zoe@example.test", "wrong-password")
