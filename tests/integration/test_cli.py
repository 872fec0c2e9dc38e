"""The CLI as an operator uses it: one clear line for every expected failure."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import read_until_ready

PY = [sys.executable, "-m", "posthouse"]


def run(*args: str, stdin: str | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PY, *args], input=stdin, capture_output=True, text=True,
                          timeout=120, cwd=cwd, check=False)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_help_on_every_command() -> None:
    for cmd in ([], ["init"], ["serve"], ["domain"], ["domain", "add"], ["user"],
                ["user", "add"], ["user", "passwd"], ["user", "set-role"], ["alias"],
                ["alias", "add"], ["dns"],
                ["status"], ["queue"], ["queue", "list"], ["tlsrpt"], ["tlsrpt", "send"],
                ["acme"], ["acme", "status"], ["acme", "renew"]):
        proc = run(*cmd, "--help")
        assert proc.returncode == 0, (cmd, proc.stderr)
        assert "usage:" in proc.stdout


def test_init_user_lifecycle(tmp_path: Path) -> None:
    data = tmp_path / "d"
    proc = run("init", "--data-dir", str(data), "--domain", "example.org",
               "--hostname", "mx.example.org")
    assert proc.returncode == 0, proc.stderr
    assert "example.org. MX 10 mx.example.org." in proc.stdout
    assert "._domainkey.example.org. TXT \"v=DKIM1; k=rsa; p=" in proc.stdout
    assert "_dmarc.example.org." in proc.stdout
    assert "_imaps._tcp.example.org." in proc.stdout
    assert (data / "posthouse.toml").exists()
    assert (data / "tls" / "cert.pem").exists()
    assert oct((data / "tls" / "key.pem").stat().st_mode & 0o777) == "0o600"
    proc = run("user", "add", "Ann@Example.org", "--password-stdin", "--data-dir", str(data),
               stdin="s3cret-pass\n")
    assert proc.returncode == 0, proc.stderr
    assert "s3cret-pass" not in proc.stdout + proc.stderr
    proc = run("user", "list", "--data-dir", str(data))
    assert "ann@example.org" in proc.stdout
    proc = run("user", "add", "ann@example.org", "--password-stdin", "--data-dir", str(data),
               stdin="another-pass\n")
    assert "AlreadyExists" in one_line_error(proc)
    proc = run("user", "add", "bob@nowhere.example", "--password-stdin",
               "--data-dir", str(data), stdin="another-pass\n")
    assert "NotFound" in one_line_error(proc)
    proc = run("user", "passwd", "ann@example.org", "--password-stdin", "--data-dir",
               str(data), stdin="short\n")
    assert "at least 8" in one_line_error(proc)
    assert run("alias", "add", "team@example.org", "ann@example.org", "x@remote.example",
               "--data-dir", str(data)).returncode == 0
    assert "team@example.org\tann@example.org, x@remote.example" in run(
        "alias", "list", "--data-dir", str(data)).stdout
    assert run("user", "remove", "ann@example.org", "--data-dir", str(data)).returncode == 0
    assert "users: 0" in run("status", "--data-dir", str(data)).stdout
    assert "MX" in run("dns", "example.org", "--data-dir", str(data)).stdout


def test_admin_role_and_disabled_accounts(tmp_path: Path) -> None:
    """``user add --admin``, ``user set-role``, ``user set --disabled``: what the web admin
    login checks (tests/integration/test_web_admin_http.py)."""
    data = tmp_path / "d"
    assert run("init", "--data-dir", str(data), "--domain", "example.org",
               "--hostname", "mx.example.org").returncode == 0
    proc = run("user", "add", "boss@example.org", "--admin", "--password-stdin",
               "--data-dir", str(data), stdin="a long password\n")
    assert proc.returncode == 0, proc.stderr
    assert "user boss@example.org added (admin)" in proc.stdout
    assert run("user", "add", "ann@example.org", "--password-stdin", "--data-dir", str(data),
               stdin="a long password\n").returncode == 0
    proc = run("user", "set-role", "ANN@example.org", "admin", "--data-dir", str(data))
    assert proc.stdout.strip() == "user ann@example.org: role=admin"
    proc = run("user", "set", "ann@example.org", "--disabled", "yes", "--data-dir", str(data))
    assert "role=admin disabled=True" in proc.stdout
    listing = run("user", "list", "--data-dir", str(data)).stdout
    assert "ann@example.org\tmessages=0 used=0 quota=none admin disabled" in listing
    assert "boss@example.org\tmessages=0 used=0 quota=none admin\n" in listing
    assert "invalid choice" in run("user", "set-role", "ann@example.org", "root",
                                   "--data-dir", str(data)).stderr
    assert "NotFound" in one_line_error(run("user", "set-role", "nobody@example.org", "user",
                                            "--data-dir", str(data)))
    assert "not an address" in one_line_error(run("user", "set-role", "nobody", "user",
                                                  "--data-dir", str(data)))


def test_user_add_and_passwd_set_the_scram_secrets(tmp_path: Path) -> None:
    """Both commands store the argon2 hash and the SCRAM-SHA-256 secrets of the password."""
    import asyncio

    from posthouse.sasl import ScramSecrets, derive_secrets
    from tests.support.stores import sqlite_store

    def secrets_match(password: str) -> bool:
        async def read() -> str | None:
            store = sqlite_store(data, auto_index=False)
            await store.open()
            try:
                user = await store.get_user("ann@example.org")
                return None if user is None else user.scram_secrets
            finally:
                await store.close()

        text = asyncio.run(read())
        assert text is not None
        stored = ScramSecrets.parse(text)
        return derive_secrets(password, salt=stored.salt, iterations=stored.iterations) == stored

    data = tmp_path / "d"
    assert run("init", "--data-dir", str(data), "--domain", "example.org").returncode == 0
    proc = run("user", "add", "ann@example.org", "--password-stdin", "--data-dir", str(data),
               stdin="s3cret-pass\n")
    assert proc.returncode == 0, proc.stderr
    assert secrets_match("s3cret-pass")
    proc = run("user", "passwd", "ann@example.org", "--password-stdin", "--data-dir",
               str(data), stdin="n3w-password\n")
    assert proc.returncode == 0, proc.stderr
    assert secrets_match("n3w-password")
    assert not secrets_match("s3cret-pass")


def test_password_never_from_a_non_terminal_prompt(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run("init", "--data-dir", str(data)).returncode == 0
    proc = run("user", "add", "a@example.test", "--data-dir", str(data), stdin="")
    assert "--password-stdin" in one_line_error(proc)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[server]\nhostname = 5\n", "key 'hostname' must be a string"),
        ("[server]\nhostnme = 'x'\n", "unknown key 'hostnme'"),
        ("[nosuch]\n", "unknown section [nosuch]"),
        ("[listen]\nsmtp = ['nohostport']\n", "[listen] key 'smtp'"),
        ("[server\n", "invalid TOML"),
        ("[limits]\nmax_connections = true\n", "key 'max_connections' must be an integer"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, content: str, needle: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(content)
    line = one_line_error(run("serve", "--config", str(cfg)))
    assert needle in line
    assert str(cfg) in line


def test_missing_certificate_file_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[server]\ndata_dir = '{tmp_path / 'd'}'\n"
                   "[tls]\ncert = '/nonexistent/cert.pem'\nkey = '/nonexistent/key.pem'\n")
    (tmp_path / "d").mkdir()
    line = one_line_error(run("serve", "--config", str(cfg), "--port-base", "21000"))
    assert "/nonexistent/cert.pem" in line


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        proc = run("serve", "--data-dir", str(tmp_path / "d"), "--bind", "127.0.0.1",
                   "--port-base", "22000", "--listen", f"smtp=127.0.0.1:{port}")
        line = one_line_error(proc)
        assert f"127.0.0.1:{port}" in line
        assert "in use" in line
    finally:
        blocker.close()


def test_serve_first_run_and_sigterm(tmp_path: Path) -> None:
    """The README's serve path: empty data dir -> set up, first user printed, clean stop."""
    data = tmp_path / "d"
    proc = subprocess.Popen(
        [*PY, "serve", "--data-dir", str(data), "--bind", "127.0.0.1", "--port-base", "23000",
         "--allow-root"],  # the suite may run as root; privilege drop: test_privilege_drop.py
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = read_until_ready(proc, 60)
        assert "ready" in out, out + (proc.stderr.read() if proc.poll() is not None else "")
        assert "first user: postmaster@example.test" in out
        for port in (23025, 23587, 23465, 23143, 23993, 23110, 23995):
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(60)
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0


def test_queue_commands(tmp_path: Path) -> None:
    import asyncio

    from posthouse.store.models import OutboundEnvelope, OutboundRecipient
    from tests.support.stores import sqlite_store

    data = tmp_path / "d"
    assert run("init", "--data-dir", str(data)).returncode == 0

    async def enqueue() -> int:
        store = sqlite_store(data)
        await store.open()
        try:
            env = OutboundEnvelope("a@example.test", (OutboundRecipient("b@far.example"),))
            return await store.enqueue(b"Subject: q\r\n\r\nbody\r\n", env)
        finally:
            await store.close()

    qid = asyncio.run(enqueue())
    assert "b@far.example" in run("queue", "list", "--data-dir", str(data)).stdout
    assert "pending" in run("queue", "show", str(qid), "--data-dir", str(data)).stdout
    assert "HELD" in (run("queue", "hold", str(qid), "--data-dir", str(data)) and
                      run("queue", "list", "--data-dir", str(data))).stdout
    assert run("queue", "release", str(qid), "--data-dir", str(data)).returncode == 0
    assert "HELD" not in run("queue", "list", "--data-dir", str(data)).stdout
    assert run("queue", "retry", str(qid), "--data-dir", str(data)).returncode == 0
    assert "attempts=0" in run("queue", "list", "--data-dir", str(data)).stdout
    assert "1 messages" in run("status", "--data-dir", str(data)).stdout
    assert run("queue", "delete", str(qid), "--data-dir", str(data)).returncode == 0
    assert "0 queued" in run("queue", "list", "--data-dir", str(data)).stdout
    assert "no queued message" in one_line_error(run("queue", "show", "999",
                                                     "--data-dir", str(data)))


def test_dns_prints_the_ed25519_record_when_configured(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    data = tmp_path / "d"
    assert run("init", "--data-dir", str(data)).returncode == 0
    key = tmp_path / "ed.pem"
    key.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    cfg = data / "posthouse.toml"
    cfg.write_text(cfg.read_text() + f"[dkim]\ned25519_key = '{key}'\n")
    out = run("dns", "example.test", "--data-dir", str(data)).stdout
    assert 'posthouse-ed25519._domainkey.example.test. TXT "v=DKIM1; k=ed25519; p=' in out


def test_dns_prints_mta_sts_and_tlsrpt_records(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run("init", "--data-dir", str(data), "--hostname", "mx.example.org").returncode == 0
    out = run("dns", "example.org", "--data-dir", str(data)).stdout
    assert re.search(r'^_mta-sts\.example\.org\. TXT "v=STSv1; id=[0-9a-f]{16}"$', out, re.M)
    assert '_smtp._tls.example.org. TXT "v=TLSRPTv1; rua=mailto:postmaster@example.org"' in out
    assert "https://mta-sts.example.org/.well-known/mta-sts.txt" in out
    for line in ("version: STSv1", "mode: testing", "mx: mx.example.org", "max_age: 604800"):
        assert f";   {line}\n" in out
    assert "PTR record" in out
    assert "mx.example.org" in out.split("PTR record", 1)[1]


def test_tlsrpt_send_with_nothing_recorded(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run("init", "--data-dir", str(data)).returncode == 0
    proc = run("tlsrpt", "send", "--today", "--data-dir", str(data))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0 report(s) queued"


def test_internationalized_domains_are_stored_as_a_labels(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run("init", "--data-dir", str(data)).returncode == 0
    added = run("domain", "add", "Bücher.test", "--data-dir", str(data))
    assert added.stdout.strip() == "domain xn--bcher-kva.test added"
    listed = run("domain", "list", "--data-dir", str(data))
    assert "xn--bcher-kva.test" in listed.stdout
    refused = run("domain", "add", "☃.test", "--data-dir", str(data))
    assert refused.returncode != 0
    assert "A-labels" in refused.stderr
