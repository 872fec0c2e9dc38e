"""Remote recipients are queued durably, with their DSN parameters (RFC 3461) kept end to end:
MAIL RET/ENVID and RCPT NOTIFY/ORCPT from smtplib and aiosmtplib, through the store queue,
across a server restart. The outbound worker's smarthost is a closed port, so every attempt
is deferred and the queue entries stay where the test can read them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import smtplib
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest

from posthouse.config import Config, QueueConfig
from posthouse.store.models import OutboundRecipient, QueuedMessage
from tests.support.peers import free_port
from tests.support.server import PASSWORD, ServerThread, make_config
from tests.support.smtp_wire import RawSmtp, closed, strip_trace

ANN, BOB = "ann@example.test", "bob@example.test"
MSG = (b"From: ann@example.test\r\nTo: x@remote.test\r\nSubject: out\r\n"
       b"Date: Tue, 03 Feb 2026 10:00:00 +0100\r\nMessage-ID: <out@client.test>\r\n\r\nhi\r\n")


# The server must log no ERROR during any test of this module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_server_errors")


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    """Every remote delivery goes to a smarthost that refuses connections: always deferred."""
    base = make_config(tmp_path / "data")
    return dataclasses.replace(base, queue=QueueConfig(
        smarthost=f"127.0.0.1:{free_port()}", smarthost_tls="none",
        retry_initial_seconds=3600))


@pytest.fixture
def relay(cfg: Config) -> Iterator[ServerThread]:
    srv = ServerThread(cfg).start()
    try:
        srv.add_user(ANN)
        srv.add_user(BOB)
        yield srv
    finally:
        srv.stop()


def queue(server: ServerThread) -> list[QueuedMessage]:
    return list(server.call(server.store.list_queue()))


def test_smtplib_dsn_parameters_are_queued(relay: ServerThread) -> None:
    with smtplib.SMTP("127.0.0.1", relay.port("submission"), timeout=30) as client:
        client.starttls(context=relay.client_tls())
        client.login(ANN, PASSWORD)
        client.mail(ANN, ["RET=HDRS", "ENVID=QQ+2B314", "BODY=8BITMIME"])
        for rcpt, options in [
            ("carol@remote.test", ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;carol+2Bx@remote.test"]),
            ("dave@other.test", ["NOTIFY=NEVER"]),
            ("erin@remote.test", []),
            (BOB, ["NOTIFY=DELAY"]),  # local: delivered now, not queued
        ]:
            assert client.rcpt(rcpt, options)[0] == 250
        assert client.data(MSG)[0] == 250
    (entry,) = queue(relay)
    env = entry.envelope
    assert (env.mail_from, env.ret, env.envid, env.body) == (ANN, "HDRS", "QQ+314", "8BITMIME")
    assert env.sender_user_id == relay.call(relay.store.get_user(ANN)).id
    assert env.recipients == (
        OutboundRecipient("carol@remote.test", ("SUCCESS", "FAILURE"),
                          "rfc822;carol+x@remote.test"),
        OutboundRecipient("dave@other.test", ("NEVER",), None),
        OutboundRecipient("erin@remote.test", (), None),
    )
    assert [(r.address, r.notify, r.orcpt) for r in entry.recipients] == [
        (r.address, r.notify, r.orcpt) for r in env.recipients]
    assert [strip_trace(m) for m in relay.inbox(BOB)] == [MSG]
    # The queued copy is the same message; the queue drops a local Return-Path when relaying.
    queued = relay.call(relay.store.read_blob(entry.blob_id))
    assert queued.endswith(MSG)
    assert b"with ESMTPSA" in queued[: len(queued) - len(MSG)]


async def _send_over_465(server: ServerThread) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port("submissions"),
                             use_tls=True, tls_context=server.client_tls())
    async with client:
        sock = client.get_transport_info("socket")
        await client.login(ANN, PASSWORD)
        errors, _ = await client.sendmail(
            ANN, ["zed@remote.test"], MSG.replace(b"Message-ID: <out@client.test>\r\n", b""),
            mail_options=["RET=FULL", "ENVID=abc"],
            rcpt_options=["NOTIFY=FAILURE,DELAY", "ORCPT=rfc822;zed@remote.test"])
        assert errors == {}
    await closed(sock)


def test_aiosmtplib_over_465_is_queued_and_survives_a_restart(cfg: Config) -> None:
    first = ServerThread(cfg).start()
    try:
        first.add_user(ANN)
        asyncio.run(_send_over_465(first))
    finally:
        first.stop()
    again = ServerThread(cfg).start()  # the same data directory, a new store instance
    try:
        (entry,) = queue(again)
        queued = again.call(again.store.read_blob(entry.blob_id))
    finally:
        again.stop()
    assert (entry.envelope.ret, entry.envelope.envid) == ("FULL", "abc")
    assert entry.envelope.recipients == (
        OutboundRecipient("zed@remote.test", ("FAILURE", "DELAY"), "rfc822;zed@remote.test"),)
    assert b"\r\nMessage-ID: <" in queued  # RFC 6409 8.3 applies to the queued copy too


def test_alias_to_a_remote_target_is_queued_with_orcpt(relay: ServerThread) -> None:
    """Forwarding on port 25: the alias is the original recipient (RFC 3461 4.2)."""
    relay.call(relay.store.add_alias("fwd@example.test", [BOB, "bob@elsewhere.test"]))
    with smtplib.SMTP("127.0.0.1", relay.port("smtp"), timeout=30) as client:
        refused = client.sendmail("peer@remote.test", ["fwd@example.test"], MSG,
                                  rcpt_options=["NOTIFY=SUCCESS"])
        assert refused == {}
    (entry,) = queue(relay)
    assert entry.envelope.mail_from == "peer@remote.test"
    assert entry.envelope.sender_user_id is None
    assert entry.envelope.recipients == (
        OutboundRecipient("bob@elsewhere.test", ("SUCCESS",), "rfc822;fwd@example.test"),)
    assert [strip_trace(m) for m in relay.inbox(BOB)] == [MSG]


@pytest.mark.parametrize(("command", "code"), [
    ("RCPT TO:<x@remote.test> NOTIFY=NEVER,SUCCESS", 501),
    ("RCPT TO:<x@remote.test> NOTIFY=SOMETIMES", 501),
    ("RCPT TO:<x@remote.test> NOTIFY=SUCCESS NOTIFY=FAILURE", 555),
    ("RCPT TO:<x@remote.test> ORCPT=x@remote.test", 501),
    ("RCPT TO:<x@remote.test> ORCPT=rfc822;bad+ZZxtext", 501),
    ("RCPT TO:<x@remote.test> FOO=BAR", 555),
])
def test_bad_dsn_parameters_are_refused(relay: ServerThread, command: str, code: int) -> None:
    with RawSmtp(relay.port("submissions"), tls=relay.client_tls()) as s:
        assert s.reply().code == 220
        assert "DSN" in s.cmd("EHLO client.test").lines
        assert s.login(ANN).code == 235
        assert s.cmd(f"MAIL FROM:<{ANN}>").code == 250
        reply = s.cmd(command)
        assert reply.code == code, reply
        assert reply.enhanced == "5.5.4"
        assert s.cmd("RCPT TO:<x@remote.test> NOTIFY=never").code == 250  # case-insensitive
    assert queue(relay) == []


@pytest.mark.parametrize(("params", "code"), [
    ("RET=SOME", 501), ("ENVID=" + "x" * 101, 501), ("RET=FULL RET=HDRS", 555),
    ("ENVID=a+4", 501),
])
def test_bad_mail_dsn_parameters_are_refused(relay: ServerThread, params: str,
                                             code: int) -> None:
    with RawSmtp(relay.port("smtp")) as s:
        assert s.reply().code == 220
        s.cmd("EHLO client.test")
        reply = s.cmd(f"MAIL FROM:<peer@remote.test> {params}")
        assert reply.code == code, reply
        assert s.cmd("MAIL FROM:<peer@remote.test> RET=hdrs ENVID=ok").code == 250
