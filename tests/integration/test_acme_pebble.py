"""ACME (RFC 8555) against pebble over real sockets: posthouse obtains a certificate with
tls-alpn-01 (RFC 8737, on the HTTPS listener) or http-01 (on the HTTP listener), serves it
on IMAPS and HTTPS, renews it near expiry without dropping an open connection, and keeps
the current one when the CA is unreachable."""

from __future__ import annotations

import base64
import dataclasses
import http.client
import imaplib
import logging
import os
import socket
import ssl
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7

from posthouse.acme.manager import AcmeFailed
from posthouse.app import App
from posthouse.cli.main import main as cli_main
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
        return time.monotonic()


@dataclasses.dataclass
class AcmeLab:
    server: ServerThread
    pebble: Pebble
    clock: ShiftedClock

    def obtain(self) -> x509.Certificate:
        """Let the manager finish its order (the domain was added after start)."""
        assert self.server.app.acme is not None
        self.server.call(self.server.app.acme.check(), timeout=120)
        return self.live_leaf()

    def live_leaf(self) -> x509.Certificate:
        path = DataPaths(self.server.cfg.data_path).acme_live
        return x509.load_pem_x509_certificate(path.read_bytes())


Lab = Callable[..., AcmeLab]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """Start pebble (validating on posthouse's HTTP and HTTPS ports, picked first), then
    posthouse with [tls] acme on, the domain and a user."""
    started: list[tuple[ServerThread, Pebble]] = []

    def make(
        challenges: tuple[str, ...] = ("tls-alpn-01",),
        nonce_reject: int = 0,
        start_pebble: bool = True,
        retry_seconds: int = 300,
    ) -> AcmeLab:
        http_port, https_port = free_port(), free_port()
        pebble = Pebble(
            tmp_path / "pebble",
            tls_port=https_port,
            http_port=http_port,
            names=NAMES,
            nonce_reject=nonce_reject,
        )
        if start_pebble:
            pebble.start()
        cfg = make_config(tmp_path / "data")
        listen = dataclasses.replace(
            cfg.listen, http=[f"127.0.0.1:{http_port}"], https=[f"127.0.0.1:{https_port}"]
        )
        tls = TlsConfig(
            acme=True,
            acme_directory=pebble.directory,
            acme_ca_file=pebble.ca_file,
            acme_email=f"postmaster@{DOMAIN}",
            acme_challenges=list(challenges),
            acme_retry_seconds=retry_seconds,
        )
        cfg = dataclasses.replace(cfg, listen=listen, tls=tls)
        clock = ShiftedClock()
        server = ServerThread(cfg)
        server.app = App(cfg, clock=clock)
        started.append((server, pebble))
        server.start()
        server.add_user(USER)
        return AcmeLab(server, pebble, clock)

    yield make
    for server, pebble in started:
        try:
            server.stop()
        finally:
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


def https_status(port: int, root: bytes) -> int:
    """An HTTPS request to the verified host name: the listener answers over the new
    certificate."""
    ctx = ssl.create_default_context(cadata=root.decode())
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    conn.sock = ctx.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname=HOST
    )
    conn.request("GET", "/healthz", headers={"Host": HOST})
    status = conn.getresponse().status
    conn.close()
    return status


def mobileconfig(acme: AcmeLab) -> bytes:
    """The signed profile of USER, downloaded over verified HTTPS."""
    ctx = ssl.create_default_context(cadata=acme.pebble.root_pem().decode())
    port = acme.server.port("https")
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    conn.sock = ctx.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname=HOST
    )
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    conn.request(
        "GET", "/apple/mobileconfig", headers={"Host": HOST, "Authorization": f"Basic {token}"}
    )
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 200, body
    return body


def _check_issued(lab: AcmeLab, leaf: x509.Certificate) -> None:
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(NAMES)
    intermediate = x509.load_pem_x509_certificate(lab.pebble.intermediate_pem())
    assert leaf.issuer == intermediate.subject  # issued by pebble's intermediate
    root = lab.pebble.root_pem()
    # Verified TLS (pebble's root, each name) on IMAPS and HTTPS: the very one stored.
    for proto in ("imaps", "https"):
        for name in NAMES:
            presented = served_certificate(lab.server.port(proto), root, name)
            assert presented.serial_number == leaf.serial_number
    assert https_status(lab.server.port("https"), root) == 200


