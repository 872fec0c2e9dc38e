"""A disabled account (``posthouse user set --disabled yes``, the web admin's "Login:
disabled") logs in nowhere: IMAP LOGIN, SMTP AUTH PLAIN and SCRAM-SHA-256 fail exactly like
a wrong password; enabled again, the same password works. Its mail is still accepted."""

from __future__ import annotations

import imaplib
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import PASSWORD, ServerThread, make_config

ADDRESS = "dora@example.test"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        srv.add_user(ADDRESS, disabled=True)
        yield srv


def imap_login(srv: ServerThread) -> bool:
    with imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"),
                           ssl_context=srv.client_tls(), timeout=30) as imap:
        try:
            imap.login(ADDRESS, PASSWORD)
        except imaplib.IMAP4.error:
            return False
        return True


def smtp_login(srv: ServerThread, mechanism: str) -> bool:
    with smtplib.SMTP_SSL("127.0.0.1", srv.port("submissions"), context=srv.client_tls(),
                          timeout=30) as smtp:
        smtp.ehlo()
        try:
            if mechanism == "PLAIN":
                smtp.login(ADDRESS, PASSWORD)
            else:
                return _scram(smtp)
        except smtplib.SMTPAuthenticationError:
            return False
        return True


def _scram(smtp: smtplib.SMTP) -> bool:
    import base64

    from scramp import ScramClient

    client = ScramClient(["SCRAM-SHA-256"], ADDRESS, PASSWORD)
    first = base64.b64encode(client.get_client_first().encode()).decode()
    code, challenge = smtp.docmd("AUTH", f"SCRAM-SHA-256 {first}")
    if code != 334:
        return False
    client.set_server_first(base64.b64decode(challenge).decode())
    code, _reply = smtp.docmd(base64.b64encode(client.get_client_final().encode()).decode())
    if code == 334:  # the server's final message, then the outcome
        code, _reply = smtp.docmd("")
    return code == 235


def test_a_disabled_account_logs_in_nowhere(server: ServerThread) -> None:
    assert not imap_login(server)
    assert not smtp_login(server, "PLAIN")
    assert not smtp_login(server, "SCRAM")
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as smtp:
        smtp.sendmail("someone@elsewhere.test", [ADDRESS], b"Subject: still\r\n\r\nhere\r\n")
    assert len(server.inbox(ADDRESS)) == 1
    server.call(server.store.set_user_options(ADDRESS, disabled=False))
    assert imap_login(server)
    assert smtp_login(server, "PLAIN")
    assert smtp_login(server, "SCRAM")
