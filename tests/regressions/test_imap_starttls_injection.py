"""STARTTLS command injection (the class of CVE-2011-0411 and its IMAP siblings).

A man in the middle appends a command to the client's STARTTLS in the same plaintext packet;
if the server kept it buffered, it would run inside the TLS session as if the client had
sent it. RFC 9051 6.2.1: the server must discard input received before the handshake.
"""

from __future__ import annotations

from tests.support.imap import RawImap
from tests.support.server import ServerThread


def test_command_pipelined_after_starttls_is_not_answered(server: ServerThread) -> None:
    with RawImap(server.port("imap")) as client:
        _injected_command_ignored(server, client)


def _injected_command_ignored(server: ServerThread, client: RawImap) -> None:
    client.send(b"a STARTTLS\r\nb CAPABILITY\r\n")
    assert client.readline() == b"a OK Begin TLS negotiation now"
    assert client.buf == b""  # nothing else before the handshake
    client.sock = server.client_tls().wrap_socket(client.sock)
    client.sock.settimeout(1.0)
    # The injected "b CAPABILITY" must not be answered inside TLS.
    client.send(b"c NOOP\r\n")
    assert client.read_until_tag(b"c") == [b"c OK NOOP completed"]
    client.sock.settimeout(0.3)
    try:
        extra = client.sock.recv(100)
    except TimeoutError:
        extra = b""
    assert extra == b""


def test_starttls_injection_of_a_partial_line(server: ServerThread) -> None:
    with RawImap(server.port("imap")) as client:
        client.send(b"a STARTTLS\r\nb LOGIN x")  # half a command must not survive either
        assert client.readline() == b"a OK Begin TLS negotiation now"
        client.sock = server.client_tls().wrap_socket(client.sock)
        assert client.cmd("c", "NOOP") == [b"c OK NOOP completed"]
