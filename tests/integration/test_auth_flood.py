"""Issue 12, defect 1: a wrong-password flood locked real users out. Password hashing ran two
at a time behind an unbounded queue: a real user's first login waited 48.9 s behind 200
flooding addresses, and hashing went on for clients that had hung up.

Now the hash scheduler (auth/scheduler.py) bounds the waiting per source and in all, refuses
past the bounds with the protocol's temporary error (SMTP 454 4.7.0, RFC 4954 6; IMAP NO
[UNAVAILABLE], RFC 5530 3; POP3 -ERR [SYS/TEMP], RFC 3206 4), serves fresh addresses first,
and drops the work of clients that left. Everything here goes over real sockets; flooding
hosts are distinct 127/8 source addresses. The real user's latency is printed, never
asserted: the tests assert that the login succeeds while the flood runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posthouse.auth.passwords import PasswordHasher
from tests.support.login_flood import (
    Flood,
    Gate,
    LineClient,
    TimedLogin,
    imap_authenticate,
    kind,
    open_imap,
    open_pop3,
    open_smtp,
    pop3_auth,
    pop3_login,
    smtp_auth,
    source_addresses,
    timed_login,
)
from tests.support.server import PASSWORD, ServerThread, make_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FLOOD_PORTS = ("imap", "submission", "pop3")
WRONG = "not the password"


@contextlib.contextmanager
def server(tmp_path: Path, **auth: Any) -> Iterator[ServerThread]:
    """Every listener on 127.0.0.1; passwords in plaintext from loopback."""
    cfg = make_config(tmp_path / "data", allow_plaintext_on_loopback=True, **auth)
    with ServerThread(cfg) as srv:
        yield srv


def report(title: str, logins: list[TimedLogin], counts: Any) -> None:
    """Print the real user's figures (pytest -s shows them; nothing is asserted on them)."""
    print(f"\n{title}")
    for login in logins:
        print(f"  {login.protocol:<10} login {login.seconds * 1000:8.1f} ms, from connect "
              f"{login.total * 1000:8.1f} ms  {login.reply[:60]!r}")
    print(f"  flood replies: {dict(counts)}")


def test_a_real_user_logs_in_during_a_wrong_password_flood(tmp_path: Path) -> None:
    """40 addresses x 3 connections guess passwords of a real account over IMAP LOGIN, SMTP
    AUTH and POP3 with the production argon2 cost. Once the flood gets temporary errors
    (the hash queue is full), two users from fresh addresses log in: first uncached (a
    hash), then cached (none). Before the fix no temporary error ever came and the users
    waited behind the whole queue."""
    with server(tmp_path, argon2_time_cost=2, argon2_memory_kib=65536,
                argon2_parallelism=2) as srv:
        srv.add_user("alice@example.test")
        srv.add_user("bob@example.test")
        ports = {proto: srv.port(proto) for proto in FLOOD_PORTS}
        flood = Flood(ports, source_addresses(40, block=20), per_source=3,
                      user="alice@example.test").start()
        try:
            assert flood.wait_for("busy", 10), f"the flood never saturated: {flood.counts}"
            fresh = source_addresses(4, block=99)
            logins = [
                timed_login("imap", ports["imap"], fresh[0], "alice@example.test", PASSWORD),
                timed_login("submission", ports["submission"], fresh[1], "bob@example.test",
                            PASSWORD),
                timed_login("submission", ports["submission"], fresh[2],
                            "alice@example.test", PASSWORD),
                timed_login("imap", ports["imap"], fresh[3], "bob@example.test", PASSWORD),
            ]
            still_busy = flood.counts["busy"]
        finally:
            counts = flood.stop()
        report("real users during the flood (uncached IMAP, uncached SMTP, cached SMTP, "
               "cached IMAP):", logins, counts)
        assert [kind(login.reply) for login in logins] == ["ok"] * 4, logins
        assert still_busy > 10, "the flood had stopped saturating"
        assert counts["other"] == 0, counts


def _hold_both_slots(ports: dict[str, int], gate: Gate) -> list[LineClient]:
    """Two wrong logins whose verifications the gate holds (the default two slots)."""
    holders = []
    for source in source_addresses(2, block=30):
        client = open_imap(ports["imap"], source)
        client.send(f'l LOGIN "alice@example.test" "{WRONG}"'.encode())
        holders.append(client)
    assert gate.wait_started(2), "the holders' verifications never started"
    return holders


