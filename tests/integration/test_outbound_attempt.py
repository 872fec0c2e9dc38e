"""Delivery attempts (connect, EHLO, STARTTLS, AUTH, transactions) against scripted peers."""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posthouse.config import QueueConfig
from posthouse.dns.dnspython import DnsPythonResolver
from posthouse.queue.attempt import SmtpHopConnection, Timeouts
from posthouse.queue.connect import Connector, default_tls_contexts
from posthouse.queue.jobs import Job, Kind, RecipientOutcome
from posthouse.queue.mx import Routing
from posthouse.store.models import (
    OutboundEnvelope,
    OutboundRecipient,
    QueuedMessage,
    QueuedRecipient,
    RecipientState,
)
from tests.support.dnsserver import DnsServer
from tests.support.peer_smtp import PeerSmtp, self_signed

T0 = datetime(2030, 1, 1, tzinfo=UTC)
DATA = b"From: a@example.test\r\nSubject: hi\r\n\r\nhello\r\n.leading dot\r\n"
FAST = Timeouts(connect=2, greeting=2, command=2, data_start=2, data_block=2, data_end=2,
                quit=1)


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer({
        "peer.test": {"MX": ["10 mx1.peer.test.", "20 mx2.peer.test."]},
        "mx1.peer.test": {"A": ["127.0.0.1"]},
        "mx2.peer.test": {"A": ["127.0.0.1"]},
        "null.test": {"MX": ["0 ."]},
        "relay.test": {"A": ["127.0.0.1"]},
    }).start()
    yield server
    server.stop()


def connector(dns_server: DnsServer, port: int, *, contexts: object = None,
              **cfg: object) -> Connector:
    qcfg = QueueConfig(outbound_port=port, **cfg)  # type: ignore[arg-type]
    routing = Routing(qcfg, DnsPythonResolver(dns_server.address, timeout=2), "mx.example.test",
                      random.Random(0))
    return Connector(routing, "mx.example.test", FAST,
                     contexts or default_tls_contexts())  # type: ignore[arg-type]


def make_job(*addresses: str, data: bytes = DATA, queue_id: int = 1,
             **env: object) -> Job:
    notify: tuple[str, ...] = env.pop("notify", ())  # type: ignore[assignment]
    orcpt: str | None = env.pop("orcpt", None)  # type: ignore[assignment]
    rcpts = tuple(QueuedRecipient(queue_id * 100 + i, a, RecipientState.PENDING, notify, orcpt,
                                  None, 0) for i, a in enumerate(addresses, start=1))
    envelope = OutboundEnvelope("a@example.test",
                                tuple(OutboundRecipient(r.address) for r in rcpts),
                                **env)  # type: ignore[arg-type]
    message = QueuedMessage(queue_id, "blob", len(data), envelope, rcpts, T0, T0, 0, None,
                            False, False)
    reported: list[tuple[int, RecipientOutcome]] = []

    async def reporter(rcpt: QueuedRecipient, outcome: RecipientOutcome) -> None:
        reported.append((rcpt.id, outcome))

    return Job(message, "peer.test", rcpts, data, reporter)


async def deliver(conn: Connector, jobs: list[Job], domain: str = "peer.test",
                  ) -> RecipientOutcome | list[bool]:
    """Open one session and send every job over it (RSET between only when needed)."""
    opened = await conn(domain)
    if isinstance(opened, RecipientOutcome):
        return opened
    assert isinstance(opened, SmtpHopConnection)
    results = []
    try:
        for i, job in enumerate(jobs):
            if i:
                assert await opened.reset()
            results.append(await opened.send(job))
    finally:
        await opened.close()
    return results


def kinds(job: Job) -> dict[str, tuple[Kind, str]]:
    by_id = {r.id: r.address for r in job.recipients}
    return {by_id[i]: (o.kind, o.status) for i, o in job.outcomes.items()}


