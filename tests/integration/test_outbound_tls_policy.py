"""MTA-STS (RFC 8461) and DANE (RFC 7672) on outbound delivery, over real sockets.

The worker runs on the real store; DNS is the loopback test server, the policy host an HTTPS
server on loopback with a certificate from the test CA (``[queue] tls_ca_file``), the MX a
scripted SMTP peer. Every name resolves through the test DNS server only.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import gzip
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from posthouse.app import build_resolver, build_tls_reporter, build_worker
from posthouse.clock import SystemClock
from posthouse.config import Config, DnsConfig, QueueConfig, ServerConfig
from posthouse.queue.attempt import Timeouts
from posthouse.queue.lanes import LINGER_SECONDS
from posthouse.queue.worker import QueueWorker
from posthouse.store.models import OutboundEnvelope, OutboundRecipient
from posthouse.store.sqlite.backend import SqliteStore
from tests.support.dnsserver import DnsServer, txt_rdata
from tests.support.https_server import HttpsServer
from tests.support.peer_smtp import PeerSmtp
from tests.support.stores import sqlite_store
from tests.support.test_ca import TestCa

MESSAGE = (b"From: alice@example.test\r\nTo: bob@peer.test\r\nSubject: hi\r\n"
           b"Message-ID: <t1@example.test>\r\n\r\nHello.\r\n")
FAST = Timeouts(connect=2, greeting=2, command=2, data_start=2, data_block=2, data_end=2,
                quit=1)
POLICY_PATH = "/.well-known/mta-sts.txt"


def policy(mode: str = "enforce", mx: str = "mx.peer.test", max_age: int = 86400) -> bytes:
    return (f"version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\n"
            f"max_age: {max_age}\r\n").encode()


@pytest.fixture
def ca(tmp_path: Path) -> TestCa:
    return TestCa(tmp_path / "ca")


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer({
        "peer.test": {"MX": ["10 mx.peer.test."]},
        "mx.peer.test": {"A": ["127.0.0.1"]},
        "mta-sts.peer.test": {"A": ["127.0.0.1"]},
        "_mta-sts.peer.test": {"TXT": [txt_rdata("v=STSv1; id=20261202")]},
    }).start()
    yield server
    server.stop()


@pytest.fixture
def https(ca: TestCa) -> Iterator[HttpsServer]:
    server = HttpsServer(ca.server_context("mta-sts.peer.test")).start()
    server.pages[POLICY_PATH] = (200, "text/plain", policy())
    yield server
    server.stop()


def make_peer(ca: TestCa | None, *names: str, **kw: object) -> PeerSmtp:
    ctx = ca.server_context(*(names or ("mx.peer.test",))) if ca is not None else None
    return PeerSmtp(hostname="mx.peer.test", tls=ctx, **kw).start()  # type: ignore[arg-type]


@dataclass
class Run:
    store: SqliteStore
    worker: QueueWorker
    data: Path
    cfg: Config

    async def send(self, data: bytes = MESSAGE, **env: object) -> int:
        qid = await self.store.enqueue(data, OutboundEnvelope(
            "alice@example.test", (OutboundRecipient("bob@peer.test"),), **env))  # type: ignore[arg-type]
        self.worker.wake()
        return qid

    async def tried(self, qid: int) -> str:
        """Wait for the first try to end; the recipient's last reply ("" when delivered)."""
        await until(lambda: self._tried(qid))
        item = await self.store.get_queued(qid)
        return "" if item is None else (item.recipients[0].last_reply or "")

    async def _tried(self, qid: int) -> bool:
        item = await self.store.get_queued(qid)
        return item is None or item.attempts >= 1

    def results(self) -> list[dict[str, object]]:
        return [json.loads(line) for f in sorted((self.data / "tlsrpt").glob("*.jsonl"))
                for line in f.read_text().splitlines()]


async def until(check: Callable[[], Awaitable[bool]], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(data: Path, dns_server: DnsServer, peer: PeerSmtp, ca: TestCa,
                  https_port: int = 1, expire_seconds: int = 86400) -> AsyncIterator[Run]:
    cfg = Config(server=ServerConfig(hostname="mx.example.test", data_dir=str(data)),
                 queue=QueueConfig(outbound_port=peer.port, resolver=dns_server.address,
                                   tls_ca_file=str(ca.pem_path), mta_sts_port=https_port,
                                   mta_sts_timeout_seconds=5, retry_initial_seconds=600,
                                   expire_seconds=expire_seconds),
                 dns=DnsConfig(cache_entries=0))  # records change during some tests
    store = sqlite_store(data)
    await store.open()
    if not await store.list_domains():
        await store.add_domain("example.test")
        await store.add_user("alice@example.test", "x")  # gets the bounces
    worker = build_worker(store=store, config=cfg, clock=_Clock(), timeouts=FAST)
    task = asyncio.create_task(worker.run())
    try:
        yield Run(store, worker, data, cfg)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


class _Clock(SystemClock):
    """The real clock."""


def test_enforce_valid_certificate_delivered_over_tls(
        tmp_path: Path, ca: TestCa, dns_server: DnsServer, https: HttpsServer) -> None:
    peer = make_peer(ca)

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca, https.port) as run:
            assert await run.tried(await run.send()) == ""
            (got,) = peer.wait_accepted(1)
            assert got.tls
            assert https.requests == [("GET /.well-known/mta-sts.txt HTTP/1.1",
                                       "mta-sts.peer.test")]
            (ok,) = run.results()
            assert ok["ok"]
            assert ok["policy"]["policy_type"] == "sts"  # type: ignore[index]
            assert ok["policy"]["mx_host"] == ["mx.peer.test"]  # type: ignore[index]

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


