"""POP3 (RFC 1939, 2449, 2595, 3206, 5034) over real sockets with Python's poplib."""

from __future__ import annotations

import poplib
import socket
import ssl
from collections.abc import Iterator

import pytest

from tests.support.mail import deliver, make_mailbox, make_message
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


def test_sasl_login_challenges_are_base64_once(server: ServerThread,
                                              filled: list[bytes]) -> None:
    """RFC 5034 4: "+ " and the base64 of the challenge (it was once encoded twice)."""
    import base64

    client = pop3s(server)
    assert client._shortcmd("AUTH LOGIN") == b"+ " + base64.b64encode(b"Username:")
    assert client._shortcmd(base64.b64encode(USER.encode()).decode()) == (
        b"+ " + base64.b64encode(b"Password:"))
    assert client._shortcmd(base64.b64encode(PASSWORD.encode()).decode()).startswith(b"+OK")
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


# --- issue 5: more downloads, and bad input answered with -ERR while the session goes on -----


@pytest.mark.parametrize("connect", [pop3s, pop3_stls], ids=["995", "110+STLS"])
def test_download_200_messages_byte_exact(server: ServerThread, connect: object) -> None:
    server.add_user(USER)
    mailbox = make_mailbox(200)
    deliver(server, USER, mailbox)
    client = connect(server)  # type: ignore[operator]
    client.user(USER)
    client.pass_(PASSWORD)
    assert client.stat() == (200, sum(len(m) for m in mailbox))
    uids = [line.split()[1] for line in client.uidl()[1]]
    assert len(set(uids)) == 200
    for n, original in enumerate(mailbox, start=1):
        assert client.uidl(n).split()[2] == uids[n - 1]
        _resp, lines, _octets = client.retr(n)
        assert b"\r\n".join(lines) + b"\r\n" == original, f"message {n}"
        _resp, top, _octets = client.top(n, 2)
        head, _, body = original.partition(b"\r\n\r\n")
        expected = head + b"\r\n\r\n" + b"".join(body.splitlines(keepends=True)[:2])
        assert b"\r\n".join(top) + b"\r\n" == expected, f"TOP {n} 2"
    client.quit()
    assert server.inbox(USER) == mailbox


class Raw:
    """POP3 over a TLS socket without a client library: exact lines, pipelining, junk."""

    def __init__(self, server: ServerThread) -> None:
        sock = socket.create_connection(("127.0.0.1", server.port("pop3s")), timeout=10)
        self.sock = server.client_tls().wrap_socket(sock, server_hostname="mx.example.test")
        self.file = self.sock.makefile("rb")
        assert self.line().startswith(b"+OK")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        return self.file.readline().rstrip(b"\r\n")

    def multiline(self) -> list[bytes]:
        """The lines of a multi-line answer, dot-unstuffed, without the final "."."""
        lines = []
        while (line := self.line()) != b".":
            lines.append(line[1:] if line.startswith(b".") else line)
        return lines

    def cmd(self, command: bytes) -> bytes:
        self.send(command + b"\r\n")
        return self.line()

    def login(self) -> None:
        assert self.cmd(f"USER {USER}".encode()).startswith(b"+OK")
        assert self.cmd(f"PASS {PASSWORD}".encode()).startswith(b"+OK")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def raw(server: ServerThread, filled: list[bytes]) -> Iterator[Raw]:
    client = Raw(server)
    try:
        yield client
    finally:
        client.close()


def test_commands_outside_their_state(raw: Raw) -> None:
    for command in (b"STAT", b"LIST", b"RETR 1", b"DELE 1", b"UIDL", b"TOP 1 0", b"NOOP",
                    b"RSET", b"PASS x"):
        reply = raw.cmd(command)
        assert reply.startswith(b"-ERR "), (command, reply)
    assert raw.cmd(b"STAT") == b"-ERR STAT not valid in this state"
    assert raw.cmd(b"PASS x") == b"-ERR PASS must follow USER"
    raw.login()
    for command in (f"USER {USER}".encode(), b"PASS x", b"STLS", b"AUTH PLAIN", b"UTF8",
                    b"APOP a b"):
        reply = raw.cmd(command)
        assert reply.endswith(b"not valid in this state"), (command, reply)
    assert raw.cmd(b"STAT").startswith(b"+OK 20 ")


