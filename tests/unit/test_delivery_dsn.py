"""RFC 3464 delivery status notifications, parsed back with the stdlib email package."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import Message

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posthouse.delivery.dsn import (
    DELAYED,
    FAILED,
    FULL_RETURN_LIMIT,
    RELAYED,
    RecipientReport,
    build_dsn,
    return_full,
    wants,
)
from posthouse.store.models import OutboundEnvelope, OutboundRecipient

ARRIVAL = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
NOW = datetime(2030, 1, 2, 4, 0, 0, tzinfo=UTC)
ORIGINAL = (b"Return-Path: <alice@example.test>\r\nFrom: alice@example.test\r\n"
            b"To: bob@peer.test, carol@peer.test\r\nSubject: lunch\r\n\r\nsee you at noon\r\n")


def envelope(**kw: object) -> OutboundEnvelope:
    base: dict[str, object] = {"mail_from": "alice@example.test", "recipients": (
        OutboundRecipient("bob@peer.test"), OutboundRecipient("carol@peer.test"))}
    base.update(kw)
    return OutboundEnvelope(**base)  # type: ignore[arg-type]


def failed(address: str = "bob@peer.test", **kw: object) -> RecipientReport:
    base: dict[str, object] = {
        "address": address, "action": FAILED, "status": "5.1.1",
        "remote_mta": "mx.peer.test", "diagnostic": "550 5.1.1 no such user",
        "last_attempt": NOW}
    base.update(kw)
    return RecipientReport(**base)  # type: ignore[arg-type]


def parse(data: bytes) -> Message:
    return email.message_from_bytes(data, policy=email.policy.compat32)


def parts(msg: Message) -> list[Message]:
    """The sub-parts of a multipart (or the groups of a delivery-status part)."""
    payload = msg.get_payload()
    assert isinstance(payload, list)
    found = [p for p in payload if isinstance(p, Message)]
    assert len(found) == len(payload)
    return found


def body(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def test_failure_dsn_structure_and_every_field() -> None:
    env = envelope(envid="QQ314159", ret="FULL")
    reports = [failed(orcpt="rfc822;bob@peer.test"),
               failed("carol@peer.test", status="5.2.2", diagnostic="552 5.2.2 mailbox full")]
    dsn = build_dsn(hostname="mx.example.test", envelope=env, original=ORIGINAL,
                    arrival=ARRIVAL, now=NOW, recipients=reports)
    msg = parse(dsn.data)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["From"] == "Mail Delivery System <MAILER-DAEMON@mx.example.test>"
    assert msg["To"] == "<alice@example.test>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Message-ID"].endswith("@mx.example.test>")
    human, status, returned = parts(msg)
    assert human.get_content_type() == "text/plain"
    text = body(human)
    assert b"<bob@peer.test>: host mx.peer.test said: 550 5.1.1 no such user" in text
    assert status.get_content_type() == "message/delivery-status"
    per_message, bob, carol = parts(status)
    assert per_message["Reporting-MTA"] == "dns; mx.example.test"
    assert per_message["Original-Envelope-Id"] == "QQ314159"
    assert per_message["Arrival-Date"] == "Wed, 02 Jan 2030 03:04:05 +0000"
    assert bob["Original-Recipient"] == "rfc822;bob@peer.test"
    assert bob["Final-Recipient"] == "rfc822;bob@peer.test"
    assert bob["Action"] == "failed"
    assert bob["Status"] == "5.1.1"
    assert bob["Remote-MTA"] == "dns; mx.peer.test"
    assert bob["Diagnostic-Code"] == "smtp; 550 5.1.1 no such user"
    assert bob["Last-Attempt-Date"] == "Wed, 02 Jan 2030 04:00:00 +0000"
    assert carol["Original-Recipient"] is None
    assert (carol["Status"], carol["Diagnostic-Code"]) == ("5.2.2", "smtp; 552 5.2.2 mailbox full")
    assert returned.get_content_type() == "message/rfc822"
    (inner,) = parts(returned)
    assert inner["Subject"] == "lunch"
    assert inner["Return-Path"] is None
    assert "see you at noon" in str(inner.get_payload())
    assert not dsn.eightbit
    assert not dsn.smtputf8


def test_headers_only_when_asked_and_for_large_messages() -> None:
    for env, original in ((envelope(ret="HDRS"), ORIGINAL),
                          (envelope(), ORIGINAL + b"x" * FULL_RETURN_LIMIT)):
        dsn = build_dsn(hostname="h", envelope=env, original=original, arrival=ARRIVAL,
                        now=NOW, recipients=[failed()])
        returned = parts(parse(dsn.data))[2]
        assert returned.get_content_type() == "text/rfc822-headers"
        body = returned.get_payload()
        assert isinstance(body, str)
        assert "Subject: lunch" in body
        assert "noon" not in body


def test_delay_notice_has_will_retry_until_and_no_body() -> None:
    until = datetime(2030, 1, 7, tzinfo=UTC)
    report = RecipientReport("bob@peer.test", DELAYED, "4.4.1", explanation="connection refused",
                             last_attempt=NOW, will_retry_until=until)
    dsn = build_dsn(hostname="h", envelope=envelope(ret="FULL"), original=ORIGINAL,
                    arrival=ARRIVAL, now=NOW, recipients=[report])
    msg = parse(dsn.data)
    assert msg["Subject"].startswith("Delayed Mail")
    human, status, returned = parts(msg)
    group = parts(status)[1]
    assert (group["Action"], group["Status"]) == ("delayed", "4.4.1")
    assert group["Will-Retry-Until"] == "Mon, 07 Jan 2030 00:00:00 +0000"
    assert group["Diagnostic-Code"] is None
    assert group["Remote-MTA"] is None
    assert b"connection refused" in body(human)
    assert returned.get_content_type() == "text/rfc822-headers"


def test_utf8_addresses_use_rfc6533_types() -> None:
    report = failed("jöran@peer.test")
    dsn = build_dsn(hostname="h", envelope=envelope(mail_from="ålice@example.test"),
                    original=ORIGINAL, arrival=ARRIVAL, now=NOW, recipients=[report])
    assert dsn.smtputf8
    msg = email.message_from_bytes(dsn.data, policy=email.policy.SMTPUTF8)
    types = [p.get_content_type() for p in parts(msg)]
    assert types == ["text/plain", "message/global-delivery-status", "message/global"]
    assert "Final-Recipient: utf-8;jöran@peer.test" in dsn.data.decode()


def test_controls_in_remote_text_cannot_inject_fields() -> None:
    report = failed(diagnostic="550 bad\r\nAction: delivered")
    dsn = build_dsn(hostname="h", envelope=envelope(), original=ORIGINAL, arrival=ARRIVAL,
                    now=NOW, recipients=[report])
    group = parts(parts(parse(dsn.data))[1])[1]
    assert group.get_all("Action") == ["failed"]


@given(st.text(max_size=300), st.text(max_size=60))
def test_any_remote_text_gives_a_parsable_report(diagnostic: str, mta: str) -> None:
    """Whatever a remote says, each recipient group keeps exactly its own fields."""
    report = failed(diagnostic=diagnostic or None, remote_mta=mta or None)
    dsn = build_dsn(hostname="h", envelope=envelope(), original=ORIGINAL, arrival=ARRIVAL,
                    now=NOW, recipients=[report, failed("carol@peer.test")])
    _, bob, carol = parts(parts(parse(dsn.data))[1])
    for group in (bob, carol):
        assert group.get_all("Action") == ["failed"]
        assert len(group.get_all("Final-Recipient") or []) == 1
    assert carol["Final-Recipient"] == "rfc822;carol@peer.test"


@pytest.mark.parametrize(("notify", "action", "expected"), [
    ((), FAILED, True), ((), DELAYED, False), ((), RELAYED, False),
    (("NEVER",), FAILED, False), (("SUCCESS",), FAILED, False), (("SUCCESS",), RELAYED, True),
    (("FAILURE", "DELAY"), DELAYED, True), (("failure",), FAILED, True),
])
def test_notify_rules(notify: tuple[str, ...], action: str, expected: bool) -> None:
    """RFC 3461 4.1: NEVER, SUCCESS, FAILURE, DELAY; no NOTIFY means FAILURE only here."""
    assert wants(notify, action) is expected


def test_only_failures_return_the_full_message() -> None:
    assert return_full(envelope(ret="FULL"), 10, FAILED)
    assert not return_full(envelope(ret="FULL"), 10, RELAYED)
    assert not return_full(envelope(ret="HDRS"), 10, FAILED)
    assert return_full(envelope(), 10, FAILED)