def test_two_messages_over_one_pipelined_connection(dns_server: DnsServer,
                                                    peer: PeerSmtp) -> None:
    jobs = [make_job("b@peer.test", "c@peer.test"), make_job("d@peer.test", queue_id=2)]
    assert asyncio.run(deliver(connector(dns_server, peer.port), jobs)) == [True, True]
    assert peer.connections == 1
    got = peer.accepted()
    assert [m.rcpts for m in got] == [["b@peer.test", "c@peer.test"], ["d@peer.test"]]
    assert got[0].data == DATA  # dot-stuffed on the wire, unstuffed by the peer
    assert f"SIZE={len(DATA)}" in got[0].mail_params
    # RFC 5321 4.1.4: the reply after the data ended the first transaction; no RSET needed
    assert "RSET" not in peer.commands
    assert peer.commands[0] == "EHLO mx.example.test"
    outcome = jobs[0].outcomes[101]
    assert (outcome.kind, outcome.remote_mta, outcome.text) == (
        Kind.DELIVERED, "mx1.peer.test", "250 2.0.0 queued")


def test_without_pipelining_commands_wait_for_replies(dns_server: DnsServer) -> None:
    peer = PeerSmtp(extensions=("8BITMIME",)).start()
    try:
        job = make_job("b@peer.test", "c@peer.test")
        peer.rcpt_replies["c@peer.test"] = "550 5.1.1 no such user"
        assert asyncio.run(deliver(connector(dns_server, peer.port), [job])) == [True]
        assert kinds(job) == {"b@peer.test": (Kind.DELIVERED, "2.0.0"),
                              "c@peer.test": (Kind.PERMANENT, "5.1.1")}
        assert [m.rcpts for m in peer.accepted()] == [["b@peer.test"]]
        assert "SIZE" not in " ".join(peer.accepted()[0].mail_params)
    finally:
        peer.stop()


def test_rset_after_a_transaction_left_open(dns_server: DnsServer) -> None:
    """Without pipelining, a transaction whose recipients were all refused never got to
    DATA: MAIL is still in effect at the server, so RSET comes before the next MAIL."""
    peer = PeerSmtp(extensions=("8BITMIME",)).start()
    try:
        peer.rcpt_replies["c@peer.test"] = "550 5.1.1 no such user"
        jobs = [make_job("c@peer.test"), make_job("b@peer.test", queue_id=2),
                make_job("d@peer.test", queue_id=3)]
        assert asyncio.run(deliver(connector(dns_server, peer.port), jobs)) == [True] * 3
        assert [m.rcpts for m in peer.accepted()] == [["b@peer.test"], ["d@peer.test"]]
        assert peer.commands.count("RSET") == 1  # after the open one, not after a complete one
        assert peer.commands[peer.commands.index("RSET") - 1] == "RCPT TO:<c@peer.test>"
    finally:
        peer.stop()


def test_rcpt_and_data_failures(dns_server: DnsServer, peer: PeerSmtp) -> None:
    peer.rcpt_replies["b@peer.test"] = ["452 4.2.2 mailbox busy"]
    peer.replies["MESSAGE"] = ["554 5.6.0 content rejected"]
    job = make_job("b@peer.test", "c@peer.test")
    asyncio.run(deliver(connector(dns_server, peer.port), [job]))
    assert kinds(job) == {"b@peer.test": (Kind.TRANSIENT, "4.2.2"),
                          "c@peer.test": (Kind.PERMANENT, "5.6.0")}
    assert job.outcomes[102].text == "554 5.6.0 content rejected"
    assert job.outcomes[102].remote_reply


def test_all_recipients_refused_sends_no_content(dns_server: DnsServer, peer: PeerSmtp) -> None:
    peer.rcpt_replies["b@peer.test"] = "550 5.1.1 unknown"
    job = make_job("b@peer.test")
    assert asyncio.run(deliver(connector(dns_server, peer.port), [job])) == [True]
    assert peer.messages == []
    assert kinds(job) == {"b@peer.test": (Kind.PERMANENT, "5.1.1")}


def test_mail_refused_fails_every_recipient(dns_server: DnsServer, peer: PeerSmtp) -> None:
    peer.replies["MAIL"] = ["451 4.7.1 greylisted"]
    job = make_job("b@peer.test", "c@peer.test")
    asyncio.run(deliver(connector(dns_server, peer.port), [job]))
    assert kinds(job) == {"b@peer.test": (Kind.TRANSIENT, "4.7.1"),
                          "c@peer.test": (Kind.TRANSIENT, "4.7.1")}
    assert peer.messages == []


