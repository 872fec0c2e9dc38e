"""PROXY protocol v1/v2 on the listeners (net/listeners.py, net/proxy_header.py), over real
sockets: the client's address from the header replaces the load balancer's everywhere.

The server's listeners expect a header from 127.0.0.0/8 (the "load balancer" is this test
process); the proxied addresses are documentation ones (RFC 5737), so a Received field, a
log line or a per-address limit that shows them got them from the header.
"""

from __future__ import annotations

import dataclasses
import imaplib
import logging
import smtplib
import socket
import ssl
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posthouse.config import Config, LimitsConfig
from posthouse.net.proxy_header import V2_SIGNATURE
from tests.support.server import PASSWORD, ServerThread, make_config

pytestmark = pytest.mark.timeout(60)

CLIENT_A = "203.0.113.7"
CLIENT_B = "198.51.100.23"


def proxy_config(tmp_path: Path, *, trusted: str = "127.0.0.0/8", **limits: Any) -> Config:
    cfg = make_config(tmp_path / "data")
    listen = dataclasses.replace(
        cfg.listen, proxy_protocol=["smtp", "imaps", "imap"], proxy_trusted=[trusted])
    return dataclasses.replace(cfg, listen=listen,
                               limits=dataclasses.replace(LimitsConfig(), proxy_header_seconds=2,
                                                          **limits))


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(proxy_config(tmp_path, max_connections_per_ip=1)) as server:
        server.add_user("alice@example.test")
        yield server


def v1(src: str, sport: int = 40000, dport: int = 25) -> bytes:
    return f"PROXY TCP4 {src} 127.0.0.1 {sport} {dport}\r\n".encode()


def v2(src: str | None, sport: int = 40000, dport: int = 993) -> bytes:
    """A v2 PROXY (TCP over IPv4) header, or LOCAL when src is None (a health check)."""
    if src is None:
        return V2_SIGNATURE + b"\x20\x00" + struct.pack("!H", 0)
    body = (socket.inet_aton(src) + socket.inet_aton("127.0.0.1")
            + struct.pack("!HH", sport, dport)
            + b"\x05" + struct.pack("!H", 3) + b"id1")  # a UNIQUE_ID TLV, skipped
    return V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", len(body)) + body


class ProxiedSMTP(smtplib.SMTP):
    """smtplib, with a PROXY header sent on the socket before anything else."""

    def __init__(self, header: bytes, host: str, port: int) -> None:
        self.header = header
        super().__init__(host, port, timeout=10)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((host, port), timeout)
        sock.sendall(self.header)
        return sock


class ProxiedIMAP4SSL(imaplib.IMAP4_SSL):
    """imaplib over implicit TLS, with a PROXY header sent before the TLS handshake."""

    def __init__(self, header: bytes, host: str, port: int, ctx: ssl.SSLContext) -> None:
        self.header = header
        super().__init__(host, port, ssl_context=ctx, timeout=10)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = imaplib.IMAP4._create_socket(self, timeout)
        sock.sendall(self.header)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def closed_without_reply(sock: socket.socket) -> bool:
    """Whether the server closes the connection having sent nothing."""
    sock.settimeout(10)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def test_v1_smtp_delivery_records_the_client(srv: ServerThread,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="posthouse")
    with ProxiedSMTP(v1(CLIENT_A), "127.0.0.1", srv.port("smtp")) as client:
        client.ehlo("client.example.net")
        client.sendmail("someone@example.net", ["alice@example.test"],
                        b"Subject: proxied\r\n\r\nhello\r\n")
    (message,) = srv.inbox("alice@example.test")
    received = message.split(b"\r\n\r\n")[0].split(b"Received:")[1]
    assert f"[{CLIENT_A}]".encode() in received
    assert b"127.0.0.1" not in received
    assert any(f"peer={CLIENT_A}" in r.getMessage() for r in caplog.records)


def test_per_address_limit_counts_proxied_clients(srv: ServerThread) -> None:
    """max_connections_per_ip = 1: two clients behind the one balancer are both served; a
    second connection of the same client gets the busy reply (RFC 5321 421)."""
    port = srv.port("smtp")
    with ProxiedSMTP(v1(CLIENT_A), "127.0.0.1", port) as first, \
            ProxiedSMTP(v1(CLIENT_B), "127.0.0.1", port) as other:
        assert first.noop()[0] == 250
        assert other.noop()[0] == 250
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            ProxiedSMTP(v1(CLIENT_A, sport=40001), "127.0.0.1", port)
        assert refused.value.smtp_code == 421


