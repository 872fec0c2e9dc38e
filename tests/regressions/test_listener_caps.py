"""Issue 12, defect 3: one connection cap for every service. 2,000 silent IMAP connections
made SMTP answer 421 and POP3 -ERR. Each listener now has its own cap and per-address cap
under the overall ceiling ([limits] max_connections_per_listener,
max_connections_per_ip_per_listener), and a connection that has not logged in gets the short
preauth_idle_seconds (authenticated ones keep the RFC minimums; port 25 keeps RFC 5321
4.5.3.2's)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from tests.support.imap import RawImap
from tests.support.slow_clients import closed_within, connect, exchange, first_line, limited_server


def test_silent_imap_flood_leaves_smtp_and_pop3_their_room(tmp_path: Path) -> None:
    """30 silent IMAP connections against an IMAP cap of 20 under an overall ceiling of 25:
    before, they took the whole ceiling and SMTP got 421, POP3 -ERR."""
    with limited_server(tmp_path, max_connections=25, max_connections_per_ip=100,
                        max_connections_per_listener=20,
                        max_connections_per_ip_per_listener=20) as srv, \
            contextlib.ExitStack() as stack:
        flood = [stack.enter_context(connect(srv.port("imap"))) for _ in range(30)]
        firsts = [first_line(sock) for sock in flood]
        greeted = [f for f in firsts if f.startswith(b"* OK")]
        refused = [f for f in firsts if f.startswith(b"* BYE [UNAVAILABLE]")]
        assert (len(greeted), len(refused)) == (20, 10), firsts
        for proto, greeting in (("smtp", b"220 "), ("submission", b"220 "), ("pop3", b"+OK")):
            with connect(srv.port(proto)) as sock:
                assert first_line(sock).startswith(greeting), proto


def test_per_address_cap_is_per_listener(tmp_path: Path) -> None:
    """A fourth IMAP connection from one address is refused; that address still gets POP3."""
    with limited_server(tmp_path, max_connections_per_ip=100,
                        max_connections_per_ip_per_listener=3) as srv, \
            contextlib.ExitStack() as stack:
        held = [stack.enter_context(connect(srv.port("imap"))) for _ in range(3)]
        assert all(first_line(sock).startswith(b"* OK") for sock in held)
        with connect(srv.port("imap")) as extra:
            assert first_line(extra).startswith(b"* BYE [UNAVAILABLE]")
        with connect(srv.port("pop3")) as pop:
            assert first_line(pop).startswith(b"+OK")


def test_unauthenticated_idle_connections_get_the_short_timeout(tmp_path: Path) -> None:
    """preauth_idle_seconds: IMAP says BYE (RFC 9051 7.1.5), submission 421 (RFC 5321
    4.5.3.2; 4.4.2 once EHLO asked for enhanced codes), POP3 closes without a reply (RFC 1939
    3). Port 25 is never authenticated and keeps smtp_idle_seconds."""
    with limited_server(tmp_path, preauth_idle_seconds=1) as srv, \
            connect(srv.port("imap")) as imap, connect(srv.port("submission")) as sub, \
            connect(srv.port("pop3")) as pop, connect(srv.port("smtp")) as mx:
        for sock in (imap, sub, pop, mx):
            first_line(sock)
        closed, said = closed_within(imap)
        assert closed, said
        assert said.startswith(b"* BYE"), said
        closed, said = closed_within(sub)
        assert closed, said
        assert said.startswith(b"421 "), said
        assert b"timeout" in said, said
        closed, said = closed_within(pop)
        assert closed, said
        assert said == b"", said
        assert exchange(mx, b"NOOP").startswith(b"250"), "port 25 was cut"


def test_authenticated_imap_keeps_the_rfc_idle_timeout(tmp_path: Path) -> None:
    """After LOGIN the session outlives preauth_idle_seconds (RFC 9051 5.4: 30 minutes)."""
    with limited_server(tmp_path, preauth_idle_seconds=1) as srv:
        srv.add_user("bob@example.test")
        with RawImap(srv.port("imaps"), tls=srv.client_tls()) as client:
            assert client.login()[-1].startswith(b"li OK")
            closed, said = closed_within(client.sock, 2.5)
            assert not closed, said
            assert client.cmd("n", "NOOP")[-1].startswith(b"n OK")