def test_dsn_parameters_are_passed_on(dns_server: DnsServer, peer: PeerSmtp) -> None:
    job = make_job("b@peer.test", notify=("SUCCESS", "FAILURE"),
                   orcpt="rfc822;x+y=z@example.test", ret="HDRS", envid="id 1")
    asyncio.run(deliver(connector(dns_server, peer.port), [job]))
    got = peer.accepted()[0]
    assert got.mail_params == [f"SIZE={len(DATA)}", "RET=HDRS", "ENVID=id+201"]
    assert got.rcpt_params["b@peer.test"] == ["NOTIFY=SUCCESS,FAILURE",
                                              "ORCPT=rfc822;x+2By+3Dz@example.test"]
    assert job.outcomes[101].dsn_passed


def test_missing_smtputf8_fails_only_those_recipients(dns_server: DnsServer) -> None:
    peer = PeerSmtp(extensions=("PIPELINING", "8BITMIME")).start()
    try:
        job = make_job("b@peer.test", "jörg@peer.test", smtputf8=True)
        asyncio.run(deliver(connector(dns_server, peer.port), [job]))
        assert kinds(job) == {"b@peer.test": (Kind.DELIVERED, "2.0.0"),
                              "jörg@peer.test": (Kind.PERMANENT, "5.6.7")}
        assert peer.accepted()[0].mail_params == []
    finally:
        peer.stop()


def test_smtputf8_offered(dns_server: DnsServer, peer: PeerSmtp) -> None:
    data = "From: Jörg <j@example.test>\r\nSubject: Grüße\r\n\r\nhallo\r\n".encode()
    job = make_job("jörg@peer.test", data=data)
    asyncio.run(deliver(connector(dns_server, peer.port), [job]))
    got = peer.accepted()[0]
    assert got.rcpts == ["jörg@peer.test"]
    assert got.data == data
    assert "SMTPUTF8" in got.mail_params
    assert "BODY=8BITMIME" in got.mail_params


def test_opportunistic_starttls_with_self_signed_cert(dns_server: DnsServer,
                                                      tmp_path: Path) -> None:
    ctx, _cert = self_signed(tmp_path, "mx1.peer.test")
    peer = PeerSmtp(tls=ctx).start()
    try:
        job = make_job("b@peer.test")
        asyncio.run(deliver(connector(dns_server, peer.port), [job]))
        got = peer.accepted()[0]
        assert got.tls
        assert peer.commands.count("EHLO mx.example.test") == 2  # again after TLS (RFC 3207)
    finally:
        peer.stop()