@pytest.mark.parametrize("challenge", ["tls-alpn-01", "http-01"])
def test_obtains_a_pebble_certificate_and_serves_it_on_imaps_and_https(
    lab: Lab, challenge: str, caplog: pytest.LogCaptureFixture
) -> None:
    acme = lab((challenge,))
    with caplog.at_level(logging.INFO, logger="posthouse.acme"):
        leaf = acme.obtain()
    _check_issued(acme, leaf)
    validated = [r.getMessage() for r in caplog.records if "validated by" in r.getMessage()]
    assert validated  # (the first order may have run before the domain was added)
    assert all(m.endswith(challenge) for m in validated)

    # The Apple profile (web/mobileconfig.py) is signed with the certificate now in use.
    signers = pkcs7.load_der_pkcs7_certificates(mobileconfig(acme))
    assert leaf in signers

    # Owner-only in the data dir: the account key and the certificate with its key.
    acme_dir = DataPaths(acme.server.cfg.data_path).acme
    assert stat.S_IMODE(acme_dir.stat().st_mode) == 0o700
    for f in ("account.key", "live.pem", "accounts.json"):
        assert stat.S_IMODE((acme_dir / f).stat().st_mode) == 0o600
    # Nothing more is due: a second check leaves the certificate alone.
    assert acme.server.app.acme is not None
    assert acme.server.call(acme.server.app.acme.check()) is False


