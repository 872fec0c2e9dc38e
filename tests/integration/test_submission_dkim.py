"""A local user's submission is DKIM-signed for every recipient, local or remote, once each;
mail from outside is never signed by us (delivery/submission_dkim.py, queue/prepare.py)."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.jmap import JmapTestClient, imap_login
from tests.support.peer_smtp import PeerSmtp
from tests.support.server import ServerThread
from tests.support.signing import dkim_valid, signing_config
from tests.support.smtp_wire import Outgoing, submit

ALICE, BOB, FAR = "alice@example.test", "bob@example.test", "far@remote.example"
SUBMISSION = "urn:ietf:params:jmap:submission"
USING = ("urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", SUBMISSION)

# The server must log no ERROR during any test of this module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_server_errors")


@pytest.fixture
def server(tmp_path: Path, peer: PeerSmtp) -> Iterator[ServerThread]:
    with ServerThread(signing_config(tmp_path / "data", peer.port)) as srv:
        srv.add_user(ALICE)
        srv.add_user(BOB)
        yield srv


def message(subject: str) -> bytes:
    return (b"From: Alice <alice@example.test>\r\nTo: bob@example.test, far@remote.example\r\n"
            b"Subject: " + subject.encode() + b"\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
            b"Message-ID: <" + subject.encode() + b"@client.test>\r\n\r\nHello there.\r\n")


def imap_inbox(server: ServerThread, user: str) -> list[bytes]:
    """Every message of the user's INBOX as an IMAP client fetches it."""
    client = imap_login(server, user)
    try:
        client.select("INBOX", readonly=True)
        _typ, data = client.uid("SEARCH", "ALL")
        found = []
        for uid in data[0].split():
            _typ, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
            found.append(bytes(parts[0][1]))
        return found
    finally:
        client.logout()


def header_of(data: bytes) -> bytes:
    return data.partition(b"\r\n\r\n")[0]


def assert_signed_once(server: ServerThread, data: bytes) -> None:
    """One DKIM-Signature of ours (d=example.test), which dkimpy verifies."""
    assert header_of(data).count(b"DKIM-Signature:") == 1, header_of(data)
    assert b"d=example.test;" in header_of(data)
    assert dkim_valid(server, data)


def test_port_587_signs_the_local_copy_and_the_relayed_one_once_each(
        server: ServerThread, peer: PeerSmtp) -> None:
    submit(server, "smtplib", "submission", ALICE,
           [Outgoing((BOB, FAR), message("both"))])
    (local,) = imap_inbox(server, BOB)
    assert_signed_once(server, local)
    assert local.startswith(b"Return-Path: <alice@example.test>\r\nReceived: ")
    (relayed,) = peer.wait_accepted(1)
    assert relayed.rcpts == [FAR]
    assert_signed_once(server, relayed.data)


def test_port_587_mail_only_for_remote_recipients_is_signed_once_at_relay(
        server: ServerThread, peer: PeerSmtp) -> None:
    submit(server, "smtplib", "submissions", ALICE, [Outgoing((FAR,), message("far"))])
    (relayed,) = peer.wait_accepted(1)
    assert relayed.data.startswith(b"DKIM-Signature:")  # the worker signs on top
    assert_signed_once(server, relayed.data)


def identity_id(client: JmapTestClient) -> str:
    (response,) = client.calls(
        ["Identity/get", {"accountId": client.account_id}, "i"], using=USING)
    return str(response[1]["list"][0]["id"])


def send(client: JmapTestClient, obj: dict[str, Any]) -> list[list[Any]]:
    """Email/set create, then EmailSubmission/set moving the draft to Sent."""
    boxes = {m["name"]: m["id"] for m in client.call("Mailbox/get", {})["list"]}
    account = client.account_id
    obj = {"mailboxIds": {boxes["Drafts"]: True}, "keywords": {"$draft": True}, **obj}
    return client.calls(
        ["Email/set", {"accountId": account, "create": {"draft": obj}}, "0"],
        ["EmailSubmission/set", {
            "accountId": account,
            "create": {"send": {"identityId": identity_id(client), "emailId": "#draft"}},
            "onSuccessUpdateEmail": {"#send": {
                f"mailboxIds/{boxes['Drafts']}": None, f"mailboxIds/{boxes['Sent']}": True,
                "keywords/$draft": None}}}, "1"],
        using=USING)


def test_jmap_submission_signs_the_local_copy_and_the_relayed_one_once_each(
        server: ServerThread, peer: PeerSmtp) -> None:
    alice = JmapTestClient(server, ALICE)
    responses = send(alice, {
        "from": [{"email": ALICE}], "to": [{"email": BOB}, {"email": FAR}],
        "subject": "from the webmail", "bodyValues": {"t": {"value": "Hello there."}},
        "textBody": [{"partId": "t", "type": "text/plain"}]})
    assert responses[1][1]["created"]["send"]["undoStatus"] == "final"
    (local,) = imap_inbox(server, BOB)
    assert_signed_once(server, local)
    (relayed,) = peer.wait_accepted(1)
    assert_signed_once(server, relayed.data)


def test_a_local_recipient_over_quota_leaves_one_signature_on_the_relayed_copy(
        server: ServerThread, peer: PeerSmtp) -> None:
    """Signed at submission for carol, who is then left out (over quota at the commit): the
    queue entry holds the signed bytes alone and the worker sends them as they are."""
    server.add_user("carol@example.test", quota_bytes=100)
    alice = JmapTestClient(server, ALICE)
    responses = send(alice, {
        "from": [{"email": ALICE}], "to": [{"email": "carol@example.test"}, {"email": FAR}],
        "subject": "quota", "bodyValues": {"t": {"value": "Hello there."}},
        "textBody": [{"partId": "t", "type": "text/plain"}]})
    assert responses[1][1]["created"]["send"]["undoStatus"] == "final"
    (relayed,) = peer.wait_accepted(1)
    assert relayed.rcpts == [FAR]
    assert_signed_once(server, relayed.data)
    assert server.inbox("carol@example.test") == []


def test_port_25_mail_from_outside_is_not_signed(server: ServerThread) -> None:
    sent = (b"From: Stranger <someone@elsewhere.test>\r\nTo: bob@example.test\r\n"
            b"Subject: hi\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
            b"Message-ID: <in@elsewhere.test>\r\n\r\nHello.\r\n")
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as client:
        assert client.sendmail("someone@elsewhere.test", [BOB], sent) == {}
    (stored,) = imap_inbox(server, BOB)
    assert b"DKIM-Signature" not in stored
    assert stored.endswith(sent)
