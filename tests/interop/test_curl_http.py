"""curl (Debian) against the HTTPS listener with a certificate from a test CA, verified by
name: the autoconfig and MTA-STS hosts reached by their own names (SNI and Host as a client
sends them), the Apple profile with --user, and curl's own HTTP/1.1 parsing of our answers."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.config import TlsConfig
from tests.support.peers import find_tool
from tests.support.server import PASSWORD, ServerThread, make_config
from tests.support.test_ca import TestCa

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

NAMES = ("mx.example.test", "autoconfig.example.test", "mta-sts.example.test")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, TestCa]]:
    base = tmp_path_factory.mktemp("curl-http")
    ca = TestCa(base / "ca")
    chain, key, _leaf = ca.issue(*NAMES)
    cfg = make_config(base / "data")
    cfg = dataclasses.replace(cfg, tls=TlsConfig(cert=str(chain), key=str(key)))
    with ServerThread(cfg) as srv:
        srv.add_user("alice@example.test")
        yield srv, ca


def curl(setup: tuple[ServerThread, TestCa], name: str, path: str,
         *args: str) -> subprocess.CompletedProcess[bytes]:
    srv, ca = setup
    port = srv.port("https")
    return subprocess.run(
        [find_tool("curl"), "--silent", "--show-error", "--fail-with-body",
         "--cacert", str(ca.pem_path), "--resolve", f"{name}:{port}:127.0.0.1",
         "--write-out", "\n%{http_code} %{content_type}", *args,
         f"https://{name}:{port}{path}"],
        capture_output=True, timeout=60, check=False)


def _split(proc: subprocess.CompletedProcess[bytes]) -> tuple[bytes, str]:
    body, _, status = proc.stdout.rpartition(b"\n")
    return body, status.decode()


def test_autoconfig_host_form_verified_by_name(setup: tuple[ServerThread, TestCa]) -> None:
    proc = curl(setup, "autoconfig.example.test", "/mail/config-v1.1.xml")
    assert proc.returncode == 0, proc.stderr
    body, status = _split(proc)
    assert status == "200 application/xml"
    assert b'<emailProvider id="example.test">' in body


def test_mta_sts_policy_verified_by_name(setup: tuple[ServerThread, TestCa]) -> None:
    proc = curl(setup, "mta-sts.example.test", "/.well-known/mta-sts.txt")
    assert proc.returncode == 0, proc.stderr
    body, status = _split(proc)
    assert status == "200 text/plain"
    assert body.startswith(b"version: STSv1\r\nmode: testing\r\nmx: mx.example.test\r\n")


def test_apple_profile_with_user(setup: tuple[ServerThread, TestCa], tmp_path: Path) -> None:
    proc = curl(setup, "mx.example.test", "/apple/mobileconfig",
                "--user", f"alice@example.test:{PASSWORD}")
    assert proc.returncode == 0, proc.stderr
    body, status = _split(proc)
    assert status == "200 application/x-apple-aspen-config"
    profile = tmp_path / "p.mobileconfig"
    profile.write_bytes(body)
    _srv, ca = setup
    # with the test CA as the anchor, the whole signature chain verifies
    check = subprocess.run(["openssl", "smime", "-verify", "-inform", "DER", "-in",
                            str(profile), "-CAfile", str(ca.pem_path), "-purpose", "any"],
                           capture_output=True, timeout=60, check=False)
    assert check.returncode == 0, check.stderr
    assert b"com.apple.mail.managed" in check.stdout
    refused = curl(setup, "mx.example.test", "/apple/mobileconfig",
                   "--user", "alice@example.test:wrong")
    assert _split(refused)[1].startswith("401 ")
