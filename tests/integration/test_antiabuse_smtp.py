"""Port 25 anti-abuse over real sockets, against a loopback DNS server: DNS blocklists
(RFC 5782; 554 5.7.1 at RCPT, postmaster exempt, DNS trouble never refuses; an IPv6 client
by nibbles), rate limits (451 4.7.1 to MAIL, 452 4.5.3 to RCPT; per user on submission),
greylisting (RFC 6647: 451 4.7.1, passed after the delay, kept across a restart, skipped on
SPF pass), iprev and the HELO check in Authentication-Results (RFC 8601 2.7.3), and the
early talker (554 5.5.0 before the greeting, RFC 5321 4.3.1) with the submission ports left
unpaused."""

from __future__ import annotations

import dataclasses
import re
import smtplib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.reversename as dns_reversename
import pytest

from posthouse.config import AntiabuseConfig, ChecksConfig, DnsConfig, replace_section
from posthouse.delivery.blocklists import ip_query_name
from tests.support.dnsserver import DnsServer, txt_rdata
from tests.support.server import NO_CHECKS, PASSWORD, ServerThread, make_config

ANN = "ann@example.test"
BOB = "bob@example.test"

pytestmark = pytest.mark.usefixtures("no_server_errors")

ZONE = {
    # IP blocklists for 127.0.0.1 (RFC 5782 2.1: reversed octets under the zone)
    "1.0.0.127.zen.test": {"A": ["127.0.0.2"]},
    "1.0.0.127.quiet.test": {"A": ["127.0.0.4"]},  # mapped to "ignore" below
    "1.0.0.127.refused.test": {"A": ["127.255.255.254"]},  # "query refused", not a listing
    "1.0.0.127.wild.test": {"A": ["192.0.2.1"]},  # outside 127/8: not a listing
    # domain blocklist (RFC 5782 3.1)
    "spammer.test.dbl.test": {"A": ["127.0.1.2"]},
    "junkmail.test.dbl.test": {"A": ["127.0.1.3"]},  # mapped to "junk" below
    "badauthor.test.dbl.test": {"A": ["127.0.1.2"]},
    "spfok.test": {"TXT": [txt_rdata("v=spf1 ip4:127.0.0.0/8 -all")]},
    # iprev: 127.0.0.1 -> client.test -> 127.0.0.1
    "1.0.0.127.in-addr.arpa": {"PTR": ["client.test."]},
    "client.test": {"A": ["127.0.0.1"]},
    "liar.test": {"A": ["192.0.2.7"]},
}


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    server = DnsServer({k: dict(v) for k, v in ZONE.items()}).start()
    server.servfail.add("1.0.0.127.broken.test")
    yield server
    server.stop()


def start(tmp_path: Path, dns: DnsServer, checks: ChecksConfig = NO_CHECKS,
          smtp_listen: str = "127.0.0.1:0", **antiabuse: Any) -> ServerThread:
    antiabuse.setdefault("greet_pause_ms", 0)
    base = make_config(tmp_path / "data")
    cfg = replace_section(base, checks=checks, antiabuse=AntiabuseConfig(**antiabuse),
                          dns=DnsConfig(resolver=dns.address, timeout_seconds=2),
                          listen=dataclasses.replace(base.listen, smtp=[smtp_listen]))
    server = ServerThread(cfg).start()
    server.add_user(ANN)
    server.add_user(BOB)
    return server


@pytest.fixture
def running() -> Iterator[list[ServerThread]]:
    """Servers a test started, stopped after it."""
    servers: list[ServerThread] = []
    yield servers
    for server in servers:
        server.stop()


def message(author: str = "someone@sender.test", subject: str = "hello") -> bytes:
    return (f"From: <{author}>\r\nTo: <{ANN}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}.{time.monotonic_ns()}@sender.test>\r\n\r\n"
            f"body of {subject}\r\n").encode()


def mx(server: ServerThread, helo: str = "client.test") -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30)
    client.ehlo(helo)
    return client


def send(server: ServerThread, mail_from: str, data: bytes, rcpts: tuple[str, ...] = (ANN,),
         helo: str = "client.test") -> None:
    with mx(server, helo) as client:
        client.sendmail(mail_from, list(rcpts), data)


# -- DNS blocklists --------------------------------------------------------------------------

