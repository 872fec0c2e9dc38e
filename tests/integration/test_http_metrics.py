"""/metrics in the Prometheus text format, parsed by prometheus_client's own parser, with
counters that move when mail flows and users log in; /healthz and /readyz."""

from __future__ import annotations

import dataclasses
import http.client
import imaplib
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from posthouse.config import QueueConfig
from posthouse.store.models import OutboundEnvelope, OutboundRecipient
from tests.support.dnsserver import DnsServer
from tests.support.peer_smtp import PeerSmtp
from tests.support.server import PASSWORD, ServerThread, make_config

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer({"peer.test": {"MX": ["10 mx.peer.test."]},
                        "mx.peer.test": {"A": ["127.0.0.1"]}}).start()
    yield server
    server.stop()


def scrape(srv: ServerThread) -> Samples:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port("http"), timeout=30)
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    assert resp.status == 200
    assert (resp.getheader("Content-Type") or "").startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_counters_move_when_mail_flows(tmp_path: Path, dns_server: DnsServer,
                                       peer: PeerSmtp) -> None:
    cfg = make_config(tmp_path / "data")
    cfg = dataclasses.replace(cfg, queue=QueueConfig(resolver=dns_server.address,
                                                     outbound_port=peer.port))
    with ServerThread(cfg) as srv:
        user = srv.add_user("alice@example.test")
        before = scrape(srv)
        assert value(before, "posthouse_messages_received_total", protocol="smtp") == 0
        assert value(before, "posthouse_queue_messages") == 0

        with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=30) as smtp:
            smtp.sendmail("someone@peer.test", ["alice@example.test"],
                          b"Subject: one\r\n\r\nhello\r\n")
        ctx = srv.client_tls()
        with imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=ctx) as imap, \
                pytest.raises(imaplib.IMAP4.error):
            imap.login("alice@example.test", "wrong password")
        with imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=ctx) as imap:
            imap.login("alice@example.test", PASSWORD)
            imap.select("INBOX")
            imap.fetch("1", "(BODY.PEEK[])")
            imap.logout()

        peer.rcpt_replies["carol@peer.test"] = "550 5.1.1 unknown"
        envelope = OutboundEnvelope("alice@example.test", (
            OutboundRecipient("bob@peer.test"), OutboundRecipient("carol@peer.test")),
            sender_user_id=user.id)
        srv.call(srv.store.enqueue(b"From: alice@example.test\r\nSubject: out\r\n\r\nx\r\n",
                                   envelope))
        queued = scrape(srv)
        assert value(queued, "posthouse_queue_messages") == 1
        assert value(queued, "posthouse_queue_oldest_age_seconds") >= 0
        srv.loop.call_soon_threadsafe(srv.app.queue_worker.wake)  # type: ignore[union-attr]
        peer.wait_accepted(1)
        wait_for(lambda: srv.call(srv.store.list_queue()) == [])

        after = scrape(srv)
    assert value(after, "posthouse_messages_received_total", protocol="smtp") == 1
    assert value(after, "posthouse_messages_delivered_total") == 1
    assert value(after, "posthouse_messages_relayed_total") == 1
    assert value(after, "posthouse_messages_bounced_total") == 1
    assert value(after, "posthouse_logins_total", result="ok") == 1
    assert value(after, "posthouse_logins_total", result="failed") == 1
    assert value(after, "posthouse_connections_total", protocol="smtp") == 1
    assert value(after, "posthouse_connections_total", protocol="imaps") == 2
    assert value(after, "posthouse_connections_total", protocol="http") >= 3
    assert value(after, "posthouse_connections_open", protocol="imaps") == 0
    # the scrapes before this one (a scrape is counted once answered)
    assert value(after, "posthouse_http_requests_total", protocol="http", status="200") == 2
    assert value(after, "posthouse_queue_messages") == 0
    assert value(after, "posthouse_store_bytes") > 0
    assert value(after, "posthouse_store_commit_seconds_count") > value(
        before, "posthouse_store_commit_seconds_count")
    assert value(after, "posthouse_imap_command_seconds_count", command="LOGIN") == 2
    assert value(after, "posthouse_imap_command_seconds_count", command="FETCH") == 1
    assert value(after, "posthouse_imap_command_seconds_bucket", command="FETCH",
                 le="+Inf") == 1


def test_two_apps_keep_their_own_metrics(tmp_path: Path) -> None:
    with ServerThread(make_config(tmp_path / "a")) as one, \
            ServerThread(make_config(tmp_path / "b")) as two:
        for _ in range(3):
            scrape(one)
        assert value(scrape(one), "posthouse_connections_total", protocol="http") == 4
        assert value(scrape(two), "posthouse_connections_total", protocol="http") == 1


def test_health_and_readiness(tmp_path: Path) -> None:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        conn = http.client.HTTPSConnection("127.0.0.1", srv.port("https"),
                                           context=srv.client_tls(), timeout=30)
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"ok\n")
        conn.request("GET", "/readyz")
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"ready\n")
        assert resp.getheader("Cache-Control") == "no-store"
        conn.close()
