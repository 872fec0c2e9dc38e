"""POP3 (RFC 1939, 2449, 2595, 3206, 5034) over real sockets with Python's poplib."""

from __future__ import annotations

import poplib
import socket
import ssl

import pytest

from tests.support.mail import deliver, make_message
from tests.support.server import PASSWORD, ServerThread

USER = "ann@example.test"


def pop3s(server: ServerThread) -> poplib.POP3_SSL:
    return poplib.POP3_SSL("127.0.0.1", server.port("pop3s"), context=server.client_tls(),
                           timeout=10)


def pop3_stls(server: ServerThread) -> poplib.POP3:
    client = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=10)
    client.stls(context=server.client_tls())
    return client


def vanish(client: poplib.POP3) -> None:
    """Drop the TCP connection the way a crashed client does (poplib's makefile keeps the
    socket open on a plain close())."""
    client.sock.shutdown(socket.SHUT_RDWR)
    client.sock.close()


@pytest.fixture
def filled(server: ServerThread) -> list[bytes]:
    server.add_user(USER)
    messages = [make_message(i, size=(i % 7) * 900) for i in range(1, 21)]
    deliver(server, USER, messages)
    return messages


@pytest.mark.parametrize("connect", [pop3s, pop3_stls], ids=["995", "110+STLS"])
def test_download_byte_exact_with_top_and_uidl(server: ServerThread, filled: list[bytes],
                                               connect: object) -> None:
    client = connect(server)  # type: ignore[operator]
    client.user(USER)
    client.pass_(PASSWORD)
    count, size = client.stat()
    assert count == 20
    assert size == sum(len(m) for m in filled)
    _resp, listing, _ = client.list()
    assert [int(x.split()[1]) for x in listing] == [len(m) for m in filled]
    _resp, uidls, _ = client.uidl()
    uids = [x.split()[1] for x in uidls]
    assert len(set(uids)) == 20
    for i, original in enumerate(filled, start=1):
        _resp, lines, octets = client.retr(i)
        assert b"\r\n".join(lines) + b"\r\n" == original
        assert octets >= len(original)
    _resp, top, _ = client.top(3, 1)
    header, _, body = filled[2].partition(b"\r\n\r\n")
    assert top == [*header.split(b"\r\n"), b"", body.split(b"\r\n")[0]]
    client.quit()
    # Second session: UIDL is stable, and RETR+DELE+QUIT removed nothing (no DELE sent).
    again = connect(server)  # type: ignore[operator]
    again.user(USER)
    again.pass_(PASSWORD)
    assert [x.split()[1] for x in again.uidl()[1]] == uids
    again.quit()


def test_dele_then_quit_deletes_and_drop_deletes_nothing(server: ServerThread,
                                                         filled: list[bytes]) -> None:
    client = pop3s(server)
    client.user(USER)
    client.pass_(PASSWORD)
    client.dele(1)
    client.dele(2)
    with pytest.raises(poplib.error_proto, match="deleted"):
        client.retr(1)
    assert client.stat()[0] == 18
    vanish(client)  # without QUIT: nothing is deleted (RFC 1939 6)
    assert len(server.inbox(USER)) == 20
    client = pop3s(server)
    client.user(USER)
    client.pass_(PASSWORD)
    client.dele(1)
    client.dele(2)
    client.dele(3)
    client.rset()
    client.dele(4)
    client.quit()
    remaining = server.inbox(USER)
    assert len(remaining) == 19
    assert filled[3] not in remaining


def test_keep_copy_marks_seen_instead_of_deleting(server: ServerThread) -> None:
    server.add_user(USER, pop3_keep=True)
    deliver(server, USER, [make_message(1), make_message(2)])
    client = pop3s(server)
    client.user(USER)
    client.pass_(PASSWORD)
    client.retr(1)
    client.dele(1)
    client.quit()
    assert len(server.inbox(USER)) == 2


def test_maildrop_in_use_and_lock_released(server: ServerThread, filled: list[bytes]) -> None:
    first = pop3s(server)
    first.user(USER)
    first.pass_(PASSWORD)
    second = pop3s(server)
    second.user(USER)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_(PASSWORD)
    second.quit()
    vanish(first)  # a crashed client never leaves the lock behind
    for _ in range(50):
        third = pop3s(server)
        third.user(USER)
        try:
            third.pass_(PASSWORD)
            break
        except poplib.error_proto:
            third.quit()
    else:
        pytest.fail("lock not released")
    third.quit()


def test_no_plaintext_password_before_stls(server: ServerThread) -> None:
    server.add_user(USER)
    client = poplib.POP3("127.0.0.1", server.port("pop3"), timeout=10)
    caps = client.capa()
    assert "STLS" in caps
    assert "USER" not in caps
    with pytest.raises(poplib.error_proto):
        client.user(USER)
    with pytest.raises(poplib.error_proto):
        client.pass_(PASSWORD)
    client.quit()


def test_plaintext_allowed_on_loopback_when_configured(loopback_server: ServerThread) -> None:
    loopback_server.add_user(USER)
    client = poplib.POP3("127.0.0.1", loopback_server.port("pop3"), timeout=10)
    client.user(USER)
    client.pass_(PASSWORD)
    assert client.stat() == (0, 0)
    client.quit()


def test_wrong_password_gets_auth_code(server: ServerThread) -> None:
    server.add_user(USER)
    client = pop3s(server)
    client.user(USER)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        client.pass_("wrong password")
    client.quit()


def test_sasl_plain_login(server: ServerThread, filled: list[bytes]) -> None:
    import base64

    client = pop3s(server)
    token = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    assert client._shortcmd(f"AUTH PLAIN {token}").startswith(b"+OK")
    assert client.stat()[0] == 20
    client.quit()


def test_bad_input_gets_err_and_session_goes_on(server: ServerThread,
                                                filled: list[bytes]) -> None:
    client = pop3s(server)
    client.user(USER)
    client.pass_(PASSWORD)
    for cmd in ("FROB", "RETR 0", "RETR 999", "RETR x", "DELE", "TOP 1", "LIST 1 2",
                "X" * 2000):
        with pytest.raises(poplib.error_proto):
            client._shortcmd(cmd)
    assert client.stat()[0] == 20
    client.quit()


def test_stls_drops_pipelined_commands(server: ServerThread) -> None:
    """RFC 2595 4: nothing sent with STLS may be executed after the handshake."""
    server.add_user(USER)
    raw = socket.create_connection(("127.0.0.1", server.port("pop3")), timeout=10)
    raw.recv(1000)
    raw.sendall(f"STLS\r\nUSER {USER}\r\nPASS {PASSWORD}\r\nSTAT\r\n".encode())
    assert raw.recv(1000).startswith(b"+OK")
    tls = server.client_tls().wrap_socket(raw, server_hostname="mx.example.test")
    tls.sendall(b"STAT\r\n")
    assert tls.recv(1000).startswith(b"-ERR")  # not logged in: the injected login never ran
    tls.close()


def test_implicit_tls_refuses_plain_clients(server: ServerThread) -> None:
    raw = socket.create_connection(("127.0.0.1", server.port("pop3s")), timeout=10)
    raw.sendall(b"USER x\r\n")
    try:
        data = raw.recv(100)
    except (ConnectionResetError, ssl.SSLError):
        data = b""
    assert not data.startswith(b"+OK")
    raw.close()