@pytest.mark.parametrize(("command", "error"), [
    (b"FROB", b"-ERR unknown command"),
    (b"", b"-ERR unknown command"),
    (b"RETR 0", b"-ERR no such message"),
    (b"RETR 21", b"-ERR no such message"),
    (b"RETR 4294967297", b"-ERR no such message"),
    (b"RETR 99999999999", b"-ERR invalid message number"),
    (b"RETR -1", b"-ERR invalid message number"),
    (b"RETR 1 2", b"-ERR RETR needs a message number"),
    (b"RETR", b"-ERR RETR needs a message number"),
    (b"TOP 21 0", b"-ERR no such message"),
    (b"TOP 1 -1", b"-ERR invalid line count"),
    (b"TOP 1 99999999999", b"-ERR invalid line count"),
    (b"TOP 1", b"-ERR TOP needs message number and line count"),
    (b"LIST 0", b"-ERR no such message"),
    (b"UIDL 21", b"-ERR no such message"),
    (b"DELE 21", b"-ERR no such message"),
    (b"LIST x", b"-ERR invalid message number"),
    (b"LIST " + b"1" * 41, b"-ERR argument too long"),
    (b"NOOP now", b"-ERR no arguments allowed"),
    (b"STAT\x00", b"-ERR unknown command"),
    (b"\xff\xfe RETR 1", b"-ERR unknown command"),
    (b"RETR " + b"1" * 600, b"-ERR command line too long"),
])
def test_bad_arguments_get_a_clear_err(raw: Raw, command: bytes, error: bytes) -> None:
    raw.login()
    assert raw.cmd(command) == error
    assert raw.cmd(b"LIST 1").startswith(b"+OK 1 ")  # the session goes on


def test_deleted_messages_cannot_be_used(raw: Raw, server: ServerThread) -> None:
    raw.login()
    assert raw.cmd(b"DELE 2") == b"+OK message 2 deleted"
    for command in (b"RETR 2", b"TOP 2 0", b"DELE 2", b"LIST 2", b"UIDL 2"):
        assert raw.cmd(command) == b"-ERR message 2 already deleted", command
    assert raw.cmd(b"STAT").startswith(b"+OK 19 ")
    assert raw.cmd(b"UIDL").startswith(b"+OK")
    assert len(raw.multiline()) == 19
    assert raw.cmd(b"RSET").startswith(b"+OK maildrop has 20 messages")
    assert raw.cmd(b"RETR 2").startswith(b"+OK")
    raw.multiline()
    assert raw.cmd(b"QUIT").startswith(b"+OK")
    assert len(server.inbox(USER)) == 20


def test_overlong_lines_are_refused_and_skipped(raw: Raw) -> None:
    raw.send(b"X" * 100_000 + b"\r\n")  # far beyond any line the server buffers
    assert raw.line() == b"-ERR line too long"
    raw.login()
    raw.send(b"RETR " + b"9" * 50_000)  # overlong, arriving in pieces, no CRLF yet
    raw.send(b"9" * 50_000 + b"\r\nSTAT\r\n")
    assert raw.line() == b"-ERR line too long"
    assert raw.line().startswith(b"+OK 20 ")
    raw.send(b"X" * 2000 + b"\r\nNOOP\r\n")
    assert raw.line() == b"-ERR unknown command"
    assert raw.line() == b"+OK"


def test_pipelined_mix_of_good_and_bad_commands(raw: Raw, filled: list[bytes]) -> None:
    raw.login()
    raw.send(b"stat\r\nFROB\r\nRETR 99\r\nlist 3\r\nDELE 1\r\nRETR 1\r\nuidl 2\r\nNOOP\r\n")
    assert raw.line() == b"+OK 20 %d" % sum(len(m) for m in filled)
    assert raw.line() == b"-ERR unknown command"
    assert raw.line() == b"-ERR no such message"
    assert raw.line() == b"+OK 3 %d" % len(filled[2])
    assert raw.line() == b"+OK message 1 deleted"
    assert raw.line() == b"-ERR message 1 already deleted"
    assert raw.line().startswith(b"+OK 2 ")
    assert raw.line() == b"+OK"