def test_listed_client_gets_554_at_rcpt_but_reaches_postmaster(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    server = start(tmp_path, dns, ip_blocklists=["quiet.test", "zen.test"],
                   blocklist_actions={"quiet.test:127.0.0.4": "ignore"})
    running.append(server)
    with mx(server) as client:
        assert client.mail("x@sender.test")[0] == 250
        code, text = client.rcpt(ANN)
        assert (code, text[:6]) == (554, b"5.7.1 ")
        assert b"zen.test" in text
        assert b"127.0.0.1" in text
        assert client.rcpt("postmaster@example.test")[0] == 250  # RFC 5321 4.5.1
    assert server.inbox(ANN) == []


def test_dns_failures_and_non_listing_answers_never_refuse(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    server = start(tmp_path, dns,
                   ip_blocklists=["broken.test", "refused.test", "wild.test", "none.test"])
    running.append(server)
    send(server, "x@sender.test", message())
    assert len(server.inbox(ANN)) == 1
    assert ("1.0.0.127.broken.test", "A") in dns.queries


def test_domain_blocklist_refuses_sender_files_junk_and_checks_the_author(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    server = start(tmp_path, dns, domain_blocklists=["dbl.test"],
                   blocklist_actions={"dbl.test:127.0.1.3": "junk"})
    running.append(server)
    with mx(server) as client:
        client.mail("x@spammer.test")
        code, text = client.rcpt(ANN)
        assert code == 554
        assert b"sender domain spammer.test" in text
    send(server, "x@junkmail.test", message(subject="junked"))
    assert len(server.inbox(ANN, "Junk")) == 1
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(server, "x@sender.test", message("ceo@badauthor.test"))
    assert refused.value.smtp_code == 554
    assert b"badauthor.test" in refused.value.smtp_error
    assert server.inbox(ANN) == []


# -- rate limits -----------------------------------------------------------------------------

def test_messages_per_client_address_get_451_at_mail(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    server = start(tmp_path, dns, ip_messages_per_window=2)
    running.append(server)
    send(server, "a@sender.test", message(subject="one"))
    send(server, "b@sender.test", message(subject="two"))
    with mx(server) as client:
        code, text = client.mail("c@sender.test")
    assert (code, text[:6]) == (451, b"4.7.1 ")
    assert len(server.inbox(ANN)) == 2


def test_recipients_per_window_get_452_at_rcpt(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    server = start(tmp_path, dns, ip_recipients_per_window=3)
    running.append(server)
    with mx(server) as client:
        client.mail("a@sender.test")
        assert [client.rcpt(r)[0] for r in (ANN, BOB, ANN)] == [250, 250, 250]
        code, text = client.rcpt(BOB)
        assert (code, text[:6]) == (452, b"4.5.3 ")  # RFC 3463: too many recipients
        code, _ = client.data(message())
        assert code == 250  # the accepted recipients still get it


def test_messages_per_sender_are_counted_per_address(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    server = start(tmp_path, dns, sender_messages_per_window=1)
    running.append(server)
    send(server, "a@sender.test", message(subject="first"))
    with mx(server) as client:
        assert client.mail("a@sender.test")[0] == 451
        client.rset()
        assert client.mail("b@sender.test")[0] == 250


def test_submission_is_limited_per_user(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    server = start(tmp_path, dns, user_messages_per_window=1, ip_blocklists=["zen.test"])
    running.append(server)
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as client:
        client.ehlo("laptop")
        client.starttls(context=server.client_tls())
        client.login(BOB, PASSWORD)
        # not filtered: the listed loopback address may submit
        client.sendmail(BOB, [ANN], message(BOB, "submitted"))
        code, text = client.mail(BOB)
        assert (code, text[:6]) == (451, b"4.7.1 ")
    assert len(server.inbox(ANN)) == 1


# -- greylisting (RFC 6647) ------------------------------------------------------------------

def test_greylisting_defers_then_passes_and_whitelists_the_client(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    server = start(tmp_path, dns, greylist=True, greylist_delay_seconds=1)
    running.append(server)
    with mx(server) as client:
        client.mail("a@sender.test")
        code, text = client.rcpt(ANN)
        assert (code, text[:6]) == (451, b"4.7.1 ")
        assert b"Greylisted" in text
        client.rset()
        client.mail("a@sender.test")
        assert client.rcpt(ANN)[0] == 451  # too early: still waiting
    time.sleep(1.2)
    send(server, "a@sender.test", message(subject="retried"))
    assert len(server.inbox(ANN)) == 1
    # RFC 6647 4.2: a client that passed is let in for new triplets too
    send(server, "other@elsewhere.test", message(subject="new triplet"), rcpts=(BOB,))
    assert len(server.inbox(BOB)) == 1


def test_greylist_survives_a_restart(tmp_path: Path, dns: DnsServer) -> None:
    server = start(tmp_path, dns, greylist=True, greylist_delay_seconds=1)
    try:
        with mx(server) as client:
            client.mail("a@sender.test")
            assert client.rcpt(ANN)[0] == 451
    finally:
        server.stop()
    assert (tmp_path / "data" / "greylist.json").exists()
    time.sleep(1.2)
    again = ServerThread(server.cfg).start()
    try:
        send(again, "a@sender.test", message(subject="after restart"))
        assert len(again.inbox(ANN)) == 1
    finally:
        again.stop()


def test_greylisting_skips_spf_pass(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    checks = dataclasses.replace(NO_CHECKS, spf=True)
    server = start(tmp_path, dns, checks=checks, greylist=True, greylist_delay_seconds=60)
    running.append(server)
    send(server, "a@spfok.test", message("a@spfok.test", "spf passes"))
    assert len(server.inbox(ANN)) == 1
    with mx(server) as client:
        client.mail("a@sender.test")  # no SPF record: greylisted
        assert client.rcpt(ANN)[0] == 451


# -- iprev and HELO (RFC 8601 2.7.3) ---------------------------------------------------------

def auth_results(stored: bytes) -> str:
    head = stored.split(b"\r\n\r\n", 1)[0].decode()
    field = next(f for f in re.split(r"\r\n(?![ \t])", head)
                 if f.lower().startswith("authentication-results:"))
    return " ".join(field.split())


IPREV_ONLY = dataclasses.replace(NO_CHECKS, iprev=True)


def test_iprev_pass_with_matching_helo(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    server = start(tmp_path, dns, checks=IPREV_ONLY)
    running.append(server)
    send(server, "a@sender.test", message())
    assert auth_results(server.inbox(ANN)[-1]) == (
        "Authentication-Results: mx.example.test; "
        "iprev=pass policy.iprev=127.0.0.1 (client.test; helo client.test matches)")


def test_iprev_fail_temperror_permerror_and_helo_notes(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    dns.records["1.0.0.127.in-addr.arpa"] = {"PTR": ["liar.test."]}
    server = start(tmp_path, dns, checks=IPREV_ONLY)
    running.append(server)
    send(server, "a@sender.test", message(subject="a"), helo="nowhere.test")
    assert "iprev=fail policy.iprev=127.0.0.1 (helo nowhere.test does not resolve)" in \
        auth_results(server.inbox(ANN)[-1])
    running.append(second := start(tmp_path / "b", _servfail_ptr(dns), checks=IPREV_ONLY))
    send(second, "a@sender.test", message(subject="b"), helo="liar.test")
    assert "iprev=temperror policy.iprev=127.0.0.1 (helo liar.test resolves elsewhere)" in \
        auth_results(second.inbox(ANN)[-1])
    del dns.records["1.0.0.127.in-addr.arpa"]
    dns.servfail.clear()
    running.append(third := start(tmp_path / "c", dns, checks=IPREV_ONLY))
    send(third, "a@sender.test", message(subject="c"), helo="[127.0.0.1]")
    assert "iprev=permerror policy.iprev=127.0.0.1 (helo [127.0.0.1] matches)" in \
        auth_results(third.inbox(ANN)[-1])


def test_ipv6_client_is_looked_up_by_nibbles_and_passes_iprev(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    try:
        socket.socket(socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 here")
    dns.records[ip_query_name("::1", "zen.test")] = {"A": ["127.0.0.2"]}  # RFC 5782 2.4
    ptr = dns_reversename.from_address("::1").to_text(omit_final_dot=True)
    dns.records[ptr] = {"PTR": ["client6.test."]}
    dns.records["client6.test"] = {"AAAA": ["::1"]}
    server = start(tmp_path, dns, checks=IPREV_ONLY, smtp_listen="[::1]:0",
                   ip_blocklists=["zen.test"])
    running.append(server)
    with smtplib.SMTP("::1", server.port("smtp"), timeout=30) as client:
        client.ehlo("client6.test")
        client.mail("a@sender.test")
        code, text = client.rcpt(ANN)
        assert code == 554
        assert b"address ::1 listed by zen.test" in text
        assert client.rcpt("postmaster@example.test")[0] == 250
        assert client.data(message(subject="six"))[0] == 250
    # RFC 8601 2.2: ":" is no token character, so the address is quoted
    assert 'iprev=pass policy.iprev="::1" (client6.test; helo client6.test matches)' in \
        auth_results(server.inbox(ANN)[-1])  # postmaster is ann, the domain's first user


def _servfail_ptr(dns: DnsServer) -> DnsServer:
    dns.servfail.add("1.0.0.127.in-addr.arpa")
    return dns


# -- early talker (RFC 5321 4.3.1) -----------------------------------------------------------

def test_early_talker_gets_554_and_is_closed(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    server = start(tmp_path, dns, greet_pause_ms=400)
    running.append(server)
    with socket.create_connection(("127.0.0.1", server.port("smtp")), timeout=10) as sock:
        sock.sendall(b"EHLO eager.test\r\nMAIL FROM:<a@sender.test>\r\n")
        answer = sock.recv(4096)
        assert answer.startswith(b"554 5.5.0 ")
        assert sock.recv(4096) == b""  # closed
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port("smtp")), timeout=10) as sock:
        assert sock.recv(4096).startswith(b"220 ")
    assert time.monotonic() - began >= 0.35  # a patient client is greeted after the pause


def test_submission_ports_are_not_paused(
        tmp_path: Path, dns: DnsServer, running: list[ServerThread]) -> None:
    server = start(tmp_path, dns, greet_pause_ms=2000)
    running.append(server)
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port("submission")),
                                  timeout=10) as sock:
        assert sock.recv(4096).startswith(b"220 ")
    assert time.monotonic() - began < 1.0