def test_enforce_starttls_stripped_is_deferred_not_sent_in_plaintext(
        tmp_path: Path, ca: TestCa, dns_server: DnsServer, https: HttpsServer) -> None:
    peer = make_peer(None)  # an attacker on the path removed STARTTLS

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca, https.port) as run:
            reply = await run.tried(await run.send())
            assert "STARTTLS not offered, TLS required" in reply
            assert peer.messages == []
            assert not any(c.upper().startswith("MAIL") for c in peer.commands)
            (failure,) = run.results()
            assert failure["result_type"] == "starttls-not-supported"
            assert (failure["receiving_ip"], failure["sending_ip"]) == ("127.0.0.1", "127.0.0.1")

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


def test_enforce_failure_finally_bounces_with_the_reason(
        tmp_path: Path, ca: TestCa, dns_server: DnsServer, https: HttpsServer) -> None:
    peer = make_peer(None)

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca, https.port,
                           expire_seconds=0) as run:  # the first try is also the last
            qid = await run.send()
            await until(lambda: _gone(run, qid))
            user = await run.store.get_user("alice@example.test")
            box = await run.store.get_mailbox(user.id, "INBOX")
            (row,) = await run.store.uid_list(box.id)
            (meta,) = await run.store.fetch_meta(box.id, [row.uid])
            notice = await run.store.read_blob(meta.blob_id)
            assert b"Action: failed" in notice
            assert b"STARTTLS not offered, TLS required" in notice
            assert peer.messages == []

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


def test_enforce_wrong_certificate_name_is_deferred(
        tmp_path: Path, ca: TestCa, dns_server: DnsServer, https: HttpsServer) -> None:
    peer = make_peer(ca, "somewhere.else.test")

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca, https.port) as run:
            reply = await run.tried(await run.send())
            assert "certificate refused by policy" in reply
            assert peer.messages == []
            (failure,) = run.results()
            assert failure["result_type"] == "certificate-host-mismatch"
            assert failure["receiving_mx"] == "mx.peer.test"

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


def test_enforce_mx_not_in_policy_is_deferred(
        tmp_path: Path, ca: TestCa, dns_server: DnsServer, https: HttpsServer) -> None:
    https.pages[POLICY_PATH] = (200, "text/plain", policy(mx="*.elsewhere.test"))
    peer = make_peer(ca)

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca, https.port) as run:
            reply = await run.tried(await run.send())
            assert "not an MX of peer.test's MTA-STS policy" in reply
            assert peer.connections == 0

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


def test_wildcard_mx_pattern_matches_one_label(
        tmp_path: Path, ca: TestCa, dns_server: DnsServer, https: HttpsServer) -> None:
    https.pages[POLICY_PATH] = (200, "text/plain", policy(mx="*.peer.test"))
    peer = make_peer(ca)

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca, https.port) as run:
            assert await run.tried(await run.send()) == ""
            assert peer.wait_accepted(1)[0].tls

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


def test_testing_mode_delivers_despite_bad_certificate_and_reports(
        tmp_path: Path, ca: TestCa, dns_server: DnsServer, https: HttpsServer) -> None:
    https.pages[POLICY_PATH] = (200, "text/plain", policy(mode="testing"))
    peer = make_peer(ca, "somewhere.else.test")

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca, https.port) as run:
            assert await run.tried(await run.send()) == ""
            peer.wait_accepted(1)
            (failure,) = run.results()
            assert failure["result_type"] == "certificate-host-mismatch"

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