def test_message_expunged_by_another_session(raw: Raw, server: ServerThread,
                                             filled: list[bytes]) -> None:
    raw.login()
    expunge(server, USER, uid_of(raw, 3))  # as an IMAP client would, while POP3 is logged in
    assert raw.cmd(b"RETR 3") == b"-ERR [SYS/PERM] message was removed from the server"
    assert raw.cmd(b"TOP 3 0") == b"-ERR [SYS/PERM] message was removed from the server"
    assert raw.cmd(b"RETR 4").startswith(b"+OK")
    assert b"\r\n".join(raw.multiline()) + b"\r\n" == filled[3]
    assert raw.cmd(b"DELE 3").startswith(b"+OK")  # the maildrop listing is fixed (RFC 1939)
    assert raw.cmd(b"DELE 5").startswith(b"+OK")
    assert raw.cmd(b"QUIT").startswith(b"+OK")
    remaining = server.inbox(USER)
    assert remaining == [m for i, m in enumerate(filled) if i not in (2, 4)]


def test_too_many_errors_end_the_session_without_update(raw: Raw, server: ServerThread) -> None:
    raw.login()
    assert raw.cmd(b"DELE 1").startswith(b"+OK")
    replies = [raw.cmd(b"FROB") for _ in range(20)]
    assert replies[:19] == [b"-ERR unknown command"] * 19
    assert replies[19] == b"-ERR too many errors, closing connection"
    assert raw.file.read() == b""  # closed by the server
    assert len(server.inbox(USER)) == 20  # no UPDATE state: the DELE was not committed


def uid_of(raw: Raw, number: int) -> int:
    reply = raw.cmd(b"UIDL %d" % number)
    return int(reply.split()[2].partition(b".")[2])


def expunge(server: ServerThread, address: str, uid: int) -> None:
    async def remove() -> None:
        user = await server.store.get_user(address)
        box = await server.store.get_mailbox(user.id, "INBOX")
        await server.store.delete_messages(box.id, [uid])

    server.call(remove())


# --- issue 15: messages read ahead of RETR, several per store round trip -----------------------


class ReadCounter:
    """Counts the real store's content reads (each call still goes to the store)."""

    def __init__(self, server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
        self.single = 0
        self.batches: list[int] = []
        store = server.store
        read_blob, read_blobs = store.read_blob, store.read_blobs

        async def counted_blob(blob_id: str) -> bytes:
            self.single += 1
            return await read_blob(blob_id)

        async def counted_blobs(blob_ids: list[str]) -> dict[str, bytes]:
            self.batches.append(len(blob_ids))
            return await read_blobs(blob_ids)

        monkeypatch.setattr(store, "read_blob", counted_blob)
        monkeypatch.setattr(store, "read_blobs", counted_blobs)


def test_download_in_order_reads_many_messages_per_store_call(
        server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    server.add_user(USER)
    mailbox = make_mailbox(200)
    deliver(server, USER, mailbox)
    reads = ReadCounter(server, monkeypatch)
    client = pop3s(server)
    client.user(USER)
    client.pass_(PASSWORD)
    for n, original in enumerate(mailbox, start=1):
        _resp, lines, _octets = client.retr(n)
        assert b"\r\n".join(lines) + b"\r\n" == original, f"message {n}"
    client.quit()
    assert reads.single == 0
    assert sum(reads.batches) == 200  # every message read exactly once
    assert len(reads.batches) <= 200 // 16  # batches, not one store call per RETR


def test_out_of_order_retrieval_and_top_are_byte_exact(
        server: ServerThread, filled: list[bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    reads = ReadCounter(server, monkeypatch)
    client = pop3s(server)
    client.user(USER)
    client.pass_(PASSWORD)
    for n in (5, 2, 3, 3, 20, 1, 2, 19, 4, 6):
        _resp, lines, _octets = client.retr(n)
        assert b"\r\n".join(lines) + b"\r\n" == filled[n - 1], f"message {n}"
    _resp, top, _ = client.top(7, 0)
    assert b"\r\n".join(top) + b"\r\n" == filled[6].partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
    client.dele(8)
    for n in range(9, 21):  # in order again after DELE 8
        _resp, lines, _octets = client.retr(n)
        assert b"\r\n".join(lines) + b"\r\n" == filled[n - 1], f"message {n}"
    client.quit()
    assert reads.single == 0
    assert server.inbox(USER) == [m for i, m in enumerate(filled) if i != 7]
