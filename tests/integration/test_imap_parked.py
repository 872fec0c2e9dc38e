"""Parked IMAP sessions (issue 15): an idle session holds no task between commands or in
IDLE, and still gets everything: a delivery in IDLE at once, at the next command
otherwise, pipelined commands, a command line sent in pieces, literals."""

from __future__ import annotations

import time

from tests.support.imap import ADDRESS, RawImap, deliver, tls_client
from tests.support.server import ServerThread


def _sessions(srv: ServerThread) -> tuple[int, int]:
    """(running, parked), once every session has settled (a resumed one parks again
    within a loop turn or two; the deadline only bounds a broken server)."""

    async def read() -> tuple[int, int]:
        assert srv.app.listeners is not None
        return srv.app.listeners.sessions

    deadline = time.monotonic() + 10
    while True:
        running, parked = srv.call(read())
        if running == 0 or time.monotonic() > deadline:
            return running, parked
        time.sleep(0.02)


def test_idle_sessions_hold_no_task(server: ServerThread) -> None:
    server.add_user(ADDRESS)
    idler = tls_client(server)
    idler.cmd("a", "SELECT INBOX")
    idler.send(b"b IDLE\r\n")
    assert idler.readline() == b"+ idling"
    waiting = tls_client(server)
    waiting.cmd("a", "SELECT INBOX")
    fresh = RawImap(server.port("imaps"), tls=server.client_tls())  # greeted only
    assert _sessions(server) == (0, 3)

    deliver(server)
    assert idler.readline() == b"* 1 EXISTS"  # resumed by the store event
    assert idler.readline() == b"* 1 RECENT"
    assert _sessions(server) == (0, 3)
    assert waiting.cmd("c", "NOOP") == [b"* 1 EXISTS", b"* 0 RECENT", b"c OK NOOP completed"]

    idler.send(b"DONE\r\n")
    assert idler.read_until_tag(b"b") == [b"b OK IDLE terminated"]
    waiting.send(b"d1 NOOP\r\nd2 NO")  # pipelined, then a line in two pieces
    assert waiting.readline() == b"d1 OK NOOP completed"
    assert _sessions(server) == (0, 3)
    waiting.send(b"OP\r\n")
    assert waiting.readline() == b"d2 OK NOOP completed"
    waiting.send(b"e APPEND INBOX {5}\r\n")
    assert waiting.readline().startswith(b"+ ")
    waiting.send(b"hello\r\n")
    assert waiting.read_until_tag(b"e")[-1].startswith(b"e OK [APPENDUID")
    assert _sessions(server) == (0, 3)
    for client in (idler, waiting, fresh):
        client.close()
