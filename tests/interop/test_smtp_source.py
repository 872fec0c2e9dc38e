"""Postfix's smtp-source as an MX load generator against port 25: every accepted message is in
the store once the run ends (posthouse answers 250 only after the commit)."""

from __future__ import annotations

import pytest

from tests.support.peers import run_smtp_source
from tests.support.server import ServerThread
from tests.support.smtp_wire import strip_trace

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(120),
              pytest.mark.usefixtures("no_server_errors")]

RCPT = "load@example.test"


def inbox_count(server: ServerThread, address: str) -> int:
    async def count() -> int:
        user = await server.store.get_user(address)
        box = await server.store.get_mailbox(user.id, "INBOX")
        return len(await server.store.uid_list(box.id))
    return server.call(count())


@pytest.mark.parametrize("reuse", [False, True], ids=["connection-per-message", "reuse"])
def test_1000_messages_over_20_sessions_all_stored(server: ServerThread, reuse: bool) -> None:
    server.add_user(RCPT)
    result = run_smtp_source(server.port("smtp"), sessions=20, messages=1000, size=1024,
                             sender="load@source.test", recipient=RCPT,
                             reuse_connection=reuse, timeout=100)
    assert result.rc == 0, result.output
    assert inbox_count(server, RCPT) == 1000


def test_messages_arrive_whole(server: ServerThread) -> None:
    """A sample of smtp-source's messages: the trace, then what it sent, CRLF throughout."""
    server.add_user(RCPT)
    result = run_smtp_source(server.port("smtp"), sessions=2, messages=10, size=4000,
                             sender="load@source.test", recipient=RCPT, timeout=100)
    assert result.rc == 0, result.output
    stored = server.inbox(RCPT)
    assert len(stored) == 10
    for data in stored:
        body = strip_trace(data)
        assert b"\r\n\r\n" in body
        assert b"\n" not in body.replace(b"\r\n", b"")  # canonical line ends only
        assert len(body) >= 4000
        assert data.startswith(b"Return-Path: <load@source.test>\r\n")
