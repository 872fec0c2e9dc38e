"""HAProxy (Debian's haproxy, a private instance on loopback) in front of posthouse, sending
PROXY protocol v2 (``send-proxy-v2``) to the SMTP and IMAPS listeners.

The clients connect to haproxy from their own loopback addresses (127.0.0.55, 127.0.0.66);
haproxy connects to posthouse from 127.0.0.1, the only trusted network. posthouse must see
the clients' addresses, and haproxy's own health checks (``check-send-proxy``: a v2 LOCAL
header, then an SMTP HELO from ``option smtpchk``) must be served, so haproxy reports the
check passed (L7OK).
"""

from __future__ import annotations

import dataclasses
import imaplib
import logging
import smtplib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.peers import find_tool, free_port, is_listening, terminate, wait_until
from tests.support.server import PASSWORD, ServerThread, make_config

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60),
              pytest.mark.usefixtures("no_server_errors")]

SMTP_CLIENT = "127.0.0.55"
IMAP_CLIENT = "127.0.0.66"

CONFIG = """\
global
    maxconn 100
    stats socket {sock} level admin
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe_smtp
    bind 127.0.0.1:{smtp_front}
    default_backend be_smtp
backend be_smtp
    option smtpchk HELO haproxy.example.test
    server posthouse 127.0.0.1:{smtp} send-proxy-v2 check check-send-proxy inter 200ms
frontend fe_imaps
    bind 127.0.0.1:{imaps_front}
    default_backend be_imaps
backend be_imaps
    server posthouse 127.0.0.1:{imaps} send-proxy-v2
"""


@dataclasses.dataclass
class Balancer:
    smtp_port: int
    imaps_port: int
    stats: Path

    def smtp_check(self) -> str:
        """The SMTP server's last health check result as haproxy's stats socket reports it
        (L7OK: the SMTP check passed; L4CON, L7RSP ...: it failed; empty: none yet)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.stats))
            sock.sendall(b"show stat\n")
            out = b""
            while chunk := sock.recv(65536):
                out += chunk
        header, *rows = out.decode().splitlines()
        names = header.lstrip("# ").split(",")
        for row in rows:
            fields = dict(zip(names, row.split(","), strict=False))
            if fields.get("pxname") == "be_smtp" and fields.get("svname") == "posthouse":
                return fields["check_status"].strip("* ")
        return "missing"


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[ServerThread]:
    cfg = make_config(tmp_path / "data")
    listen = dataclasses.replace(cfg.listen, proxy_protocol=["smtp", "imaps"],
                                 proxy_trusted=["127.0.0.1/32"])
    with ServerThread(dataclasses.replace(cfg, listen=listen)) as server:
        server.add_user("alice@example.test")
        yield server


@pytest.fixture
def balancer(srv: ServerThread, tmp_path: Path,
             caplog: pytest.LogCaptureFixture) -> Iterator[Balancer]:
    haproxy = find_tool("haproxy")
    caplog.set_level(logging.DEBUG, logger="posthouse")  # from haproxy's first check on
    ports = {"smtp_front": free_port(), "imaps_front": free_port()}
    stats = tmp_path / "haproxy.sock"
    conf = tmp_path / "haproxy.cfg"
    conf.write_text(CONFIG.format(sock=stats, smtp=srv.port("smtp"), imaps=srv.port("imaps"),
                                  **ports))
    log = (tmp_path / "haproxy.log").open("w")
    proc = subprocess.Popen([haproxy, "-db", "-f", str(conf)], stdout=log, stderr=log)
    try:
        assert wait_until(lambda: is_listening(ports["imaps_front"]) and stats.exists(), 15), \
            (tmp_path / "haproxy.log").read_text()
        yield Balancer(ports["smtp_front"], ports["imaps_front"], stats)
    finally:
        terminate(proc, grace=5)
        log.close()


class SourcedIMAP4SSL(imaplib.IMAP4_SSL):
    """imaplib over implicit TLS from a chosen loopback source address."""

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout,
                                        source_address=(IMAP_CLIENT, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def test_haproxy_health_check_and_smtp_client_address(
        srv: ServerThread, balancer: Balancer, caplog: pytest.LogCaptureFixture) -> None:
    assert wait_until(lambda: balancer.smtp_check() == "L7OK", 15), balancer.smtp_check()
    # the LOCAL health checks (every 200 ms) are served as what they are: haproxy itself
    assert wait_until(lambda: any("connect peer=127.0.0.1 proto=smtp" in r.getMessage()
                                  for r in caplog.records), 15)
    with smtplib.SMTP("127.0.0.1", balancer.smtp_port, timeout=10,
                      source_address=(SMTP_CLIENT, 0)) as client:
        client.sendmail("someone@example.net", ["alice@example.test"],
                        b"Subject: through haproxy\r\n\r\nhello\r\n")
    (message,) = srv.inbox("alice@example.test")
    assert f"([{SMTP_CLIENT}])".encode() in message.split(b"\r\n\r\n")[0]


def test_haproxy_imaps_client_address(srv: ServerThread, balancer: Balancer,
                                      caplog: pytest.LogCaptureFixture) -> None:
    with SourcedIMAP4SSL("127.0.0.1", balancer.imaps_port, ssl_context=srv.client_tls(),
                         timeout=10) as client:
        assert client.login("alice@example.test", PASSWORD)[0] == "OK"
    assert any(f"connect peer={IMAP_CLIENT}:" in r.getMessage() for r in caplog.records)


def test_direct_client_outside_the_trusted_network_is_closed(srv: ServerThread) -> None:
    with socket.create_connection(("127.0.0.1", srv.port("smtp")),
                                  source_address=(SMTP_CLIENT, 0)) as sock:
        sock.settimeout(10)
        assert sock.recv(100) == b""
