"""A MIME parameter whose name starts with NUL crashed the MIME parser (found by tests/fuzz).

``merge_rfc2231`` marked RFC 2231 sections in its ordering list by prefixing a NUL to the
name, so a plain parameter written ``\\0a=b`` was taken for a section and looked up in the
wrong table: ``KeyError`` out of ``parse_content_type``, so out of ``summarize`` for every
message carrying such a Content-Type or Content-Disposition. Parameter names are whatever the
sender wrote; none may be mistaken for parser bookkeeping.
"""

from __future__ import annotations

import imaplib
import smtplib

import pytest

from posthouse.message.params import parse_content_type, parse_disposition
from posthouse.message.summary import summarize
from tests.support.server import PASSWORD, ServerThread

ANN = "ann@example.test"

MESSAGE = (
    b"From: eve@remote.test\r\nTo: ann@example.test\r\nSubject: nul param\r\n"
    b"Content-Type: text/plain; \x00charset=utf-8; \x00x*0=a\r\n"
    b"Content-Disposition: inline; \x00filename=x\r\n\r\nhello\r\n"
)


@pytest.mark.parametrize("name", ["\x00a", "\x00", "\x00a*0", "\x01a", "a\x00"])
def test_control_character_names_are_plain_names(name: str) -> None:
    parsed = parse_content_type(f"text/plain; {name}=b; c=d")
    assert parsed is not None
    assert ("c", "d") in parsed[2]
    assert parse_disposition(f"attachment; {name}=b") is not None


def test_nul_name_and_its_sections_keep_first_one() -> None:
    assert parse_content_type("text/plain; \x00a=b; \x00a*0=c") == (
        "text", "plain", (("\x00a", "b"),),
    )


def test_a_section_before_a_plain_duplicate_wins() -> None:
    # "The first parameter of a given name wins"; before the fix both were dropped.
    assert parse_content_type("text/plain; t*0=a; t=b") == ("text", "plain", (("t", "a"),))
    assert parse_content_type("text/plain; t=b; t*0=a") == ("text", "plain", (("t", "b"),))


def test_summarize_survives() -> None:
    summary = summarize(MESSAGE)
    assert summary.bodystructure


@pytest.mark.usefixtures("no_server_errors")
def test_delivered_and_fetched_over_sockets(server: ServerThread) -> None:
    server.add_user(ANN)
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as smtp:
        smtp.sendmail("eve@remote.test", [ANN], MESSAGE)
    imap = imaplib.IMAP4("127.0.0.1", server.port("imap"), timeout=30)
    try:
        imap.starttls(server.client_tls())
        imap.login(ANN, PASSWORD)
        imap.select("INBOX")
        status, data = imap.fetch("1", "(BODYSTRUCTURE BODY.PEEK[TEXT])")
        assert status == "OK"
        assert "hello" in repr(data)
    finally:
        imap.logout()
