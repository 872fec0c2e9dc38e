"""Two posthouse nodes on one PostgreSQL database, driven over real sockets (issue 18).

Nodes A and B are whole servers (``ServerThread``: every listener on its own 127.0.0.1
ports, its own data dir) sharing one schema of the test run's database. Real clients
(smtplib, imapclient, imaplib, poplib) check that what one node does is seen on the other:
a delivery over SMTP on A reaches an IMAP IDLE client on B; a flag stored on B reaches an
IDLE client on A; POP3 on A and IMAP on B see one mailbox; mail submitted on A is relayed
exactly once to a private SMTP peer while both nodes' queue workers run.

Waits have deadlines only so that a missing response fails the test; the latency of a
cross-node notification is printed (``-s`` shows it), never asserted.
"""

from __future__ import annotations

import dataclasses
import imaplib
import poplib
import smtplib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email.parser import BytesHeaderParser
from pathlib import Path

import imapclient
import pytest

from posthouse.config import QueueConfig, StoreConfig
from tests.support.dnsserver import DnsServer
from tests.support.mail import make_message
from tests.support.peer_smtp import PeerSmtp
from tests.support.pgdb import PgTestDatabase
from tests.support.server import PASSWORD, ServerThread, make_config

USER = "pat@example.test"
DEADLINE = 10.0  # the target is a second; this is only how long we wait


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """peer.test's MX is the loopback peer (each node's [queue] resolver)."""
    server = DnsServer({"peer.test": {"MX": ["10 mx.peer.test."]},
                        "mx.peer.test": {"A": ["127.0.0.1"]}}).start()
    yield server
    server.stop()


@pytest.fixture
def nodes(pg_database: PgTestDatabase, tmp_path: Path, dns_server: DnsServer,
          peer: PeerSmtp) -> Iterator[tuple[ServerThread, ServerThread]]:
    """Nodes A and B: their own ports, data dirs and hostnames; one database; both queue
    workers relay to ``peer``."""
    url = pg_database.fresh_url()
    queue = QueueConfig(resolver=dns_server.address, outbound_port=peer.port,
                        retry_initial_seconds=1)

    def node(name: str) -> ServerThread:
        cfg = make_config(tmp_path / name)
        cfg = dataclasses.replace(
            cfg, store=StoreConfig(url=url), queue=queue,
            server=dataclasses.replace(cfg.server, hostname=f"{name}.example.test"))
        return ServerThread(cfg).start()

    a = node("a")
    try:
        b = node("b")
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


