"""What MAIL/RCPT carry for a next hop's capabilities (SIZE, 8BITMIME, SMTPUTF8, DSN)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from posthouse.delivery.headers import strip_return_path
from posthouse.queue.content import ascii_address
from posthouse.queue.envelope import plan_transaction
from posthouse.queue.jobs import Job, Kind, RecipientOutcome
from posthouse.smtp.params import Orcpt
from posthouse.smtp.reply_reader import Capabilities
from posthouse.store.models import (
    OutboundEnvelope,
    OutboundRecipient,
    QueuedMessage,
    QueuedRecipient,
    RecipientState,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)
ASCII = b"From: a@example.test\r\nSubject: hi\r\n\r\nhello\r\n"


def caps(*keywords: str, size: int | None = None) -> Capabilities:
    return Capabilities(frozenset(keywords), size)


async def _ignore(rcpt: QueuedRecipient, outcome: RecipientOutcome) -> None:
    return None


def job(*addresses: str, data: bytes = ASCII, mail_from: str = "a@example.test",
        notify: tuple[str, ...] = (), orcpt: str | None = None, **env: object) -> Job:
    rcpts = tuple(QueuedRecipient(i, a, RecipientState.PENDING, notify, orcpt, None, 0)
                  for i, a in enumerate(addresses or ("b@peer.test",), start=1))
    envelope = OutboundEnvelope(mail_from, tuple(OutboundRecipient(r.address) for r in rcpts),
                                **env)  # type: ignore[arg-type]
    message = QueuedMessage(1, "blob", len(data), envelope, rcpts, T0, T0, 0, None, False, False)
    return Job(message, "peer.test", rcpts, data, _ignore)


def refused(plan_refused: list[tuple[QueuedRecipient, RecipientOutcome]]) -> list[tuple[str, str]]:
    assert all(o.kind is Kind.PERMANENT for _, o in plan_refused)
    return [(r.address, o.status) for r, o in plan_refused]


def test_plain_ascii_message() -> None:
    plan = plan_transaction(job(), caps("PIPELINING", "SIZE"))
    assert plan.sender is not None
    assert plan.sender.text == "a@example.test"
    assert [a.text for _, a, _, _ in plan.rcpts] == ["b@peer.test"]
    assert (plan.size, plan.body, plan.smtputf8, plan.refused) == (len(ASCII), None, False, [])


def test_null_sender() -> None:
    assert plan_transaction(job(mail_from=""), caps()).sender is None


def test_too_big_for_the_hop() -> None:
    """RFC 1870: a message above the announced SIZE fails at once with 5.3.4."""
    plan = plan_transaction(job("b@peer.test", "c@peer.test"), caps("SIZE", size=10))
    assert plan.rcpts == []
    assert refused(plan.refused) == [("b@peer.test", "5.3.4"), ("c@peer.test", "5.3.4")]


def test_8bit_content() -> None:
    data = "From: a@example.test\r\n\r\nGrüße\r\n".encode()
    assert plan_transaction(job(data=data, body="8BITMIME"), caps("8BITMIME")).body == "8BITMIME"
    # undeclared 8-bit content is labelled when the hop can take it
    assert plan_transaction(job(data=data), caps("8BITMIME")).body == "8BITMIME"
    # RFC 6152 3: declared 8-bit content to a hop without 8BITMIME is not sent
    assert refused(plan_transaction(job(data=data, body="8BITMIME"), caps()).refused) == [
        ("b@peer.test", "5.6.3")]
    assert plan_transaction(job(data=data), caps()).refused == []


def test_binarymime_needs_chunking() -> None:
    plan = plan_transaction(job(body="BINARYMIME"), caps("BINARYMIME", "CHUNKING"))
    assert (plan.body, plan.bdat) == ("BINARYMIME", True)
    assert refused(plan_transaction(job(body="BINARYMIME"), caps("BINARYMIME")).refused) == [
        ("b@peer.test", "5.6.3")]


def test_smtputf8_only_for_recipients_that_need_it() -> None:
    """RFC 6531: an IDN domain becomes A-labels; a UTF-8 local part cannot be sent."""
    plan = plan_transaction(job("b@peer.test", "jörg@peer.test", "c@bücher.test"), caps())
    assert [a.text for _, a, _, _ in plan.rcpts] == ["b@peer.test", "c@xn--bcher-kva.test"]
    assert refused(plan.refused) == [("jörg@peer.test", "5.6.7")]
    assert not plan.smtputf8
    plan = plan_transaction(job("jörg@peer.test"), caps("SMTPUTF8"))
    assert [a.text for _, a, _, _ in plan.rcpts] == ["jörg@peer.test"]
    assert plan.smtputf8


def test_utf8_header_or_sender_fails_everything_without_smtputf8() -> None:
    data = "From: Jörg <j@example.test>\r\n\r\nx\r\n".encode()
    assert refused(plan_transaction(job(data=data), caps()).refused) == [("b@peer.test", "5.6.7")]
    assert plan_transaction(job(data=data), caps("SMTPUTF8")).smtputf8
    assert refused(plan_transaction(job(mail_from="jörg@example.test"), caps()).refused) == [
        ("b@peer.test", "5.6.7")]


def test_declared_smtputf8_is_passed_on_when_offered() -> None:
    assert plan_transaction(job(smtputf8=True), caps("SMTPUTF8")).smtputf8
    assert not plan_transaction(job(smtputf8=True), caps()).smtputf8  # all ASCII: not needed


def test_dsn_parameters_only_to_a_dsn_hop() -> None:
    j = job(notify=("SUCCESS", "FAILURE"), orcpt="rfc822;list@example.test", ret="HDRS",
            envid="ENV1")
    plan = plan_transaction(j, caps("DSN"))
    (_, _, notify, orcpt), = plan.rcpts
    assert notify == ("SUCCESS", "FAILURE")
    assert orcpt == Orcpt("rfc822", "list@example.test")
    assert (plan.ret, plan.envid, plan.dsn) == ("HDRS", "ENV1", True)
    plan = plan_transaction(j, caps())
    assert plan.rcpts[0][2:] == ((), None)
    assert (plan.ret, plan.envid, plan.dsn) == (None, None, False)


def test_bad_addresses() -> None:
    plan = plan_transaction(job("not an address", "b@peer.test"), caps())
    assert refused(plan.refused) == [("not an address", "5.1.3")]
    assert refused(plan_transaction(job(mail_from="bad address"), caps()).refused) == [
        ("b@peer.test", "5.1.7")]


def test_strip_leading_return_path_only() -> None:
    """RFC 5321 4.4: Return-Path is for final delivery; a relay does not send it."""
    data = b"Return-Path: <a@example.test>\r\nFrom: a\r\nReturn-Path: <kept>\r\n\r\nx\r\n"
    assert strip_return_path(data) == b"From: a\r\nReturn-Path: <kept>\r\n\r\nx\r\n"
    folded = b"return-path:\r\n <a@example.test>\r\nFrom: a\r\n\r\n"
    assert strip_return_path(folded) == b"From: a\r\n\r\n"
    assert strip_return_path(b"From: a\r\n\r\n") == b"From: a\r\n\r\n"


@given(st.binary(max_size=200).filter(lambda rest: not rest.startswith((b" ", b"\t"))))
def test_only_a_leading_return_path_is_ever_removed(rest: bytes) -> None:
    # rest starting with SP or HTAB would continue the Return-Path field (RFC 5322 2.2.3)
    assert strip_return_path(b"Return-Path: <a@b.test>\r\n" + rest) == (
        strip_return_path(rest) if rest.lower().startswith(b"return-path") else rest)
    if not rest.lower().startswith(b"return-path"):
        assert strip_return_path(rest) == rest


def test_ascii_address() -> None:
    assert ascii_address("b@Bücher.test") == "b@xn--bcher-kva.test"
    assert ascii_address("jörg@peer.test") is None
    assert ascii_address("b@peer.test") == "b@peer.test"
