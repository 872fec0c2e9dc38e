"""POP3 and IMAP on the same maildrop at once (issue 5): a POP3 QUIT that deletes shows up in
an IDLE IMAP session as EXPUNGEs; a POP3 connection dropped before QUIT deletes nothing; an
IMAP expunge while POP3 is logged in is a clean -ERR; keep-accounts only set \\Seen.

IMAP runs over 993 with imapclient (IDLE via idle()/idle_check()), POP3 over 995 with poplib.
Waiting for untagged responses has a deadline only so that a missing one fails the test.
"""

from __future__ import annotations

import poplib
import socket
import time
from collections.abc import Iterator

import imapclient
import pytest

from tests.support.mail import deliver, make_message
from tests.support.server import PASSWORD, ServerThread

USER = "ann@example.test"
COUNT = 10
DEADLINE = 20.0  # seconds before a response that never comes fails the test

IdleResponse = tuple[object, ...]


def pop3_login(server: ServerThread) -> poplib.POP3_SSL:
    client = poplib.POP3_SSL("127.0.0.1", server.port("pop3s"), context=server.client_tls(),
                             timeout=10)
    client.user(USER)
    client.pass_(PASSWORD)
    return client


def vanish(client: poplib.POP3) -> None:
    """Drop the TCP connection without QUIT, as a crashed client or a lost network does."""
    client.sock.shutdown(socket.SHUT_RDWR)
    client.sock.close()
    client.file.close()


