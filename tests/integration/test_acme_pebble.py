"""ACME (RFC 8555) against pebble over real sockets: posthouse obtains a certificate with
tls-alpn-01 (RFC 8737), serves it on IMAPS, renews it near expiry without dropping an open
connection, and keeps the current one when the CA is unreachable."""

from __future__ import annotations

import dataclasses
import imaplib
import logging
import os
import socket
import ssl
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from posthouse.acme.manager import AcmeFailed
from posthouse.app import App
from posthouse.config import DataPaths, TlsConfig
from tests.support.pebble import PEBBLE, Pebble
from tests.support.peers import free_port
from tests.support.server import DOMAIN, PASSWORD, ServerThread, make_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(PEBBLE), reason="pebble not installed"),
]

HOST = "mx.example.test"
NAMES = [HOST, f"autoconfig.{DOMAIN}", f"mta-sts.{DOMAIN}"]
USER = f"alice@{DOMAIN}"


class ShiftedClock:
    """The real time moved by ``shift``: the test says "near expiry" by moving it."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def monotonic(self) -> float:
        import time

        return time.monotonic()


@pytest.fixture
def acme_server(tmp_path: Path) -> Iterator[tuple[ServerThread, Pebble, ShiftedClock]]:
    imaps_port = free_port()  # pebble must know where to validate before posthouse starts
    pebble = Pebble(
        tmp_path / "pebble", tls_port=imaps_port, http_port=free_port(), names=NAMES
    ).start()
    cfg = make_config(tmp_path / "data")
    cfg = dataclasses.replace(
        cfg,
        listen=dataclasses.replace(cfg.listen, imaps=[f"127.0.0.1:{imaps_port}"]),
        tls=TlsConfig(
            acme=True,
            acme_directory=pebble.directory,
            acme_ca_file=pebble.ca_file,
            acme_email=f"postmaster@{DOMAIN}",
            acme_challenges=["tls-alpn-01"],
        ),
    )
    clock = ShiftedClock()
    server = ServerThread(cfg)
    server.app = App(cfg, clock=clock)
    try:
        server.start()
        server.add_user(USER)
        yield server, pebble, clock
    finally:
        server.stop()
        pebble.stop()


def served_certificate(port: int, root: bytes, name: str = HOST) -> x509.Certificate:
    """The certificate posthouse presents, verified against pebble's root for ``name``."""
    ctx = ssl.create_default_context(cadata=root.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def live_leaf(server: ServerThread) -> x509.Certificate:
    path = DataPaths(server.cfg.data_path).acme_live
    return x509.load_pem_x509_certificate(path.read_bytes())


def obtain(server: ServerThread) -> x509.Certificate:
    """Let the manager finish its first order (the domain was added after start)."""
    assert server.app.acme is not None
    server.call(server.app.acme.check(), timeout=120)
    return live_leaf(server)


def test_obtains_a_pebble_certificate_and_serves_it_on_imaps(
    acme_server: tuple[ServerThread, Pebble, ShiftedClock],
) -> None:
    server, pebble, _ = acme_server
    leaf = obtain(server)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(NAMES)
    intermediate = x509.load_pem_x509_certificate(pebble.intermediate_pem())
    assert leaf.issuer == intermediate.subject  # issued by pebble's intermediate

    # Verified TLS (pebble's root, the host name) on IMAPS, the very certificate stored.
    presented = served_certificate(server.port("imaps"), pebble.root_pem())
    assert presented.serial_number == leaf.serial_number
    for name in NAMES:  # every name of the certificate verifies
        assert served_certificate(server.port("imaps"), pebble.root_pem(), name) == presented

    # Owner-only in the data dir: the account key and the certificate with its key.
    acme_dir = DataPaths(server.cfg.data_path).acme
    assert stat.S_IMODE(acme_dir.stat().st_mode) == 0o700
    for f in ("account.key", "live.pem", "accounts.json"):
        assert stat.S_IMODE((acme_dir / f).stat().st_mode) == 0o600
    # Nothing more is due: a second check leaves the certificate alone.
    assert server.app.acme is not None
    assert server.call(server.app.acme.check()) is False


def test_renews_near_expiry_without_dropping_an_open_connection(
    acme_server: tuple[ServerThread, Pebble, ShiftedClock],
) -> None:
    server, pebble, clock = acme_server
    first = obtain(server)
    root = pebble.root_pem()
    ctx = ssl.create_default_context(cadata=root.decode())
    old = _imap_by_name(server.port("imaps"), ctx)
    old.login(USER, PASSWORD)
    old.select("INBOX")

    clock.shift = first.not_valid_after_utc - datetime.now(UTC) - timedelta(days=10)
    assert server.app.acme is not None
    assert server.call(server.app.acme.check(), timeout=120) is True  # 10 days left < 30
    renewed = live_leaf(server)
    assert renewed.serial_number != first.serial_number

    # The connection opened before the renewal still works, on its old certificate ...
    assert old.noop()[0] == "OK"
    assert old.select("INBOX")[0] == "OK"
    old_der = old.sock.getpeercert(binary_form=True)  # type: ignore[attr-defined]
    assert x509.load_der_x509_certificate(old_der).serial_number == first.serial_number
    old.logout()
    # ... and new connections get the new one.
    presented = served_certificate(server.port("imaps"), root)
    assert presented.serial_number == renewed.serial_number
    new = _imap_by_name(server.port("imaps"), ctx)
    new.login(USER, PASSWORD)
    new.logout()


def test_unreachable_ca_keeps_the_current_certificate_and_logs(
    acme_server: tuple[ServerThread, Pebble, ShiftedClock], caplog: pytest.LogCaptureFixture
) -> None:
    server, pebble, clock = acme_server
    first = obtain(server)
    root = pebble.root_pem()
    pebble.stop()

    clock.shift = first.not_valid_after_utc - datetime.now(UTC) - timedelta(days=5)
    assert server.app.acme is not None
    with caplog.at_level(logging.ERROR, logger="posthouse.acme"), pytest.raises(AcmeFailed):
        server.call(server.app.acme.check(), timeout=120)
    assert any("keeping the current certificate" in r.getMessage() for r in caplog.records)
    assert server.app.acme.failures == 1
    assert live_leaf(server).serial_number == first.serial_number
    presented = served_certificate(server.port("imaps"), root)
    assert presented.serial_number == first.serial_number


def _imap_by_name(port: int, ctx: ssl.SSLContext) -> imaplib.IMAP4_SSL:
    """IMAPS to 127.0.0.1 with SNI and verification for the host name."""

    class ByName(imaplib.IMAP4_SSL):
        def _create_socket(self, timeout: float | None) -> ssl.SSLSocket:
            raw = socket.create_connection(("127.0.0.1", port), timeout)
            return ctx.wrap_socket(raw, server_hostname=HOST)

    return ByName(HOST, port, ssl_context=ctx, timeout=30)
