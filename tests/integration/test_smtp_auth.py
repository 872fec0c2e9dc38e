"""AUTH on submission (RFC 4954) over a real TLS socket: PLAIN and LOGIN with and without an
initial response, cancelling, bad base64, an authorization identity that is someone else,
and no second AUTH."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests.support.server import PASSWORD, ServerThread
from tests.support.smtp_wire import RawSmtp

ANN, BOB = "ann@example.test", "bob@example.test"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# The server must log no ERROR during any test of this module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_server_errors")


@pytest.fixture
def session(server: ServerThread) -> Iterator[RawSmtp]:
    """A 465 session after EHLO, not logged in; ann and bob exist."""
    server.add_user(ANN)
    server.add_user(BOB)
    with RawSmtp(server.port("submissions"), tls=server.client_tls()) as s:
        assert s.reply().code == 220
        assert "AUTH SCRAM-SHA-256 PLAIN LOGIN" in s.cmd("EHLO client.test").lines
        yield s


def test_plain_without_initial_response(session: RawSmtp) -> None:
    reply = session.cmd("AUTH PLAIN")
    assert (reply.code, reply.text) == (334, "")
    assert session.cmd(b64(f"\0{ANN}\0{PASSWORD}")).code == 235
    reply = session.cmd("AUTH PLAIN " + b64(f"\0{ANN}\0{PASSWORD}"))
    assert (reply.code, reply.enhanced) == (503, "5.5.1"), reply  # once per session
    assert session.cmd(f"MAIL FROM:<{ANN}>").code == 250


def test_login_mechanism(session: RawSmtp) -> None:
    assert session.cmd("AUTH LOGIN").lines == (b64("Username:"),)
    assert session.cmd(b64(ANN)).lines == (b64("Password:"),)
    reply = session.cmd(b64(PASSWORD))
    assert (reply.code, reply.enhanced) == (235, "2.7.0"), reply


def test_login_with_initial_response(session: RawSmtp) -> None:
    assert session.cmd("AUTH LOGIN " + b64(ANN)).lines == (b64("Password:"),)
    assert session.cmd(b64(PASSWORD)).code == 235


def test_login_wrong_password(session: RawSmtp) -> None:
    session.cmd("AUTH LOGIN " + b64(ANN))
    reply = session.cmd(b64("nope"))
    assert (reply.code, reply.enhanced) == (535, "5.7.8"), reply
    assert session.cmd(f"MAIL FROM:<{ANN}>").code == 530


@pytest.mark.parametrize(("answer", "code", "enhanced"), [
    ("*", 501, "5.7.0"),       # cancelled (RFC 4954 4)
    ("!!!not base64", 501, "5.5.2"),
])
def test_exchange_ends_on_cancel_or_bad_base64(session: RawSmtp, answer: str, code: int,
                                               enhanced: str) -> None:
    assert session.cmd("AUTH PLAIN").code == 334
    reply = session.cmd(answer)
    assert (reply.code, reply.enhanced) == (code, enhanced), reply
    assert session.cmd("NOOP").code == 250  # back in command mode
    assert session.cmd("AUTH PLAIN " + b64(f"\0{ANN}\0{PASSWORD}")).code == 235


def test_authorization_identity_of_another_user_is_refused(session: RawSmtp) -> None:
    reply = session.cmd("AUTH PLAIN " + b64(f"{BOB}\0{ANN}\0{PASSWORD}"))
    assert (reply.code, reply.enhanced) == (535, "5.7.8"), reply
    assert session.cmd(f"MAIL FROM:<{BOB}>").code == 530


def test_authorization_identity_of_oneself_and_address_case(session: RawSmtp) -> None:
    reply = session.cmd("AUTH PLAIN " + b64(f"{ANN}\0ANN@Example.TEST\0{PASSWORD}"))
    assert reply.code == 235, reply
    assert session.cmd(f"MAIL FROM:<{ANN}>").code == 250


@pytest.mark.parametrize("mechanism", ["CRAM-MD5", "SCRAM-SHA-256-PLUS", "XOAUTH2"])
def test_mechanisms_not_offered_are_504(session: RawSmtp, mechanism: str) -> None:
    reply = session.cmd(f"AUTH {mechanism}")
    assert (reply.code, reply.enhanced) == (504, "5.5.4"), reply


def test_malformed_plain_message_is_named_as_such(session: RawSmtp) -> None:
    """Valid base64 that is no PLAIN message (RFC 4616 2: two NULs) is not a base64 error."""
    reply = session.cmd("AUTH PLAIN =")
    assert (reply.code, reply.enhanced) == (501, "5.5.2"), reply
    assert "Malformed" in reply.text
    assert session.cmd("AUTH PLAIN " + b64(f"\0{ANN}\0{PASSWORD}")).code == 235


@pytest.mark.parametrize("initial", ["!!!!", "AGE"])  # not base64; bad padding
def test_initial_response_that_is_not_base64(session: RawSmtp, initial: str) -> None:
    """Decided by the SASL mechanism now (the core hands the response over as sent)."""
    reply = session.cmd(f"AUTH PLAIN {initial}")
    assert (reply.code, reply.enhanced) == (501, "5.5.2"), reply
    assert "Cannot decode base64" in reply.text
    assert session.cmd("AUTH PLAIN " + b64(f"\0{ANN}\0{PASSWORD}")).code == 235


def test_login_with_either_form_of_an_internationalized_domain(server: ServerThread,
                                                               session: RawSmtp) -> None:
    # Accounts are stored with A-labels (`posthouse user add jo@bücher.test`); the user may
    # type the domain in Unicode (IDNA 2008, UTS 46 mapping: case folded).
    server.add_user("jo@xn--bcher-kva.test")
    assert session.cmd("AUTH PLAIN " + b64(f"\0jo@Bücher.test\0{PASSWORD}")).code == 235


def test_login_with_the_a_label_form(server: ServerThread, session: RawSmtp) -> None:
    server.add_user("jo@xn--bcher-kva.test")
    assert session.cmd("AUTH PLAIN " + b64(f"\0jo@xn--bcher-kva.test\0{PASSWORD}")).code == 235
