"""The queue worker on the real SQLite store with a test DNS server and scripted peers.

Time is a manual clock (the real time plus an offset the test advances), so retries and
expiry happen without sleeping; the worker is woken after each advance.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import dkim
import dns.resolver
import pytest

from posthouse.app import build_worker
from posthouse.config import Config, DkimConfig, QueueConfig, ServerConfig, dkim_key_path
from posthouse.provision import dkim_public_record, ensure_dkim_key
from posthouse.queue import lanes
from posthouse.queue.attempt import Timeouts
from posthouse.queue.worker import QueueWorker
from posthouse.store.models import OutboundEnvelope, OutboundRecipient, RecipientState
from posthouse.store.sqlite.backend import SqliteStore
from tests.support.dnsserver import DnsServer, txt_rdata
from tests.support.peer_smtp import PeerSmtp
from tests.support.stores import sqlite_store

MESSAGE = (b"Return-Path: <alice@example.test>\r\nFrom: alice@example.test\r\n"
           b"To: bob@peer.test\r\nSubject: plans\r\nMessage-ID: <m1@example.test>\r\n\r\n"
           b"Lunch at noon?\r\n")
FAST = Timeouts(connect=2, greeting=2, command=2, data_start=2, data_block=2, data_end=2,
                quit=1)


class ManualClock:
    """Real time plus an offset that tests advance (the store keeps real time)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset.total_seconds()


@dataclass
class Harness:
    store: SqliteStore
    worker: QueueWorker
    clock: ManualClock
    cfg: Config
    alice_id: int

    async def enqueue(self, *rcpts: str | OutboundRecipient, data: bytes = MESSAGE,
                      **env: object) -> int:
        recipients = tuple(r if isinstance(r, OutboundRecipient) else OutboundRecipient(r)
                           for r in rcpts)
        fields: dict[str, object] = {"mail_from": "alice@example.test",
                                     "sender_user_id": self.alice_id}
        fields.update(env)
        qid = await self.store.enqueue(data, OutboundEnvelope(recipients=recipients,
                                                              **fields))  # type: ignore[arg-type]
        self.worker.wake()
        return qid

    async def advance(self, seconds: float) -> None:
        self.clock.offset += timedelta(seconds=seconds)
        self.worker.wake()

    async def attempts(self, qid: int) -> int | None:
        item = await self.store.get_queued(qid)
        return None if item is None else item.attempts

    async def gone(self, qid: int) -> bool:
        return await self.store.get_queued(qid) is None

    async def inbox(self, address: str = "alice@example.test") -> list[Message]:
        user = await self.store.get_user(address)
        assert user is not None
        box = await self.store.get_mailbox(user.id, "INBOX")
        assert box is not None
        rows = await self.store.uid_list(box.id)
        metas = await self.store.fetch_meta(box.id, [r.uid for r in rows])
        return [email.message_from_bytes(await self.store.read_blob(m.blob_id),
                                         policy=email.policy.compat32) for m in metas]