def test_logins_of_clients_that_hung_up_are_never_hashed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twelve clients send a login while both hash slots are busy and hang up half a second
    later (as in the issue). Before the fix each was still verified once a slot freed (the
    count of verifications was 2 + 12 + 1); now only the holders and the probe are."""
    gate = Gate()
    monkeypatch.setattr(PasswordHasher, "verify", gate.wrap(PasswordHasher.verify))
    with server(tmp_path) as srv:
        srv.add_user("alice@example.test")
        ports = {proto: srv.port(proto) for proto in FLOOD_PORTS}
        holders = _hold_both_slots(ports, gate)
        leavers = []
        for i, source in enumerate(source_addresses(12, block=31)):
            proto = FLOOD_PORTS[i % 3]
            client = {"imap": open_imap, "submission": open_smtp,
                      "pop3": open_pop3}[proto](ports[proto], source)
            if proto == "imap":
                client.send(f'l LOGIN "alice@example.test" "{WRONG}"'.encode())
            elif proto == "submission":
                client.send(b"AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABub3QgdGhlIHBhc3N3b3Jk")
            else:
                client.send(b"USER alice@example.test\r\nPASS " + WRONG.encode())
            leavers.append(client)
        time.sleep(0.5)
        for client in leavers:
            client.close()
        _wait_until_nothing_queued(srv)
        gate.open()
        for client in holders:
            assert kind(client.line()) == "rejected"
            client.close()
        # A last login from a fresh address: on the old code it queued behind the leavers.
        probe = timed_login("imap", ports["imap"], "127.32.0.1", "alice@example.test", WRONG)
        assert kind(probe.reply) == "rejected", probe
        assert gate.started == 3, f"{gate.started - 3} logins of gone clients were hashed"


def _wait_until_nothing_queued(srv: ServerThread, bound: float = 15.0) -> None:
    """Until the server has seen every leaver go (its scheduler's queue is empty)."""
    assert srv.app.services is not None
    scheduler = getattr(srv.app.services.authenticator, "scheduler", None)
    deadline = time.monotonic() + bound
    while scheduler is not None and scheduler.queued and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_full_queue_gets_each_protocols_temporary_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no room to wait (both bounds 0) and both slots held, every way to send a password
    is refused at once with its temporary error, nothing is hashed, and a cached login still
    succeeds."""
    with server(tmp_path, max_queued_hashes_per_source=0, max_queued_hashes=0) as srv:
        srv.add_user("alice@example.test")
        ports = {proto: srv.port(proto) for proto in FLOOD_PORTS}
        first = timed_login("imap", ports["imap"], "127.40.0.1", "alice@example.test",
                            PASSWORD)
        assert kind(first.reply) == "ok", first  # now in the verification cache
        gate = Gate()
        monkeypatch.setattr(PasswordHasher, "verify", gate.wrap(PasswordHasher.verify))
        holders = _hold_both_slots(ports, gate)
        clients: list[LineClient] = []
        try:
            source = "127.41.0.1"
            clients += [open_imap(ports["imap"], source), open_smtp(ports["submission"], source),
                        open_pop3(ports["pop3"], source), open_pop3(ports["pop3"], source),
                        open_smtp(ports["submission"], "127.41.0.2")]
            imap, smtp_client, pop3_client, pop3_sasl_client, cached_client = clients
            login = imap_login_reply(imap)
            authenticate = imap_authenticate(imap, "alice@example.test", WRONG)
            smtp = smtp_auth(smtp_client, "alice@example.test", WRONG)
            pop3 = pop3_login(pop3_client, "alice@example.test", WRONG)
            pop3_sasl = pop3_auth(pop3_sasl_client, "alice@example.test", WRONG)
            cached = smtp_auth(cached_client, "alice@example.test", PASSWORD)
        finally:
            gate.open()
            for client in clients:
                client.close()
        assert login.startswith(b"l NO [UNAVAILABLE]"), login
        assert authenticate.startswith(b"a NO [UNAVAILABLE]"), authenticate
        assert smtp.startswith(b"454 4.7.0"), smtp
        assert pop3.startswith(b"-ERR [SYS/TEMP]"), pop3
        assert pop3_sasl.startswith(b"-ERR [SYS/TEMP]"), pop3_sasl
        assert cached.startswith(b"235 "), cached
        for client in holders:
            assert kind(client.line()) == "rejected"
            client.close()
        assert gate.started == 2  # the holders only


def imap_login_reply(client: LineClient) -> bytes:
    client.send(f'l LOGIN "alice@example.test" "{WRONG}"'.encode())
    while True:
        line = client.line()
        if line.startswith(b"l "):
            return line
