"""SCRAM-SHA-256 (RFC 5802, RFC 7677) end to end over 993, 995 and 587 after STARTTLS.

The client side is scramp's ScramClient, a real implementation that checks the server
signature itself: imaplib's AUTHENTICATE on 993, raw AUTH lines through poplib on 995 and
through smtplib on 587. A wrong password and an unknown user fail with the protocol's
ordinary authentication failure, and an account made before SCRAM secrets existed gets them
at its first PLAIN login.
"""

from __future__ import annotations

import base64
import imaplib
import poplib
import smtplib
from collections.abc import Callable

import pytest
from scramp import ScramClient

from tests.support.server import PASSWORD, ServerThread

ANN = "ann@example.test"
SCRAM = "SCRAM-SHA-256"

# The server must log no ERROR during any test of this module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_server_errors")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str | bytes) -> str:
    return base64.b64decode(text, validate=True).decode()


@pytest.fixture
def srv(server: ServerThread) -> ServerThread:
    """The server with ann, made as ``posthouse user add`` makes accounts."""
    server.add_user(ANN)
    return server


# -- the three protocols, each as its client library drives SASL ------------------------------

def imap_scram(server: ServerThread, user: str, password: str) -> ScramClient:
    """993: imaplib's AUTHENTICATE with scramp answering each "+" challenge; raises
    imaplib.IMAP4.error on NO."""
    client = ScramClient([SCRAM], user, password)
    challenges: list[bytes] = []

    def answer(challenge: bytes) -> bytes:
        challenges.append(challenge)
        if len(challenges) == 1:  # "+ ": no initial response with imaplib
            return client.get_client_first().encode()
        if len(challenges) == 2:
            client.set_server_first(challenge.decode())
            return client.get_client_final().encode()
        client.set_server_final(challenge.decode())  # checks the server signature
        return b""

    imap = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"), ssl_context=server.client_tls())
    try:
        assert f"AUTH={SCRAM}" in imap.capabilities
        typ, data = imap.authenticate(SCRAM, answer)
        assert typ == "OK", data
        assert len(challenges) == 3  # server-first, then server-final with the signature
        assert imap.select("INBOX")[0] == "OK"
    finally:
        imap.shutdown()
    return client


def pop3_scram(server: ServerThread, user: str, password: str) -> ScramClient:
    """995: AUTH with an initial response (RFC 5034 4), then raw lines; raises
    poplib.error_proto on -ERR."""
    client = ScramClient([SCRAM], user, password)
    pop = poplib.POP3_SSL("127.0.0.1", server.port("pop3s"), context=server.client_tls(),
                          timeout=10)
    try:
        assert f"SASL {SCRAM} PLAIN LOGIN" in [c.decode() for c in pop._longcmd("CAPA")[1]]
        first = pop._shortcmd(f"AUTH {SCRAM} {b64(client.get_client_first())}")
        client.set_server_first(unb64(first.removeprefix(b"+ ")))
        final = pop._shortcmd(b64(client.get_client_final()))
        client.set_server_final(unb64(final.removeprefix(b"+ ")))
        assert pop._shortcmd("").startswith(b"+OK maildrop has 0 messages")
        pop.quit()
    finally:
        pop.close()
    return client


def smtp_scram(server: ServerThread, user: str, password: str) -> ScramClient:
    """587 after STARTTLS: AUTH without an initial response, then raw lines; raises
    smtplib.SMTPAuthenticationError on 535."""
    client = ScramClient([SCRAM], user, password)
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=10) as smtp:
        smtp.ehlo("client.test")
        assert not smtp.has_extn("auth")  # no AUTH before TLS
        smtp.starttls(context=server.client_tls())
        smtp.ehlo("client.test")
        assert smtp.esmtp_features["auth"] == f" {SCRAM} PLAIN LOGIN"
        assert smtp.docmd("AUTH", SCRAM) == (334, b"")
        code, first = smtp.docmd(b64(client.get_client_first()))
        assert code == 334, first
        client.set_server_first(unb64(first))
        code, final = smtp.docmd(b64(client.get_client_final()))
        if code == 535:
            raise smtplib.SMTPAuthenticationError(code, final)
        assert code == 334, final
        client.set_server_final(unb64(final))
        assert smtp.docmd("") == (235, b"2.7.0 Authentication successful")
        assert smtp.docmd("MAIL", f"FROM:<{user}>")[0] == 250
    return client


