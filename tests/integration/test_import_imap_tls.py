"""``posthouse import imap`` over TLS and STARTTLS, certificates verified, into a live server.

The source is posthouse itself (another account on the same running server: the import
writes into the data dir the server is serving), so the TLS paths are tested without
Dovecot: implicit TLS and STARTTLS with --cafile, a refused unknown certificate, a refused
password, an unknown local user. Each failure is one clear line and a non-zero exit.
"""

from __future__ import annotations

import imaplib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.config import tls_paths
from tests.support.server import PASSWORD, ServerThread, make_config

ANN = "ann@example.test"
BOB = "bob@example.test"
PY = [sys.executable, "-m", "posthouse"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        srv.add_user(ANN)
        srv.add_user(BOB)
        bob = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=srv.client_tls())
        bob.login(BOB, PASSWORD)
        bob.create("Projects/Alpha")
        bob.subscribe("Projects/Alpha")
        for i in range(12):
            box = "INBOX" if i % 2 else "Projects/Alpha"
            flags = "(\\Seen Important)" if i % 3 == 0 else "()"
            msg = (f"From: x@example.test\r\nSubject: m{i}\r\nMessage-ID: <m{i}@x>\r\n\r\n"
                   f"body {i}\r\n").encode()
            assert bob.append(box, flags, f'"0{i % 9 + 1}-Mar-2021 10:00:00 +0200"',
                              msg)[0] == "OK"
        bob.logout()
        yield srv


def _import(srv: ServerThread, *args: str,
            password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, POSTHOUSE_IMPORT_PASSWORD=password)
    return subprocess.run([*PY, "import", "imap", "--host", "127.0.0.1", "--user", BOB,
                           "--data-dir", srv.cfg.server.data_dir, *args],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def _error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("posthouse:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _mail(srv: ServerThread, address: str) -> dict[str, list[tuple[bytes, str, str]]]:
    client = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=srv.client_tls())
    client.login(address, PASSWORD)
    out = {}
    for box in ("INBOX", "Projects/Alpha"):
        client.select(box, readonly=True)
        typ, data = client.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        assert typ == "OK"
        out[box] = sorted((part[1], part[0].split(b"FLAGS (")[1].split(b")")[0].decode(),
                           part[0].split(b'INTERNALDATE "')[1].split(b'"')[0].decode())
                          for part in data if isinstance(part, tuple))
    client.logout()
    return out


def test_tls_and_starttls_with_a_verified_certificate(server: ServerThread) -> None:
    cert, _key = tls_paths(server.cfg)
    port = str(server.port("imaps"))
    refused = _import(server, "--port", port, "--to", ANN)
    assert "the certificate of 127.0.0.1 is not trusted (self-signed certificate)" \
        in _error(refused)

    done = _import(server, "--port", port, "--cafile", str(cert), "--to", ANN)
    assert done.returncode == 0, done.stderr
    assert "12 messages copied, 0 skipped, 0 failed" in done.stdout
    assert _mail(server, ANN) == _mail(server, BOB)
    client = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"),
                               ssl_context=server.client_tls())
    client.login(ANN, PASSWORD)
    assert any(b"Projects/Alpha" in line for line in client.lsub()[1]
               if isinstance(line, bytes))
    client.logout()

    again = _import(server, "--port", str(server.port("imap")), "--starttls",
                    "--cafile", str(cert), "--to", ANN)
    assert again.returncode == 0, again.stderr
    assert "0 messages copied, 12 skipped" in again.stdout

    # the record lost: messages are matched by Message-ID, internal date and size
    for path in (Path(server.cfg.server.data_dir) / "migrate").glob("imap-*.json"):
        path.unlink()
    matched = _import(server, "--port", port, "--cafile", str(cert), "--to", ANN)
    assert matched.returncode == 0, matched.stderr
    assert "0 messages copied, 12 skipped" in matched.stdout
    assert _mail(server, ANN) == _mail(server, BOB)


def test_bad_password_and_unknown_local_user(server: ServerThread) -> None:
    port = str(server.port("imaps"))
    wrong = _import(server, "--port", port, "--insecure", "--to", ANN, password="wrong one")
    assert f"login as {BOB} refused" in _error(wrong)
    nobody = _import(server, "--port", port, "--insecure", "--to", "nobody@example.test")
    assert "no local user nobody@example.test" in _error(nobody)
    env = {k: v for k, v in os.environ.items() if k != "POSTHOUSE_IMPORT_PASSWORD"}
    missing = subprocess.run([*PY, "import", "imap", "--host", "127.0.0.1", "--user", BOB,
                              "--to", ANN, "--data-dir", server.cfg.server.data_dir],
                             env=env, capture_output=True, text=True, timeout=60,
                             check=False)
    assert "--password-file" in _error(missing)