def test_policy_cached_across_restart_and_used_when_https_is_down(
        tmp_path: Path, ca: TestCa, dns_server: DnsServer, https: HttpsServer) -> None:
    good = make_peer(ca)
    data = tmp_path / "d"

    async def first() -> None:
        async with running(data, dns_server, good, ca, https.port) as run:
            assert await run.tried(await run.send()) == ""

    try:
        asyncio.run(first())
    finally:
        good.stop()
    assert json.loads((data / "mta-sts" / "peer.test.json").read_text())["mode"] == "enforce"
    https.stop()
    stripped = make_peer(None)

    async def second() -> None:  # a new worker: the policy comes from the data dir
        async with running(data, dns_server, stripped, ca, https.port) as run:
            reply = await run.tried(await run.send())
            assert "TLS required" in reply
            assert stripped.messages == []

    try:
        asyncio.run(second())
    finally:
        stripped.stop()
        https.start = lambda: https  # type: ignore[method-assign]  # already stopped
        https.stop = lambda: None  # type: ignore[method-assign]


def test_changed_txt_id_refetches_and_fetch_failure_keeps_the_cached_policy(
        tmp_path: Path, ca: TestCa, dns_server: DnsServer, https: HttpsServer) -> None:
    peer = make_peer(None)

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca, https.port) as run:
            assert "TLS required" in await run.tried(await run.send())
            dns_server.records["_mta-sts.peer.test"] = {"TXT": [txt_rdata("v=STSv1; id=2")]}
            https.pages[POLICY_PATH] = (500, "text/plain", b"oops")
            assert "TLS required" in await run.tried(await run.send())
            assert len(https.requests) == 2  # the new id made it fetch again
            kinds = [r["result_type"] for r in run.results()]
            assert "sts-policy-fetch-error" in kinds

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


# -- DANE ----------------------------------------------------------------------------------


def _tlsa(usage: int, selector: int, mtype: int, der: bytes) -> str:
    data = {0: der, 1: hashlib.sha256(der).digest(), 2: hashlib.sha512(der).digest()}[mtype]
    return f"{usage} {selector} {mtype} {data.hex()}"


def _spki(cert: object) -> bytes:
    return cert.public_key().public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def dane_peer(ca: TestCa, dns_server: DnsServer, *, record: str | None = None,
              secure: bool = True, names: tuple[str, ...] = ("mx.peer.test",),
              mx_secure: bool = True) -> PeerSmtp:
    """A peer with a fresh leaf, and its TLSA record (3 1 1 of the leaf unless given)."""
    import ssl

    chain, key, leaf = ca.issue(*names)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    dns_server.records["_25._tcp.mx.peer.test"] = {
        "TLSA": [record or _tlsa(3, 1, 1, _spki(leaf))]}
    if secure:
        dns_server.secure.add("_25._tcp.mx.peer.test")
    if mx_secure:
        dns_server.secure.add("peer.test")
    del dns_server.records["_mta-sts.peer.test"]  # DANE alone
    return PeerSmtp(hostname="mx.peer.test", tls=ctx).start()


def test_dane_ee_match_delivered_even_with_a_name_mismatch(
        tmp_path: Path, ca: TestCa, dns_server: DnsServer) -> None:
    peer = dane_peer(ca, dns_server, names=("not-the-mx.test",))  # RFC 7672 3.1.1

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca) as run:
            assert await run.tried(await run.send()) == ""
            assert peer.wait_accepted(1)[0].tls
            (ok,) = run.results()
            assert ok["ok"]
            assert ok["policy"]["policy_type"] == "tlsa"  # type: ignore[index]

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


def test_dane_ee_mismatch_deferred(tmp_path: Path, ca: TestCa, dns_server: DnsServer) -> None:
    peer = dane_peer(ca, dns_server, record=_tlsa(3, 1, 1, b"some other key"))

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca) as run:
            reply = await run.tried(await run.send())
            assert "no TLSA record of mx.peer.test matches" in reply
            assert peer.messages == []
            (failure,) = run.results()
            assert failure["result_type"] == "validation-failure"

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


def test_dane_tlsa_lookup_failure_defers(tmp_path: Path, ca: TestCa,
                                         dns_server: DnsServer) -> None:
    # RFC 7672 2.2: a secure MX whose TLSA lookup fails is unusable: no plaintext, no PKIX
    # fallback (breaking the lookup must not strip DANE).
    peer = dane_peer(ca, dns_server)
    dns_server.servfail.add("_25._tcp.mx.peer.test")

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca) as run:
            reply = await run.tried(await run.send())
            assert "TLSA lookup for mx.peer.test failed" in reply
            assert peer.messages == []
            (failure,) = run.results()
            assert failure["result_type"] == "dnssec-invalid"

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()
        dns_server.servfail.discard("_25._tcp.mx.peer.test")


def test_dane_ta_root_match_delivered(tmp_path: Path, ca: TestCa,
                                      dns_server: DnsServer) -> None:
    der = ca.cert.public_bytes(serialization.Encoding.DER)
    peer = dane_peer(ca, dns_server, record=_tlsa(2, 0, 2, der))

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca) as run:
            assert await run.tried(await run.send()) == ""
            peer.wait_accepted(1)

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