def wait_for_maildrop_unlocked(server: ServerThread) -> None:
    """Log in until the server has ended the previous POP3 session (it held the lock)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        client = poplib.POP3_SSL("127.0.0.1", server.port("pop3s"),
                                 context=server.client_tls(), timeout=10)
        client.user(USER)
        try:
            client.pass_(PASSWORD)
        except poplib.error_proto as exc:
            refusal = exc.args[0]
        else:
            client.quit()
            return
        client.quit()
        assert b"[IN-USE]" in refusal
        assert time.monotonic() < deadline, "the dropped session kept its lock"


def collect(imap: imapclient.IMAPClient, kind: bytes, count: int) -> list[IdleResponse]:
    """IDLE responses until ``count`` of them are of ``kind`` (EXPUNGE, FETCH)."""
    got: list[IdleResponse] = []
    deadline = time.monotonic() + DEADLINE
    while sum(1 for r in got if r[1] == kind) < count:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {got} arrived"
        got += imap.idle_check(timeout=remaining)
    return got


def apply_expunges(uids: list[int], responses: list[IdleResponse]) -> list[int]:
    """What an IMAP client's sequence-number view is after these EXPUNGEs (RFC 9051 7.5.1:
    each one renumbers the messages after it)."""
    view = list(uids)
    for response in responses:
        if response[1] == b"EXPUNGE":
            number = response[0]
            assert isinstance(number, int)
            del view[number - 1]
    return view


@pytest.fixture
def messages(server: ServerThread) -> list[bytes]:
    server.add_user(USER)
    mail = [make_message(n) for n in range(1, COUNT + 1)]
    deliver(server, USER, mail)
    return mail


@pytest.fixture
def imap(server: ServerThread, messages: list[bytes]) -> Iterator[imapclient.IMAPClient]:
    """An IMAP session of the same user, with the messages, INBOX selected."""
    client = imapclient.IMAPClient("127.0.0.1", port=server.port("imaps"), ssl=True,
                                   ssl_context=server.client_tls(), timeout=30)
    try:
        client.login(USER, PASSWORD)
        client.select_folder("INBOX")
        yield client
    finally:
        client.logout()


def inbox_uids(imap: imapclient.IMAPClient) -> list[int]:
    return sorted(imap.search("ALL"))


def test_pop3_quit_deletions_arrive_as_expunges_in_idle(imap: imapclient.IMAPClient,
                                                        server: ServerThread) -> None:
    uids = inbox_uids(imap)
    assert len(uids) == COUNT
    imap.idle()
    pop3 = pop3_login(server)
    for number in (2, 5, 9):
        pop3.dele(number)
    assert len(server.inbox(USER)) == COUNT  # nothing is removed before QUIT
    assert pop3.quit().startswith(b"+OK")
    responses = collect(imap, b"EXPUNGE", 3)
    imap.idle_done()
    expunges = [r for r in responses if r[1] == b"EXPUNGE"]
    assert len(expunges) == 3
    expected = [uid for i, uid in enumerate(uids, start=1) if i not in (2, 5, 9)]
    assert apply_expunges(uids, responses) == expected
    assert inbox_uids(imap) == expected
    assert imap.noop()[1] == []  # nothing else was pending


def test_dropped_pop3_connection_deletes_nothing(imap: imapclient.IMAPClient,
                                                 server: ServerThread) -> None:
    uids = inbox_uids(imap)
    imap.idle()
    pop3 = pop3_login(server)
    for number in (1, 2, 3):
        pop3.dele(number)
    pop3.retr(4)
    vanish(pop3)
    wait_for_maildrop_unlocked(server)  # the dropped session has ended
    _text, responses = imap.idle_done()
    assert [r for r in responses if r[1] == b"EXPUNGE"] == []
    assert imap.noop()[1] == []
    assert inbox_uids(imap) == uids
    assert len(server.inbox(USER)) == COUNT


def test_imap_expunge_while_pop3_is_logged_in(imap: imapclient.IMAPClient,
                                              server: ServerThread,
                                              messages: list[bytes]) -> None:
    pop3 = pop3_login(server)
    assert pop3.stat()[0] == COUNT
    uids = inbox_uids(imap)
    imap.add_flags([uids[2]], [imapclient.DELETED])
    imap.expunge()
    # The POP3 maildrop keeps its numbers; the vanished message is a clean -ERR.
    assert pop3.stat()[0] == COUNT
    with pytest.raises(poplib.error_proto, match=r"\[SYS/PERM\]"):
        pop3.retr(3)
    assert b"\r\n".join(pop3.retr(4)[1]) + b"\r\n" == messages[3]
    pop3.dele(3)  # already gone: committing its deletion is not an error
    pop3.dele(4)
    imap.idle()
    assert pop3.quit().startswith(b"+OK")
    responses = collect(imap, b"EXPUNGE", 1)
    imap.idle_done()
    assert apply_expunges(uids[:2] + uids[3:], responses) == uids[:2] + uids[4:]
    assert server.inbox(USER) == messages[:2] + messages[4:]


def test_keep_account_quit_sets_seen_instead_of_expunging(server: ServerThread) -> None:
    server.add_user(USER, pop3_keep=True)
    deliver(server, USER, [make_message(n) for n in range(1, COUNT + 1)])
    client = imapclient.IMAPClient("127.0.0.1", port=server.port("imaps"), ssl=True,
                                   ssl_context=server.client_tls(), timeout=30)
    try:
        client.login(USER, PASSWORD)
        client.select_folder("INBOX")
        uids = inbox_uids(client)
        client.idle()
        pop3 = pop3_login(server)
        for number in (1, 2, 3):
            pop3.dele(number)
        assert pop3.quit().startswith(b"+OK")
        responses = collect(client, b"FETCH", 3)
        client.idle_done()
        assert [r for r in responses if r[1] == b"EXPUNGE"] == []
        seen = client.get_flags(uids)
        assert [imapclient.SEEN in seen[uid] for uid in uids] == [True] * 3 + [False] * 7
    finally:
        client.logout()
    assert len(server.inbox(USER)) == COUNT


def test_new_mail_during_a_pop3_session_waits_for_the_next_one(
        server: ServerThread, messages: list[bytes]) -> None:
    pop3 = pop3_login(server)
    deliver(server, USER, [make_message(99)])
    assert pop3.stat()[0] == COUNT  # the maildrop is fixed at login (RFC 1939 5)
    for number in range(1, COUNT + 1):
        pop3.dele(number)
    pop3.quit()
    assert server.inbox(USER) == [make_message(99)]
    again = pop3_login(server)
    assert again.stat()[0] == 1
    again.quit()