def send(server: ServerThread, body: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as client:
        client.ehlo("client.example")
        client.sendmail("sender@remote.example", [USER], body)


def idle_client(server: ServerThread) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient("127.0.0.1", port=server.port("imaps"), ssl=True,
                                   ssl_context=server.client_tls(), timeout=30)
    client.login(USER, PASSWORD)
    return client


def idle_until(client: imapclient.IMAPClient,
               done: Callable[[list[tuple[object, ...]]], bool]) -> list[tuple[object, ...]]:
    """IDLE responses until ``done`` says enough (AssertionError after DEADLINE)."""
    got: list[tuple[object, ...]] = []
    deadline = time.monotonic() + DEADLINE
    while not done(got):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {got} arrived"
        got += client.idle_check(timeout=remaining)
    return got


def wait_for(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_delivery_on_a_reaches_idle_on_b(nodes: tuple[ServerThread, ServerThread]) -> None:
    a, b = nodes
    a.add_user(USER)
    client = idle_client(b)
    try:
        client.select_folder("INBOX")
        client.idle()
        started = time.monotonic()
        send(a, make_message(1))  # returns after A's 250: the transaction committed
        acked = time.monotonic()
        got = idle_until(client, lambda got: any(r[1] == b"EXISTS" for r in got))
        seen = time.monotonic()
        client.idle_done()
        assert (1, b"EXISTS") in got
        print(f"\nSMTP on A took {acked - started:.3f} s; IDLE on B told of it "
              f"{seen - acked:.3f} s after the 250")
    finally:
        client.logout()


def test_flag_set_on_b_reaches_idle_on_a(nodes: tuple[ServerThread, ServerThread]) -> None:
    a, b = nodes
    a.add_user(USER)
    send(a, make_message(1))
    watcher = idle_client(a)
    setter = idle_client(b)
    try:
        watcher.select_folder("INBOX")
        watcher.idle()
        setter.select_folder("INBOX")
        started = time.monotonic()
        setter.add_flags([1], [imapclient.FLAGGED, b"$Important"])  # UID STORE on B

        def flagged(got: list[tuple[object, ...]]) -> bool:
            return any(r[1] == b"FETCH" and b"\\Flagged" in repr(r[2]).encode()
                       for r in got)

        got = idle_until(watcher, flagged)
        seen = time.monotonic()
        watcher.idle_done()
        fetch = next(r for r in got if r[1] == b"FETCH")
        assert b"$Important" in repr(fetch[2]).encode()
        print(f"\nIDLE on A told of B's STORE {seen - started:.3f} s after it was sent")
        # and a fresh read on A agrees
        flags = watcher.get_flags([1])[1]
        assert set(flags) >= {b"\\Flagged", b"$Important"}
    finally:
        setter.logout()
        watcher.logout()


def test_pop3_on_a_and_imap_on_b_see_one_mailbox(
        nodes: tuple[ServerThread, ServerThread]) -> None:
    a, b = nodes
    a.add_user(USER)
    bodies = [make_message(n) for n in range(1, 4)]
    for n, body in enumerate(bodies):
        send(a if n % 2 == 0 else b, body)  # delivered through both nodes
    imap = imaplib.IMAP4_SSL("127.0.0.1", b.port("imaps"), ssl_context=b.client_tls())
    try:
        imap.login(USER, PASSWORD)
        assert imap.select("INBOX") == ("OK", [b"3"])
        # IMAP on B deletes the second message
        assert imap.uid("STORE", "2", "+FLAGS.SILENT", "(\\Deleted)")[0] == "OK"
        assert imap.expunge()[0] == "OK"
        # POP3 on A sees the two that are left, in order, with the same content
        pop3 = poplib.POP3_SSL("127.0.0.1", a.port("pop3s"), context=a.client_tls(),
                               timeout=30)
        try:
            pop3.user(USER)
            pop3.pass_(PASSWORD)
            assert pop3.stat()[0] == 2
            for number, body in ((1, bodies[0]), (2, bodies[2])):
                _resp, lines, _octets = pop3.retr(number)
                assert b"\r\n".join(lines).endswith(body.rstrip(b"\r\n"))
            pop3.dele(1)  # POP3 on A deletes the first
        finally:
            pop3.quit()  # RFC 1939 6: the UPDATE state removes it
        # IMAP on B is told of the expunge and has one message left, the third
        assert imap.noop()[0] == "OK"
        typ, data = imap.uid("SEARCH", "ALL")
        assert (typ, data) == ("OK", [b"3"])
        typ, fetched = imap.uid("FETCH", "3", "(BODY.PEEK[])")
        part = fetched[0]
        assert typ == "OK"
        assert isinstance(part, tuple)
        assert part[1].endswith(bodies[2])
    finally:
        imap.logout()
    assert len(a.inbox(USER)) == len(b.inbox(USER)) == 1


def test_mail_submitted_on_a_is_relayed_once_while_both_work_the_queue(
        nodes: tuple[ServerThread, ServerThread], peer: PeerSmtp) -> None:
    a, b = nodes
    a.add_user(USER)
    peer.delay = 0.2  # slow enough that B's worker polls while A's is still busy
    count = 20
    with smtplib.SMTP_SSL("127.0.0.1", a.port("submissions"), context=a.client_tls(),
                          timeout=30) as client:
        client.login(USER, PASSWORD)
        for n in range(count):
            client.sendmail(USER, [f"r{n % 3}@peer.test"],
                            f"From: {USER}\r\nTo: r@peer.test\r\nSubject: out {n}\r\n\r\n"
                            f"message {n}\r\n".encode())
    parser = BytesHeaderParser()

    def subjects() -> Counter[str]:
        return Counter(str(parser.parsebytes(m.data)["Subject"]) for m in peer.accepted())

    wait_for(lambda: len(subjects()) == count)
    wait_for(lambda: a.call(a.store.list_queue()) == [] and b.call(b.store.list_queue()) == [])
    got = subjects()
    assert got == Counter({f"out {n}": 1 for n in range(count)}), got  # exactly once
    by_node = Counter(m.helo for m in peer.accepted())
    print(f"\nrelayed by node: {dict(by_node)}")
    assert set(by_node) <= {"a.example.test", "b.example.test"}


def pop3_login(server: ServerThread) -> tuple[poplib.POP3_SSL, str]:
    """A POP3 client on ``server`` after PASS, and PASS's reply (or the -ERR it got)."""
    client = poplib.POP3_SSL("127.0.0.1", server.port("pop3s"), context=server.client_tls(),
                             timeout=30)
    client.user(USER)
    try:
        return client, client.pass_(PASSWORD).decode()
    except poplib.error_proto as exc:
        return client, str(exc.args[0].decode() if isinstance(exc.args[0], bytes)
                           else exc.args[0])


def test_pop3_maildrop_lock_holds_across_nodes(
        nodes: tuple[ServerThread, ServerThread]) -> None:
    """RFC 1939 8 / RFC 2449 8.1.1: a maildrop one session holds is [IN-USE] on any node."""
    a, b = nodes
    a.add_user(USER)
    send(a, make_message(1))
    holder, reply = pop3_login(a)
    assert reply.startswith("+OK"), reply
    other, refused = pop3_login(b)
    other.close()
    assert refused.startswith("-ERR [IN-USE]"), refused
    same_node, refused_here = pop3_login(a)
    same_node.close()
    assert refused_here.startswith("-ERR [IN-USE]"), refused_here
    holder.quit()  # the lock goes with the session
    later, reply = pop3_login(b)
    try:
        assert reply.startswith("+OK"), reply
        assert later.stat()[0] == 1
    finally:
        later.quit()
    # a session that drops its connection without QUIT releases the lock too
    dropped, reply = pop3_login(b)
    assert reply.startswith("+OK"), reply
    dropped.close()

    def free_on_a() -> bool:
        client, answer = pop3_login(a)
        if answer.startswith("+OK"):
            client.quit()
            return True
        client.close()
        return False

    wait_for(free_on_a, timeout=DEADLINE)