FAILURES: list[tuple[Callable[[ServerThread, str, str], ScramClient], type[Exception], str]] = [
    (imap_scram, imaplib.IMAP4.error, "AUTHENTICATIONFAILED"),
    (pop3_scram, poplib.error_proto, r"-ERR \[AUTH\] invalid credentials"),
    (smtp_scram, smtplib.SMTPAuthenticationError, "5.7.8 Authentication credentials invalid"),
]
LOGINS = [login for login, _error, _match in FAILURES]
IDS = ["993", "995", "587"]


@pytest.mark.parametrize("login", LOGINS, ids=IDS)
def test_scram_login_with_verified_server_signature(srv: ServerThread,
                                                    login: Callable[..., ScramClient]) -> None:
    login(srv, ANN, PASSWORD)  # scramp raised if the server signature had been wrong


@pytest.mark.parametrize(("login", "error", "match"), FAILURES, ids=IDS)
@pytest.mark.parametrize("user", [ANN, "nobody@example.test"], ids=["wrong", "unknown"])
def test_wrong_password_and_unknown_user_fail_the_same_way(
        srv: ServerThread, login: Callable[..., ScramClient], error: type[Exception],
        match: str, user: str) -> None:
    with pytest.raises(error, match=match):
        login(srv, user, "not the password")


def test_account_older_than_scram_gets_secrets_at_its_first_plain_login(
        server: ServerThread) -> None:
    server.add_user(ANN, scram=False)  # as made before SCRAM secrets existed
    assert server.call(server.store.get_user(ANN)).scram_secrets is None
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap_scram(server, ANN, PASSWORD)  # fails like a wrong password
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"), ssl_context=server.client_tls())
    typ, _ = imap.authenticate("PLAIN", lambda _c: f"\0{ANN}\0{PASSWORD}".encode())
    assert typ == "OK"
    imap.logout()
    assert server.call(server.store.get_user(ANN)).scram_secrets.startswith(f"{SCRAM}$4096:")
    for login in LOGINS:
        login(server, ANN, PASSWORD)


def test_password_change_replaces_the_secrets(srv: ServerThread) -> None:
    """``posthouse user passwd`` sets both: the old password no longer works over SCRAM."""
    from posthouse.app import build_hasher
    from posthouse.auth.passwords import scram_secrets_for

    new = "a new password"
    srv.call(srv.store.set_password(ANN, build_hasher(srv.cfg).hash(new),
                                    scram_secrets=scram_secrets_for(new)))
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        pop3_scram(srv, ANN, PASSWORD)
    pop3_scram(srv, ANN, new)


def test_scram_is_offered_only_where_passwords_may_be_sent(srv: ServerThread) -> None:
    """The same channels as PLAIN and LOGIN: not on 143 or 110 before TLS (RFC 8314)."""
    from tests.support.imap import RawImap

    imap = RawImap(srv.port("imap"))
    assert b"AUTH=" not in imap.greeting
    assert imap.cmd("a", f"AUTHENTICATE {SCRAM}")[-1].startswith(b"a NO [PRIVACYREQUIRED]")
    imap.close()
    pop = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=10)
    assert not any(c.startswith(b"SASL") for c in pop._longcmd("CAPA")[1])
    with pytest.raises(poplib.error_proto, match=f"mechanism {SCRAM} not available"):
        pop._shortcmd(f"AUTH {SCRAM}")
    pop.stls(context=srv.client_tls())
    assert f"SASL {SCRAM} PLAIN LOGIN".encode() in pop._longcmd("CAPA")[1]
    pop.quit()
