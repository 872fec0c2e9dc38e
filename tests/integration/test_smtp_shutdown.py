"""SMTP while the server shuts down (issue 12, defect 8; RFC 5321 3.8, 4.2.5 reply 421).

SIGTERM gives in-flight transactions ``limits.shutdown_grace_seconds``. A client still sending
its DATA when the grace ends is told ``421 4.3.2`` (the service is shutting down) and the
connection is closed; one log line names the peer and says a transaction was cut; nothing of
the unfinished message is stored.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from posthouse.config import Config
from tests.support.server import ServerThread, make_config
from tests.support.smtp_wire import RawSmtp

ANN = "ann@example.test"
GRACE = 1


def short_grace(data_dir: Path) -> Config:
    cfg = make_config(data_dir)
    return dataclasses.replace(cfg, limits=dataclasses.replace(
        cfg.limits, shutdown_grace_seconds=GRACE))


@contextmanager
def inside_data(cfg: Config) -> Iterator[tuple[RawSmtp, threading.Thread]]:
    """A server with ann, and a session on port 25 that has had DATA's 354. The thread stops
    the server as SIGTERM does once the test starts it; it is waited for at the end."""
    srv = ServerThread(cfg).start()
    stopper = threading.Thread(target=srv.stop)
    try:
        srv.add_user(ANN)
        with RawSmtp(srv.port("smtp"), timeout=30) as s:
            assert s.reply().code == 220
            assert s.cmd("EHLO client.test").code == 250
            assert s.cmd("MAIL FROM:<peer@remote.test>").code == 250
            assert s.cmd(f"RCPT TO:<{ANN}>").code == 250
            assert s.cmd("DATA").code == 354
            yield s, stopper
    finally:
        if stopper.ident is None:
            stopper.start()
        stopper.join(60)


def inbox_at_next_start(cfg: Config) -> list[bytes]:
    """ann's INBOX as the store is found when the server starts again."""
    with ServerThread(cfg) as srv:
        return srv.inbox(ANN)


def test_data_cut_by_the_end_of_the_grace_gets_421_and_a_log_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="posthouse")
    cfg = short_grace(tmp_path / "data")
    with inside_data(cfg) as (s, stopper):
        s.send(b"Subject: cut short\r\n\r\nthe first part of the body\r\n")
        stopper.start()  # SIGTERM: the grace runs while the client is still sending
        time.sleep(GRACE / 2)
        s.send(b"more of the body, sent during the grace\r\n")
        reply = s.reply()
        assert (reply.code, reply.enhanced) == (421, "4.3.2"), reply
        assert s.eof()  # then the server closed the connection
    cut = [r.getMessage() for r in caplog.records if "cut by shutdown" in r.getMessage()]
    assert len(cut) == 1, cut
    assert "peer=127.0.0.1" in cut[0]
    assert "from=<peer@remote.test>" in cut[0]
    assert inbox_at_next_start(cfg) == []


def test_a_transaction_that_ends_within_the_grace_is_delivered(tmp_path: Path) -> None:
    cfg = short_grace(tmp_path / "data")
    with inside_data(cfg) as (s, stopper):
        s.send(b"Subject: just in time\r\n\r\nbody\r\n")
        stopper.start()
        time.sleep(GRACE / 4)
        assert s.cmd(b".").code == 250
        reply = s.reply()  # then, between transactions, the server says it is going
        assert (reply.code, reply.enhanced) == (421, "4.3.2"), reply
    assert len(inbox_at_next_start(cfg)) == 1