def test_bad_nonces_are_retried(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    # RFC 8555 6.5: pebble refuses 30% of good nonces; every request is retried with the
    # nonce the error carried.
    acme = lab(("tls-alpn-01",), nonce_reject=30)
    with caplog.at_level(logging.DEBUG, logger="posthouse.acme"):
        leaf = acme.obtain()
    _check_issued(acme, leaf)
    assert any("badNonce" in r.getMessage() for r in caplog.records)


def test_renews_near_expiry_without_dropping_an_open_connection(lab: Lab) -> None:
    acme = lab()
    server = acme.server
    first = acme.obtain()
    root = acme.pebble.root_pem()
    ctx = ssl.create_default_context(cadata=root.decode())
    old = _imap_by_name(server.port("imaps"), ctx)
    old.login(USER, PASSWORD)
    old.select("INBOX")

    acme.clock.shift = first.not_valid_after_utc - datetime.now(UTC) - timedelta(days=10)
    assert server.app.acme is not None
    assert server.call(server.app.acme.check(), timeout=120) is True  # 10 days left < 30
    renewed = acme.live_leaf()
    assert renewed.serial_number != first.serial_number

    # The connection opened before the renewal still works, on its old certificate ...
    assert old.noop()[0] == "OK"
    assert old.select("INBOX")[0] == "OK"
    old_der = old.sock.getpeercert(binary_form=True)  # type: ignore[attr-defined]
    assert x509.load_der_x509_certificate(old_der).serial_number == first.serial_number
    old.logout()
    # ... and new connections get the new one, on IMAPS and HTTPS.
    for proto in ("imaps", "https"):
        presented = served_certificate(server.port(proto), root)
        assert presented.serial_number == renewed.serial_number
    new = _imap_by_name(server.port("imaps"), ctx)
    new.login(USER, PASSWORD)
    new.logout()


def test_unreachable_ca_keeps_the_current_certificate_and_logs(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    acme = lab()
    server = acme.server
    first = acme.obtain()
    root = acme.pebble.root_pem()
    acme.pebble.stop()

    acme.clock.shift = first.not_valid_after_utc - datetime.now(UTC) - timedelta(days=5)
    assert server.app.acme is not None
    with caplog.at_level(logging.ERROR, logger="posthouse.acme"), pytest.raises(AcmeFailed):
        server.call(server.app.acme.check(), timeout=120)
    assert any("keeping the current certificate" in r.getMessage() for r in caplog.records)
    assert server.app.acme.failures == 1
    assert acme.live_leaf().serial_number == first.serial_number
    for proto in ("imaps", "https"):
        assert served_certificate(server.port(proto), root).serial_number == (first.serial_number)


def test_a_failed_first_attempt_is_retried_with_backoff(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    # The CA is down when the server starts: the self-signed certificate is served, the
    # failure logged, and the background loop tries again (after 1 s, 2, 4 ...) until the CA
    # answers; nobody asks it to.
    acme = lab(start_pebble=False, retry_seconds=1)
    manager = acme.server.app.acme
    assert manager is not None
    with caplog.at_level(logging.INFO, logger="posthouse.acme"):
        _wait_until(lambda: manager.failures >= 3)
        assert not DataPaths(acme.server.cfg.data_path).acme_live.exists()
        acme.pebble.start()
        _wait_until(lambda: manager.failures == 0 and _covers_all(acme))
    messages = [r.getMessage() for r in caplog.records]
    assert any("keeping the current certificate" in m for m in messages)
    assert any("next attempt in 4 seconds" in m for m in messages)  # 1, 2, 4
    _check_issued(acme, acme.live_leaf())


def test_an_account_the_ca_forgot_is_registered_again(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    # RFC 8555 7.3.1: a fresh pebble on the same directory URL knows none of the accounts;
    # the kid the server kept gets accountDoesNotExist, and it registers anew.
    acme = lab()
    first = acme.obtain()
    acme.pebble.restart()
    acme.clock.shift = first.not_valid_after_utc - datetime.now(UTC) - timedelta(days=10)
    assert acme.server.app.acme is not None
    with caplog.at_level(logging.WARNING, logger="posthouse.acme"):
        assert acme.server.call(acme.server.app.acme.check(), timeout=120) is True
    assert any("registering again" in r.getMessage() for r in caplog.records)
    renewed = acme.live_leaf()
    assert (
        renewed.issuer == x509.load_pem_x509_certificate(acme.pebble.intermediate_pem()).subject
    )  # the new pebble's intermediate
    assert served_certificate(acme.server.port("https"), acme.pebble.root_pem()) == renewed


def test_cli_renew_then_sighup_renews_now(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acme = lab()
    server = acme.server
    first = acme.obtain()
    tls = server.cfg.tls
    config = tmp_path / "posthouse.toml"
    config.write_text(
        f'[server]\ndata_dir = "{server.cfg.data_path}"\n'
        f'[tls]\nacme = true\nacme_directory = "{tls.acme_directory}"\n'
        f'acme_ca_file = "{tls.acme_ca_file}"\n'
    )
    assert cli_main(["acme", "status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"certificate: {', '.join(NAMES)}" in out
    assert "Pebble Intermediate" in out
    assert "account: https://localhost:" in out

    assert cli_main(["acme", "renew", "--config", str(config)]) == 0
    assert "renewal requested" in capsys.readouterr().out
    server.loop.call_soon_threadsafe(server.app.reload_tls)  # what SIGHUP runs
    _wait_until(lambda: acme.live_leaf().serial_number != first.serial_number)
    renewed = acme.live_leaf()
    assert served_certificate(server.port("imaps"), acme.pebble.root_pem()) == renewed
    assert not (DataPaths(server.cfg.data_path).acme / "renew-requested").exists()
    # Without [tls] acme there is nothing to ask.
    assert cli_main(["acme", "renew", "--data-dir", str(server.cfg.data_path)]) == 1
    assert "[tls] acme is off" in capsys.readouterr().err


def _covers_all(acme: AcmeLab) -> bool:
    if not DataPaths(acme.server.cfg.data_path).acme_live.exists():
        return False
    san = acme.live_leaf().extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return sorted(san.value.get_values_for_type(x509.DNSName)) == sorted(NAMES)


def _wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (a generous bound against hanging, not a timing assertion)."""
    deadline = time.monotonic() + 120
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def _imap_by_name(port: int, ctx: ssl.SSLContext) -> imaplib.IMAP4_SSL:
    """IMAPS to 127.0.0.1 with SNI and verification for the host name."""

    class ByName(imaplib.IMAP4_SSL):
        def _create_socket(self, timeout: float | None) -> ssl.SSLSocket:
            raw = socket.create_connection(("127.0.0.1", port), timeout)
            return ctx.wrap_socket(raw, server_hostname=HOST)

    return ByName(HOST, port, ssl_context=ctx, timeout=30)


def test_validation_certificate_only_on_https(tmp_path: Path) -> None:
    # RFC 8737 3: the validation certificate answers a handshake naming the pending
    # identifier on 443 with ALPN acme-tls/1; the mail listeners never present it.
    cfg = make_config(tmp_path / "data")
    cfg = dataclasses.replace(cfg, tls=TlsConfig(acme=True, acme_directory="https://127.0.0.1:9/d"))
    with ServerThread(cfg) as server:
        assert server.app.acme is not None
        board = server.app.acme.board

        async def offer() -> None:
            board.offer_alpn(HOST, "token.thumbprint")

        server.call(offer())
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["acme-tls/1"])

        def handshake(proto: str) -> tuple[x509.Certificate, str | None]:
            raw = socket.create_connection(("127.0.0.1", server.port(proto)), timeout=10)
            with ctx.wrap_socket(raw, server_hostname=HOST) as tls:
                der = tls.getpeercert(binary_form=True)
                assert der is not None
                return x509.load_der_x509_certificate(der), tls.selected_alpn_protocol()

        cert, alpn = handshake("https")
        assert alpn == "acme-tls/1"
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31"))
        assert ext.critical
        for proto in ("imaps", "pop3s", "submissions"):
            cert, alpn = handshake(proto)
            assert alpn is None
            with pytest.raises(x509.ExtensionNotFound):
                cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31"))
        # Once withdrawn, 443 presents the server's certificate again.

        async def withdraw() -> None:
            board.withdraw(name=HOST)

        server.call(withdraw())
        cert, alpn = handshake("https")
        assert alpn is None
        with pytest.raises(x509.ExtensionNotFound):
            cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31"))