async def until(check: Callable[[], Awaitable[bool]] | Callable[[], bool],
                within: float = 20) -> None:
    """Poll ``check`` (sync or async) until true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer({
        "peer.test": {"MX": ["10 mx.peer.test."]},
        "other.test": {"MX": ["10 mx.peer.test."]},
        "mx.peer.test": {"A": ["127.0.0.1"]},
        "null.test": {"MX": ["0 ."]},
    }).start()
    yield server
    server.stop()


@asynccontextmanager
async def running(tmp_path: Path, dns_server: DnsServer, port: int,
                  max_inflight: int | None = None, **queue: object) -> AsyncIterator[Harness]:
    """A store with example.test and alice, and a running worker."""
    qcfg = QueueConfig(outbound_port=port, resolver=dns_server.address,
                       retry_initial_seconds=60, retry_max_seconds=600, **queue)  # type: ignore[arg-type]
    cfg = Config(server=ServerConfig(hostname="mx.example.test", data_dir=str(tmp_path)),
                 queue=qcfg, dkim=DkimConfig(selector="sel"))
    ensure_dkim_key(dkim_key_path(cfg))
    store = sqlite_store(tmp_path)
    await store.open()
    await store.add_domain("example.test")
    alice = await store.add_user("alice@example.test", "x")
    clock = ManualClock()
    worker = build_worker(store=store, config=cfg, clock=clock, timeouts=FAST,
                          max_inflight=max_inflight)
    task = asyncio.create_task(worker.run())
    try:
        yield Harness(store, worker, clock, cfg, alice.id)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


def parts(msg: Message) -> list[Message]:
    """The sub-parts of a multipart (or the groups of a delivery-status part)."""
    payload = msg.get_payload()
    assert isinstance(payload, list)
    return [p for p in payload if isinstance(p, Message)]


def human_text(msg: Message) -> bytes:
    data = parts(msg)[0].get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def dsn_groups(msg: Message) -> list[Message]:
    """The per-message and per-recipient field groups of a DSN."""
    assert msg.get_content_type() == "multipart/report"
    return parts(parts(msg)[1])


def test_retries_after_451_then_delivers_once(tmp_path: Path, dns_server: DnsServer,
                                              peer: PeerSmtp) -> None:
    peer.replies["MESSAGE"] = ["451 4.3.0 try later"] * 3

    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port) as h:
            qid = await h.enqueue("bob@peer.test")
            for tries, delay in ((1, 60), (2, 120), (3, 240)):  # doubling backoff
                await until(lambda t=tries: _eq(h, qid, t))
                item = await h.store.get_queued(qid)
                assert item is not None
                assert item.next_attempt - h.clock.now() > timedelta(seconds=delay - 5)
                assert "451 4.3.0 try later" in (item.recipients[0].last_reply or "")
                await h.advance(delay)
            await until(lambda: h.gone(qid))
            assert len(peer.accepted()) == 1
            assert len(peer.messages) == 4
            assert await h.inbox() == []  # no notice for a delivered message

    asyncio.run(scenario())


async def _eq(h: Harness, qid: int, tries: int) -> bool:
    return await h.attempts(qid) == tries


def test_one_recipient_refused_other_delivered_sender_notified(
        tmp_path: Path, dns_server: DnsServer, peer: PeerSmtp) -> None:
    peer.rcpt_replies["carol@peer.test"] = "550 5.1.1 carol? never heard of her"

    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port) as h:
            qid = await h.enqueue("bob@peer.test", OutboundRecipient(
                "carol@peer.test", orcpt="rfc822;carol@peer.test"), envid="E-1")
            await until(lambda: h.gone(qid))
            (got,) = peer.accepted()
            assert got.rcpts == ["bob@peer.test"]
            assert not got.data.startswith(b"Return-Path:")  # RFC 5321 4.4
            (notice,) = await h.inbox()
            assert notice["Return-Path"] == "<>"
            assert notice["From"] == "Mail Delivery System <MAILER-DAEMON@mx.example.test>"
            per_message, carol = dsn_groups(notice)
            assert per_message["Original-Envelope-Id"] == "E-1"
            assert carol["Final-Recipient"] == "rfc822;carol@peer.test"
            assert carol["Original-Recipient"] == "rfc822;carol@peer.test"
            assert (carol["Action"], carol["Status"]) == ("failed", "5.1.1")
            assert carol["Remote-MTA"] == "dns; mx.peer.test"
            assert carol["Diagnostic-Code"] == "smtp; 550 5.1.1 carol? never heard of her"
            assert b"bob@peer.test" not in human_text(notice)

    asyncio.run(scenario())


def test_peer_down_until_expiry(tmp_path: Path, dns_server: DnsServer) -> None:
    down = PeerSmtp().start()
    port = down.port
    down.stop()

    async def scenario() -> None:
        async with running(tmp_path, dns_server, port, expire_seconds=3600) as h:
            qid = await h.enqueue("bob@peer.test")
            await until(lambda: _eq(h, qid, 1))
            assert await h.inbox() == []
            await h.advance(3600)
            await until(lambda: h.gone(qid))
            (notice,) = await h.inbox()
            _, bob = dsn_groups(notice)
            assert (bob["Action"], bob["Status"]) == ("failed", "4.4.7")
            assert bob["Diagnostic-Code"] is None  # nobody ever answered
            assert b"connect to mx.peer.test" in human_text(notice)

    asyncio.run(scenario())


def test_null_mx_bounces_at_once(tmp_path: Path, dns_server: DnsServer, peer: PeerSmtp) -> None:
    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port) as h:
            qid = await h.enqueue("bob@null.test")
            await until(lambda: h.gone(qid))
            (notice,) = await h.inbox()
            _, bob = dsn_groups(notice)
            assert (bob["Action"], bob["Status"]) == ("failed", "5.1.10")
            assert peer.connections == 0

    asyncio.run(scenario())


def test_delivered_recipient_is_never_sent_again(tmp_path: Path, dns_server: DnsServer,
                                                 peer: PeerSmtp) -> None:
    peer.rcpt_replies["carol@peer.test"] = ["450 4.2.1 busy"]

    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port) as h:
            qid = await h.enqueue("bob@peer.test", "carol@peer.test")
            await until(lambda: _eq(h, qid, 1))
            item = await h.store.get_queued(qid)
            assert item is not None
            assert [r.state for r in item.recipients] == [RecipientState.DELIVERED,
                                                          RecipientState.PENDING]
            await h.advance(60)
            await until(lambda: h.gone(qid))
            assert [m.rcpts for m in peer.accepted()] == [["bob@peer.test"], ["carol@peer.test"]]

    asyncio.run(scenario())


def test_remote_sender_gets_the_notice_through_the_queue(
        tmp_path: Path, dns_server: DnsServer, peer: PeerSmtp) -> None:
    peer.rcpt_replies["bob@peer.test"] = "550 5.1.1 no"

    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port) as h:
            qid = await h.enqueue("bob@peer.test", mail_from="zed@other.test",
                                  sender_user_id=None)
            await until(lambda: h.gone(qid))
            await until(lambda: len(peer.accepted()) == 1)
            (notice,) = peer.accepted()
            assert (notice.mail_from, notice.rcpts) == ("", ["zed@other.test"])
            assert b"multipart/report" in notice.data
            await until(lambda: _empty(h))

    asyncio.run(scenario())


async def _empty(h: Harness) -> bool:
    return await h.store.list_queue() == []


def test_null_sender_and_notify_never_get_no_notice(tmp_path: Path, dns_server: DnsServer,
                                                    peer: PeerSmtp) -> None:
    peer.rcpt_replies["bob@peer.test"] = "550 5.1.1 no"

    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port) as h:
            first = await h.enqueue("bob@peer.test", mail_from="", sender_user_id=None)
            second = await h.enqueue(OutboundRecipient("bob@peer.test", notify=("NEVER",)))
            await until(lambda: h.gone(first))
            await until(lambda: h.gone(second))
            assert await h.inbox() == []
            assert await h.store.list_queue() == []

    asyncio.run(scenario())


def test_delay_notice_once(tmp_path: Path, dns_server: DnsServer, peer: PeerSmtp) -> None:
    peer.rcpt_replies["bob@peer.test"] = "451 4.3.0 not today"

    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port, delay_warning_seconds=100) as h:
            qid = await h.enqueue(OutboundRecipient("bob@peer.test", notify=("DELAY", "FAILURE")))
            await until(lambda: _eq(h, qid, 1))
            assert await h.inbox() == []
            await h.advance(120)
            await until(lambda: _eq(h, qid, 2))
            (notice,) = await h.inbox()
            _, bob = dsn_groups(notice)
            assert (bob["Action"], bob["Status"]) == ("delayed", "4.3.0")
            assert bob["Will-Retry-Until"] is not None
            await h.advance(240)
            await until(lambda: _eq(h, qid, 3))
            assert len(await h.inbox()) == 1  # once only

    asyncio.run(scenario())


def test_success_notice_only_when_the_next_hop_cannot_send_one(
        tmp_path: Path, dns_server: DnsServer) -> None:
    """RFC 3461: a DSN-capable hop gets NOTIFY passed on; otherwise we say "relayed"."""
    plain = PeerSmtp(extensions=("PIPELINING", "8BITMIME")).start()

    async def scenario() -> None:
        async with running(tmp_path, dns_server, plain.port) as h:
            qid = await h.enqueue(OutboundRecipient("bob@peer.test", notify=("SUCCESS",)))
            await until(lambda: h.gone(qid))
            (notice,) = await h.inbox()
            _, bob = dsn_groups(notice)
            assert (bob["Action"], bob["Status"]) == ("relayed", "2.0.0")
            assert "NOTIFY=SUCCESS" not in " ".join(plain.commands)

    try:
        asyncio.run(scenario())
    finally:
        plain.stop()


def test_local_users_mail_is_dkim_signed(tmp_path: Path, dns_server: DnsServer,
                                         peer: PeerSmtp) -> None:
    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port) as h:
            dns_server.records["sel._domainkey.example.test"] = {"TXT": [txt_rdata(
                dkim_public_record(dkim_key_path(h.cfg)))]}
            qid = await h.enqueue("bob@peer.test")
            relayed = await h.enqueue("bob@peer.test", mail_from="zed@other.test",
                                      sender_user_id=None)
            await until(lambda: h.gone(qid))
            await until(lambda: h.gone(relayed))

    asyncio.run(scenario())
    signed, unsigned = sorted(peer.accepted(), key=lambda m: m.mail_from)
    assert signed.data.startswith(b"DKIM-Signature:")
    assert b"d=example.test" in signed.data
    assert not unsigned.data.startswith(b"DKIM-Signature:")
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = dns_server.port

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return b"".join(b"".join(r.strings) for r in res.resolve(name.decode(), "TXT"))

    assert dkim.verify(signed.data, dnsfunc=lookup)


def test_recipients_in_two_domains(tmp_path: Path, dns_server: DnsServer,
                                   peer: PeerSmtp) -> None:
    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port) as h:
            qid = await h.enqueue("bob@peer.test", "zed@other.test", "amy@peer.test")
            await until(lambda: h.gone(qid))

    asyncio.run(scenario())
    assert sorted(sorted(m.rcpts) for m in peer.accepted()) == [
        ["amy@peer.test", "bob@peer.test"], ["zed@other.test"]]


def test_many_messages_share_connections_within_limits(tmp_path: Path, dns_server: DnsServer,
                                                       peer: PeerSmtp) -> None:
    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port, concurrency_per_domain=2) as h:
            ids = [await h.enqueue(f"user{i}@peer.test") for i in range(30)]
            for qid in ids:
                await until(lambda q=qid: h.gone(q))

    peer.delay = 0.005
    asyncio.run(scenario())
    assert len(peer.accepted()) == 30
    assert peer.connections < 30  # connections were reused (RSET between messages)
    assert peer.most_open <= 2  # concurrency_per_domain


def test_a_full_worker_takes_more_as_messages_finish(tmp_path: Path, dns_server: DnsServer,
                                                     peer: PeerSmtp) -> None:
    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port, max_inflight=2) as h:
            ids = [await h.enqueue(f"user{i}@peer.test") for i in range(9)]
            for qid in ids:
                await until(lambda q=qid: h.gone(q))

    asyncio.run(scenario())
    assert len(peer.accepted()) == 9


# --- issue 15: one session for mail that arrives one message at a time ---------------------------


def numbered(n: int) -> bytes:
    return MESSAGE.replace(b"Subject: plans", f"Subject: plans {n}".encode())


def subjects(peer: PeerSmtp) -> list[str]:
    return sorted(email.message_from_bytes(m.data)["Subject"] for m in peer.accepted())


def test_messages_arriving_one_by_one_share_one_lingering_connection(
        tmp_path: Path, dns_server: DnsServer, peer: PeerSmtp) -> None:
    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port) as h:
            for n in range(5):  # each one is gone before the next is queued
                qid = await h.enqueue("bob@peer.test", data=numbered(n))
                await until(lambda q=qid: h.gone(q))

    asyncio.run(scenario())
    assert subjects(peer) == [f"plans {n}" for n in range(5)]  # each exactly once
    assert peer.connections == 1
    # the idle connection is probed before each later message; never an RSET otherwise
    assert peer.commands.count("RSET") == 4


def test_back_to_back_transactions_need_no_rset(tmp_path: Path, dns_server: DnsServer,
                                                peer: PeerSmtp) -> None:
    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port, concurrency_per_domain=1) as h:
            ids = [await h.enqueue("bob@peer.test", data=numbered(n)) for n in range(6)]
            for qid in ids:
                await until(lambda q=qid: h.gone(q))

    peer.delay = 0.005
    asyncio.run(scenario())
    assert subjects(peer) == [f"plans {n}" for n in range(6)]
    assert sum(c.startswith("MAIL FROM:") for c in peer.commands) == 6
    assert peer.commands.count("RSET") < 5  # only an idle connection is probed


def test_a_connection_gone_while_idle_is_replaced(tmp_path: Path, dns_server: DnsServer,
                                                  peer: PeerSmtp) -> None:
    peer.replies["RSET"] = ["CLOSE"]  # the probe finds the server gone

    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port) as h:
            for n in range(2):
                qid = await h.enqueue("bob@peer.test", data=numbered(n))
                await until(lambda q=qid: h.gone(q))

    asyncio.run(scenario())
    assert subjects(peer) == ["plans 0", "plans 1"]
    assert peer.connections == 2


def test_a_failure_mid_session_requeues_only_the_unfinished(
        tmp_path: Path, dns_server: DnsServer, peer: PeerSmtp) -> None:
    peer.replies["MESSAGE"] = ["250 2.0.0 queued", "CLOSE"]  # the second message is cut off

    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port, concurrency_per_domain=1) as h:
            ids = [await h.enqueue("bob@peer.test", data=numbered(n)) for n in range(3)]

            async def settled() -> bool:
                return [await h.attempts(q) for q in ids].count(None) == 2

            await until(settled)
            left = [q for q in ids if await h.attempts(q) is not None]
            assert len(left) == 1
            assert await h.attempts(left[0]) == 1
            assert len(peer.accepted()) == 2
            await h.advance(60)
            await until(lambda: h.gone(left[0]))

    asyncio.run(scenario())
    assert subjects(peer) == ["plans 0", "plans 1", "plans 2"]  # each exactly once


def test_an_entry_whose_removal_was_lost_is_swept_at_start(
        tmp_path: Path, dns_server: DnsServer, peer: PeerSmtp) -> None:
    """A delivered message's removal is a lazy write (no fsync of its own): a crash may lose
    it. What is left, an entry without pending recipients, is removed at the next start and
    never sent again."""
    async def scenario() -> None:
        store = sqlite_store(tmp_path)
        await store.open()
        await store.add_domain("example.test")
        alice = await store.add_user("alice@example.test", "x")
        qid = await store.enqueue(MESSAGE, OutboundEnvelope(
            "alice@example.test", (OutboundRecipient("bob@peer.test"),), sender_user_id=alice.id))
        item = await store.get_queued(qid)
        assert item is not None
        await store.record_recipient_result(item.recipients[0].id, delivered=True,
                                            failed=False, reply="mx1.peer.test: 250 ok")
        await store.close()  # as if the process ended before the removal was durable
        qcfg = QueueConfig(outbound_port=peer.port, resolver=dns_server.address)
        cfg = Config(server=ServerConfig(hostname="mx.example.test", data_dir=str(tmp_path)),
                     queue=qcfg, dkim=DkimConfig(selector="sel"))
        ensure_dkim_key(dkim_key_path(cfg))
        store = sqlite_store(tmp_path)
        await store.open()
        worker = build_worker(store=store, config=cfg, clock=ManualClock(), timeouts=FAST)
        task = asyncio.create_task(worker.run())
        try:
            await until(lambda: _gone(store, qid))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await store.close()

    asyncio.run(scenario())
    assert peer.accepted() == []
    assert peer.connections == 0


async def _gone(store: SqliteStore, qid: int) -> bool:
    return await store.get_queued(qid) is None


def test_a_lingering_connection_makes_room_for_another_domain(
        tmp_path: Path, dns_server: DnsServer, peer: PeerSmtp,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With one connection allowed in all, the idle connection of peer.test (lingering for
    an hour here) gives way at once when other.test has mail."""
    monkeypatch.setattr(lanes, "LINGER_SECONDS", 3600.0)

    async def scenario() -> None:
        async with running(tmp_path, dns_server, peer.port, concurrency=1) as h:
            first = await h.enqueue("bob@peer.test", data=numbered(0))
            await until(lambda: h.gone(first))
            second = await h.enqueue("zed@other.test", data=numbered(1))
            await until(lambda: h.gone(second))
            third = await h.enqueue("amy@peer.test", data=numbered(2))
            await until(lambda: h.gone(third))

    asyncio.run(scenario())
    assert subjects(peer) == ["plans 0", "plans 1", "plans 2"]
    assert peer.most_open == 1