def test_v2_imaps_header_before_tls_and_throttle_by_client(
        srv: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="posthouse")
    port = srv.port("imaps")
    with (ProxiedIMAP4SSL(v2(CLIENT_A), "127.0.0.1", port, srv.client_tls()) as bad,
          pytest.raises(imaplib.IMAP4.error)):
        bad.login("alice@example.test", "wrong password")
    failures = [r.getMessage() for r in caplog.records
                if r.getMessage().startswith("auth failure")]
    assert failures
    assert all(f"ip={CLIENT_A} " in line for line in failures)
    with ProxiedIMAP4SSL(v2(CLIENT_B), "127.0.0.1", port, srv.client_tls()) as good:
        assert good.login("alice@example.test", PASSWORD)[0] == "OK"
        assert good.select("INBOX")[0] == "OK"
    assert any(f"connect peer={CLIENT_B}:40000 tls=TLSv1.3" in r.getMessage()
               for r in caplog.records)


def test_v2_local_health_check_is_served_as_the_real_peer(
        srv: ServerThread, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="posthouse")
    with ProxiedSMTP(v2(None), "127.0.0.1", srv.port("smtp")) as client:
        assert client.noop()[0] == 250
    assert any("connect peer=127.0.0.1 proto=smtp" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("first", [b"EHLO client.example.net\r\n", b"PROXY TCP4 garbage\r\n",
                                   b"\x16\x03\x01\x02\x00\x01"])
def test_missing_or_bad_header_closes_without_reply(srv: ServerThread, first: bytes) -> None:
    with socket.create_connection(("127.0.0.1", srv.port("smtp"))) as sock:
        sock.sendall(first)
        assert closed_without_reply(sock)


def test_silent_client_is_cut_after_the_header_deadline(srv: ServerThread) -> None:
    with socket.create_connection(("127.0.0.1", srv.port("imap"))) as sock:
        assert closed_without_reply(sock)  # proxy_header_seconds = 2: no greeting, closed


def test_listener_without_proxy_protocol_is_unchanged(srv: ServerThread) -> None:
    with smtplib.SMTP("127.0.0.1", srv.port("submission"), timeout=10) as client:
        assert client.noop()[0] == 250


def test_untrusted_peer_is_closed(tmp_path: Path) -> None:
    with (ServerThread(proxy_config(tmp_path, trusted="10.0.0.0/8")) as server,
          socket.create_connection(("127.0.0.1", server.port("smtp"))) as sock):
        sock.sendall(v1(CLIENT_A))
        assert closed_without_reply(sock)


def test_v1_tcp6_client_address(srv: ServerThread) -> None:
    header = b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 25\r\n"
    with ProxiedSMTP(header, "127.0.0.1", srv.port("smtp")) as client:
        client.sendmail("someone@example.net", ["alice@example.test"], b"Subject: v6\r\n\r\nx\r\n")
    (message,) = srv.inbox("alice@example.test")
    assert b"[2001:db8::7]" in message.split(b"\r\n\r\n")[0]


def read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while end not in data:
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data


def test_bytes_sent_with_the_header_are_kept(srv: ServerThread) -> None:
    """The header and the first command in one segment: the command is still read (the
    listener consumes only the header's own bytes)."""
    with socket.create_connection(("127.0.0.1", srv.port("imap")), timeout=10) as sock:
        sock.sendall(v1(CLIENT_A, dport=143) + b"a1 CAPABILITY\r\n")
        assert b"a1 OK" in read_until(sock, b"a1 ")


def test_tls_hello_sent_with_the_header_is_kept(srv: ServerThread) -> None:
    """The v2 header and the TLS ClientHello in one segment (as a balancer may forward
    them): the handshake still completes on the implicit-TLS listener."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = srv.client_tls().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    with socket.create_connection(("127.0.0.1", srv.port("imaps")), timeout=10) as sock:
        sock.sendall(v2(CLIENT_B) + outgoing.read())
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                chunk = sock.recv(65536)
                assert chunk, "closed during the handshake"
                incoming.write(chunk)
        sock.sendall(outgoing.read())
        greeting = b""
        while b"\r\n" not in greeting:
            try:
                greeting += tls.read(4096)
            except ssl.SSLWantReadError:
                incoming.write(sock.recv(65536))
        assert greeting.startswith(b"* OK")


def test_shutdown_while_a_header_is_awaited(tmp_path: Path) -> None:
    server = ServerThread(proxy_config(tmp_path)).start()
    try:
        sock = socket.create_connection(("127.0.0.1", server.port("smtp")))
        sock.sendall(b"PROXY TCP4 ")  # half a header: the listener waits for the rest
    finally:
        server.stop()
    with sock:
        assert closed_without_reply(sock)
