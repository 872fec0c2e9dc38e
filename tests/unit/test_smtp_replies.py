"""Reply values and their wire form (RFC 5321 4.2, RFC 2034, RFC 3463)."""

from __future__ import annotations

import base64

import pytest

from posthouse.sasl import Challenge
from posthouse.smtp import replies
from posthouse.smtp.replies import Reply
from posthouse.wire import LocalProtocolError


def test_single_line_with_enhanced_code() -> None:
    assert Reply(250, "2.1.5", "OK").render() == b"250 2.1.5 OK\r\n"


def test_enhanced_code_left_out_when_not_in_force() -> None:
    assert Reply(250, "2.1.5", "OK").render(enhanced=False) == b"250 OK\r\n"


def test_multi_line_puts_enhanced_code_on_every_line() -> None:
    reply = Reply(214, "2.0.0", ["one", "two", "three"])
    assert reply.render() == b"214-2.0.0 one\r\n214-2.0.0 two\r\n214 2.0.0 three\r\n"


def test_list_text_is_stored_as_tuple_and_hashable() -> None:
    reply = Reply(250, None, ["a", "b"])
    assert reply.text == ("a", "b")
    assert hash(reply) == hash(Reply(250, None, ("a", "b")))
    assert Reply(250, None, ["one"]) == Reply(250, None, "one")  # one line is a str


def test_intermediate_replies_never_carry_enhanced_codes() -> None:
    # RFC 3463 classes are 2, 4 and 5 only; 334 must be exactly "334 base64".
    assert replies.auth_challenge(Challenge(b"hi")).render() == b"334 aGk=\r\n"
    assert replies.auth_challenge(Challenge(b"")).render() == b"334 \r\n"
    # the wire text is the challenge's base64 text as is (once auth_challenge_encoded)
    assert replies.auth_challenge(Challenge(base64.b64decode(b"aGk="))).render() == b"334 aGk=\r\n"
    assert replies.start_mail_input().render().startswith(b"354 End data")


@pytest.mark.parametrize("code", [199, 600, 0, 1000])
def test_code_out_of_range(code: int) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(code, None, "x")


@pytest.mark.parametrize("enhanced", ["2.0", "2.0.0.0", "3.0.0", "x.1.1", "2.1000.0", " 2.0.0"])
def test_bad_enhanced_code(enhanced: str) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(250, enhanced, "x")


def test_enhanced_class_must_match_code() -> None:
    with pytest.raises(LocalProtocolError):
        Reply(550, "4.1.1", "x")


@pytest.mark.parametrize("text", ["a\r\nb", "a\nb", "a\rb", ["ok", "x\n"]])
def test_text_with_line_breaks_is_refused(text: str | list[str]) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(250, None, text)


def test_empty_line_list_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        Reply(250, None, [])


def test_overlong_line_is_refused_at_render() -> None:
    reply = Reply(250, None, "x" * 600)
    with pytest.raises(LocalProtocolError):
        reply.render()


def test_reply_classes() -> None:
    assert replies.ok().is_success
    assert replies.start_mail_input().is_intermediate
    assert replies.too_many_recipients().is_transient
    assert replies.message_too_big().is_permanent


def test_str_is_readable() -> None:
    assert str(Reply(550, "5.1.1", ["a", "b"])) == "550 5.1.1 a / b"
    assert str(Reply(220, None, "x")) == "220 x"


@pytest.mark.parametrize(
    ("make", "code", "enhanced"),
    [
        (replies.ok, 250, "2.0.0"),
        (replies.sender_ok, 250, "2.1.0"),
        (replies.recipient_ok, 250, "2.1.5"),
        (replies.message_accepted, 250, "2.0.0"),
        (replies.help_text, 214, "2.0.0"),
        (replies.cannot_verify, 252, "2.1.5"),
        (replies.start_mail_input, 354, None),
        (replies.syntax_error, 500, "5.5.2"),
        (replies.line_too_long, 500, "5.5.2"),
        (replies.unknown_command, 500, "5.5.1"),
        (replies.param_syntax, 501, "5.5.4"),
        (replies.not_implemented, 502, "5.5.1"),
        (replies.bad_sequence, 503, "5.5.1"),
        (replies.param_unknown, 555, "5.5.4"),
        (replies.bad_sender_syntax, 501, "5.1.7"),
        (replies.bad_recipient_syntax, 501, "5.1.3"),
        (replies.utf8_not_permitted, 553, "5.6.7"),
        (replies.no_such_user, 550, "5.1.1"),
        (replies.relay_denied, 554, "5.7.1"),
        (replies.too_many_recipients, 452, "4.5.3"),
        (replies.no_valid_recipients, 554, "5.5.1"),
        (replies.message_too_big, 552, "5.3.4"),
        (replies.bare_newline, 550, "5.6.0"),
        (replies.temporary_failure, 451, "4.3.0"),
        (replies.local_error, 451, "4.3.0"),
        (replies.mailbox_full_temporary, 452, "4.2.2"),
        (replies.storage_full, 452, "4.3.1"),
        (replies.mailbox_full, 552, "5.2.2"),
        (replies.ready_to_start_tls, 220, "2.0.0"),
        (replies.tls_not_available, 454, "4.7.0"),
        (replies.encryption_required, 530, "5.7.0"),
        (replies.auth_succeeded, 235, "2.7.0"),
        (replies.auth_failed, 535, "5.7.8"),
        (replies.auth_temporary_failure, 454, "4.7.0"),
        (replies.auth_cancelled, 501, "5.7.0"),
        (replies.auth_bad_base64, 501, "5.5.2"),
        (replies.auth_malformed, 501, "5.5.2"),
        (replies.auth_unknown_mechanism, 504, "5.5.4"),
        (replies.auth_required, 530, "5.7.0"),
    ],
)
def test_standard_reply_table(make: object, code: int, enhanced: str | None) -> None:
    assert callable(make)
    reply = make()
    assert isinstance(reply, Reply)
    assert (reply.code, reply.enhanced) == (code, enhanced)
    assert reply.render().endswith(b"\r\n")


@pytest.mark.parametrize(
    ("make", "code"),
    [(replies.greeting, 220), (replies.closing, 221), (replies.shutting_down, 421),
     (replies.timeout, 421), (replies.too_many_errors, 421)],
)
def test_connection_replies_name_the_host(make: object, code: int) -> None:
    assert callable(make)
    reply = make("mx.example.org")
    assert reply.code == code
    assert "mx.example.org" in reply.lines[0]


def test_chunk_received_states_size() -> None:
    assert replies.chunk_received(42).render() == b"250 2.0.0 42 octets received\r\n"


def test_replies_the_adapter_sends_keep_their_bytes() -> None:
    assert replies.sender_not_owned("a@b.example", "c@b.example").render() == (
        b"553 5.7.1 Sender address <a@b.example> not owned by c@b.example\r\n")
    assert replies.local_error().render() == (
        b"451 4.3.0 Local error in processing, try again later\r\n")
    assert replies.mailbox_full_temporary().render() == (
        b"452 4.2.2 Mailbox full, try again later\r\n")
    assert replies.auth_malformed().render() == (
        b"501 5.5.2 Malformed authentication response\r\n")