def test_tlsa_without_ad_bit_is_ignored(tmp_path: Path, ca: TestCa,
                                        dns_server: DnsServer) -> None:
    peer = dane_peer(ca, dns_server, record=_tlsa(3, 1, 1, b"some other key"), secure=False)

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca) as run:
            assert await run.tried(await run.send()) == ""  # opportunistic, as without DANE
            peer.wait_accepted(1)
            assert run.results() == []

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


def test_tlsa_under_an_insecure_mx_rrset_is_ignored(tmp_path: Path, ca: TestCa,
                                                    dns_server: DnsServer) -> None:
    """RFC 7672 2.2.1: an attacker who can change the MX records could name any host."""
    peer = dane_peer(ca, dns_server, record=_tlsa(3, 1, 1, b"some other key"),
                     mx_secure=False)

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca) as run:
            assert await run.tried(await run.send()) == ""
            peer.wait_accepted(1)
            assert run.results() == []

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


def test_dane_takes_precedence_over_mta_sts(tmp_path: Path, ca: TestCa,
                                            dns_server: DnsServer,
                                            https: HttpsServer) -> None:
    https.pages[POLICY_PATH] = (200, "text/plain", policy(mx="*.elsewhere.test"))
    peer = dane_peer(ca, dns_server)
    dns_server.records["_mta-sts.peer.test"] = {"TXT": [txt_rdata("v=STSv1; id=1")]}

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca, https.port) as run:
            assert await run.tried(await run.send()) == ""
            peer.wait_accepted(1)

    try:
        asyncio.run(scenario())
    finally:
        peer.stop()


# -- TLS-RPT -------------------------------------------------------------------------------


def test_tlsrpt_report_built_and_mailed_to_the_rua_address(
        tmp_path: Path, ca: TestCa, dns_server: DnsServer, https: HttpsServer) -> None:
    dns_server.records["_smtp._tls.peer.test"] = {
        "TXT": [txt_rdata("v=TLSRPTv1; rua=mailto:tls-reports@reports.test")]}
    dns_server.records["reports.test"] = {"MX": ["10 mx.peer.test."]}
    peer = make_peer(ca)

    async def scenario() -> None:
        async with running(tmp_path / "d", dns_server, peer, ca, https.port) as run:
            assert await run.tried(await run.send()) == ""
            # A new session, not the first one kept open for more mail (queue/lanes.py):
            # the report counts TLS sessions (RFC 8460 4.3).
            await asyncio.sleep(LINGER_SECONDS + 0.5)
            # The policy id changes and its host fails: the cached policy still applies.
            dns_server.records["_mta-sts.peer.test"] = {"TXT": [txt_rdata("v=STSv1; id=2")]}
            https.pages[POLICY_PATH] = (500, "text/plain", b"down")
            assert await run.tried(await run.send()) == ""
            reporter = build_tls_reporter(run.cfg, run.store, build_resolver(run.cfg),
                                          SystemClock(), run.worker.wake)
            (qid,) = await reporter.send_due(include_today=True)
            await until(lambda: _gone(run, qid))
            assert list((run.data / "tlsrpt").glob("*.jsonl")) == []  # sent: dropped

    try:
        asyncio.run(scenario())
        *_, mail = peer.wait_accepted(3)
    finally:
        peer.stop()
    assert mail.rcpts == ["tls-reports@reports.test"]
    assert mail.mail_from == ""
    msg = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "tlsrpt"
    assert msg["TLS-Report-Domain"] == "peer.test"
    assert msg["TLS-Report-Submitter"] == "mx.example.test"
    assert msg["Subject"].startswith("Report Domain: peer.test Submitter: mx.example.test ")
    (part,) = [p for p in msg.iter_attachments()
               if p.get_content_type() == "application/tlsrpt+gzip"]
    name = part.get_filename()
    assert re.fullmatch(r"mx\.example\.test!peer\.test!\d+!\d+!\S+\.json\.gz", name)
    report = json.loads(gzip.decompress(part.get_content()))
    assert set(report) == {"organization-name", "date-range", "contact-info", "report-id",
                           "policies"}
    assert report["date-range"]["start-datetime"].endswith("T00:00:00Z")
    (entry,) = report["policies"]
    assert entry["policy"] == {
        "policy-type": "sts", "policy-domain": "peer.test",
        "policy-string": ["version: STSv1", "mode: enforce", "mx: mx.peer.test",
                          "max_age: 86400"],
        "mx-host": ["mx.peer.test"]}
    assert entry["summary"] == {"total-successful-session-count": 2,
                                "total-failure-session-count": 1}
    (detail,) = entry["failure-details"]
    assert detail["result-type"] == "sts-policy-fetch-error"
    assert detail["failed-session-count"] == 1


async def _gone(run: Run, qid: int) -> bool:
    return await run.store.get_queued(qid) is None
