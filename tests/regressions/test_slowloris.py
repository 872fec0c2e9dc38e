"""Issue 12, defect 4: slowloris was not cut. A trickled byte reset the idle timer and a
command had no overall deadline (300 connections sending a byte every 3 s stayed open). Now:
a whole command line within limits.command_line_seconds of its first byte, SMTP DATA/BDAT and
IMAP literals at least limits.data_min_bytes_per_second averaged over
limits.data_rate_window_seconds, the TLS handshake within limits.tls_handshake_seconds, and a
connection cut as too slow keeps its address's slots for limits.slow_penalty_seconds.

The bounds below are "closed within a generous time", never a measured time."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest

from tests.support.slow_clients import (
    closed_within,
    connect,
    exchange,
    first_line,
    limited_server,
    trickle,
)


@pytest.mark.parametrize(("proto", "payload", "reply"), [
    ("smtp", b"EHLO slowloris.example", b"421 "),  # RFC 5321 4.5.3.2: 421, then close
    ("imap", b"a1 NOOP", b"* BYE"),
    ("pop3", b"CAPA", b"-ERR [SYS/TEMP]"),
])
def test_trickled_command_line_is_cut(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                      proto: str, payload: bytes, reply: bytes) -> None:
    """One byte every 0.3 s, never a whole line: cut at the 1 s line deadline with the
    protocol's reply, and one log line."""
    caplog.set_level(logging.WARNING, logger="posthouse.net")
    with limited_server(tmp_path, command_line_seconds=1) as srv, \
            connect(srv.port(proto)) as sock:
        first_line(sock)
        closed, said = trickle(sock, payload)
        assert closed, said
        assert said.startswith(reply), said
    cuts = [r.getMessage() for r in caplog.records if "slow client cut" in r.getMessage()]
    assert len(cuts) == 1, cuts
    assert f"listener={proto} " in cuts[0], cuts
    assert "command line not complete within 1 s" in cuts[0]


def test_prompt_lines_are_not_cut(tmp_path: Path) -> None:
    """A client that sends whole lines, however far apart, meets only the idle timeout."""
    with limited_server(tmp_path, command_line_seconds=1) as srv, \
            connect(srv.port("smtp")) as sock:
        first_line(sock)
        assert exchange(sock, b"EHLO prompt.example").startswith(b"250 ")
        time.sleep(1.5)
        assert exchange(sock, b"NOOP").startswith(b"250 ")


def _start_data(sock: socket.socket) -> None:
    first_line(sock)
    assert exchange(sock, b"EHLO client.example").startswith(b"250 ")
    assert exchange(sock, b"MAIL FROM:<alice@remote.example>").startswith(b"250 ")
    assert exchange(sock, b"RCPT TO:<bob@example.test>").startswith(b"250 ")
    assert exchange(sock, b"DATA").startswith(b"354 ")


def test_data_trickle_below_the_rate_gets_421(tmp_path: Path) -> None:
    """DATA at ~5 bytes/s in whole short lines (so no line deadline helps) against a minimum
    of 100 bytes/s over 1 s windows: 421 4.4.2 and nothing delivered."""
    with limited_server(tmp_path, data_min_bytes_per_second=100,
                        data_rate_window_seconds=1) as srv:
        srv.add_user("bob@example.test")
        with connect(srv.port("smtp")) as sock:
            _start_data(sock)
            closed, said = trickle(sock, b"x\r\n", interval=0.2)
            assert closed, said
            assert said.startswith(b"421 4.4.2"), said
        assert srv.inbox("bob@example.test") == []


def test_data_at_a_modest_rate_is_delivered(tmp_path: Path) -> None:
    """The same minimum, met: 300 bytes every 0.5 s over several windows is delivered."""
    with limited_server(tmp_path, data_min_bytes_per_second=100,
                        data_rate_window_seconds=1) as srv:
        srv.add_user("bob@example.test")
        with connect(srv.port("smtp")) as sock:
            _start_data(sock)
            sock.sendall(b"Subject: slow but steady\r\n\r\n")
            for _ in range(6):
                sock.sendall(b"y" * 98 + b"\r\n" + b"z" * 98 + b"\r\n" + b"w" * 98 + b"\r\n")
                time.sleep(0.5)
            assert exchange(sock, b".").startswith(b"250 ")
        assert len(srv.inbox("bob@example.test")) == 1


def test_imap_literal_trickle_is_cut(tmp_path: Path) -> None:
    """An accepted literal's octets are paced by rate too: BYE."""
    with limited_server(tmp_path, data_min_bytes_per_second=100,
                        data_rate_window_seconds=1) as srv, connect(srv.port("imap")) as sock:
        first_line(sock)
        sock.sendall(b"a1 LOGIN {200}\r\n")
        assert first_line(sock).startswith(b"+ ")
        closed, said = trickle(sock, b"x", interval=0.2)
        assert closed, said
        assert said.startswith(b"* BYE"), said


def test_tls_handshake_that_never_starts_is_cut(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Implicit TLS (993) and STARTTLS (587): no ClientHello, closed at the 1 s deadline."""
    caplog.set_level(logging.WARNING, logger="posthouse.net")
    with limited_server(tmp_path, tls_handshake_seconds=1) as srv:
        with connect(srv.port("imaps")) as sock:
            closed, said = closed_within(sock)
            assert closed, said
            assert said == b"", said
        with connect(srv.port("submission")) as sock:
            first_line(sock)
            assert exchange(sock, b"EHLO client.example").startswith(b"250 ")
            assert exchange(sock, b"STARTTLS").startswith(b"220 ")
            closed, said = closed_within(sock)
            assert closed, said
            assert said == b"", said
        # and a real handshake still works
        with connect(srv.port("imaps")) as raw, \
                srv.client_tls().wrap_socket(raw) as tls:
            assert first_line(tls).startswith(b"* OK")
    cuts = [r.getMessage() for r in caplog.records if "slow client cut" in r.getMessage()]
    assert any("listener=submission" in c and "TLS handshake" in c for c in cuts), cuts


def test_slow_connections_count_against_the_per_address_cap(tmp_path: Path) -> None:
    """Two trickling connections are cut; for slow_penalty_seconds they still fill the
    address's cap on that listener (the next connection is refused), not on the others."""
    with limited_server(tmp_path, command_line_seconds=1, slow_penalty_seconds=60,
                        max_connections_per_ip_per_listener=2) as srv:
        for _ in range(2):
            with connect(srv.port("smtp")) as sock:
                first_line(sock)
                closed, said = trickle(sock, b"HELO x")
                assert closed, said
                assert said.startswith(b"421 "), said
        with connect(srv.port("smtp")) as sock:
            assert first_line(sock).startswith(b"421 4.7.0"), "the penalty was not counted"
        with connect(srv.port("submission")) as sock:
            assert first_line(sock).startswith(b"220 ")