def test_broken_tls_falls_back_to_plaintext(dns_server: DnsServer, tmp_path: Path) -> None:
    """RFC 7435: opportunistic TLS must not make mail undeliverable."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # no certificate: every handshake fails
    peer = PeerSmtp(tls=ctx).start()
    try:
        job = make_job("b@peer.test")
        asyncio.run(deliver(connector(dns_server, peer.port), [job]))
        assert [m.tls for m in peer.accepted()] == [False]
        assert peer.connections == 2
    finally:
        peer.stop()


def _trusting(cafile: Path) -> object:
    trusted = ssl.create_default_context(cafile=str(cafile))

    def contexts(verify: bool) -> ssl.SSLContext:
        return trusted

    return contexts


def test_smarthost_starttls_verified_with_auth(dns_server: DnsServer, tmp_path: Path) -> None:
    ctx, cert = self_signed(tmp_path, "relay.test")
    peer = PeerSmtp(tls=ctx, auth=("relayuser", "s3cret")).start()
    try:
        conn = connector(dns_server, 25, contexts=_trusting(cert),
                         smarthost=f"relay.test:{peer.port}", smarthost_user="relayuser",
                         smarthost_password="s3cret")
        job = make_job("b@elsewhere.test")
        assert asyncio.run(deliver(conn, [job], "elsewhere.test")) == [True]
        got = peer.accepted()[0]
        assert (got.tls, got.auth) == (True, "relayuser")
    finally:
        peer.stop()


def test_smarthost_with_unverifiable_certificate_is_not_used(dns_server: DnsServer,
                                                             tmp_path: Path) -> None:
    ctx, _cert = self_signed(tmp_path, "relay.test")
    peer = PeerSmtp(tls=ctx, auth=("u", "p")).start()
    try:
        conn = connector(dns_server, 25, smarthost=f"relay.test:{peer.port}",
                         smarthost_user="u", smarthost_password="p")
        got = asyncio.run(deliver(conn, [make_job("b@elsewhere.test")], "elsewhere.test"))
        assert isinstance(got, RecipientOutcome)
        assert (got.kind, got.status) == (Kind.TRANSIENT, "4.7.5")
        assert peer.messages == []
    finally:
        peer.stop()


def test_smarthost_implicit_tls_and_bad_password(dns_server: DnsServer, tmp_path: Path) -> None:
    ctx, cert = self_signed(tmp_path, "relay.test")
    peer = PeerSmtp(tls=ctx, implicit_tls=True, auth=("u", "right")).start()
    try:
        conn = connector(dns_server, 25, contexts=_trusting(cert),
                         smarthost=f"relay.test:{peer.port}", smarthost_tls="implicit",
                         smarthost_user="u", smarthost_password="wrong")
        got = asyncio.run(deliver(conn, [make_job("b@x.test")], "x.test"))
        assert isinstance(got, RecipientOutcome)
        assert (got.kind, got.status) == (Kind.TRANSIENT, "5.7.8")  # retried, not bounced
        conn.routing.config = replace(conn.routing.config, smarthost_password="right")
        assert asyncio.run(deliver(conn, [make_job("b@x.test")], "x.test")) == [True]
        assert peer.accepted()[0].tls
    finally:
        peer.stop()


def test_required_tls_without_starttls(dns_server: DnsServer, peer: PeerSmtp) -> None:
    conn = connector(dns_server, 25, smarthost=f"127.0.0.1:{peer.port}")
    got = asyncio.run(deliver(conn, [make_job("b@x.test")], "x.test"))
    assert isinstance(got, RecipientOutcome)
    assert got.status == "4.7.10"


def test_greeting_refused_tries_the_next_mx(dns_server: DnsServer, peer: PeerSmtp) -> None:
    peer.replies["GREETING"] = ["554 5.3.2 not now"]
    job = make_job("b@peer.test")
    assert asyncio.run(deliver(connector(dns_server, peer.port), [job])) == [True]
    assert peer.connections == 2
    assert job.outcomes[101].remote_mta == "mx2.peer.test"


def test_nobody_listening_is_transient(dns_server: DnsServer) -> None:
    closed = PeerSmtp().start()
    port = closed.port
    closed.stop()
    got = asyncio.run(deliver(connector(dns_server, port), [make_job("b@peer.test")]))
    assert isinstance(got, RecipientOutcome)
    assert (got.kind, got.status) == (Kind.TRANSIENT, "4.4.1")
    assert "mx2.peer.test" in got.text  # every MX was tried


def test_null_mx_needs_no_connection(dns_server: DnsServer) -> None:
    got = asyncio.run(deliver(connector(dns_server, 1), [make_job("b@null.test")], "null.test"))
    assert isinstance(got, RecipientOutcome)
    assert (got.kind, got.status) == (Kind.PERMANENT, "5.1.10")


def test_connection_lost_after_data(dns_server: DnsServer, peer: PeerSmtp) -> None:
    peer.replies["MESSAGE"] = ["CLOSE"]
    job = make_job("b@peer.test")
    assert asyncio.run(deliver(connector(dns_server, peer.port), [job])) == [False]
    assert kinds(job) == {"b@peer.test": (Kind.TRANSIENT, "4.4.2")}


def test_silent_server_times_out(dns_server: DnsServer, peer: PeerSmtp) -> None:
    peer.replies["MESSAGE"] = ["HANG"]
    conn = connector(dns_server, peer.port)
    conn.timeouts = replace(FAST, data_end=0.3)
    job = make_job("b@peer.test")
    assert asyncio.run(deliver(conn, [job])) == [False]
    assert kinds(job) == {"b@peer.test": (Kind.TRANSIENT, "4.4.2")}
