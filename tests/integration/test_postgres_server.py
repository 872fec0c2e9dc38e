"""A whole server on the PostgreSQL store (``[store] url``): a message received over SMTP
is served over IMAP and POP3, and a second server on the same database (another node) sees
it too, with IMAP IDLE on that node told of a delivery made on the first.

Real clients (smtplib, imaplib, poplib, imapclient) over sockets on 127.0.0.1; the database
is the test run's own (tests/support/pgdb.py). Waiting for IDLE has a deadline only so that
a missing response fails the test.
"""

from __future__ import annotations

import dataclasses
import imaplib
import poplib
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import imapclient
import pytest

from posthouse.config import StoreConfig, config_from_dict
from tests.support.mail import make_message
from tests.support.pgdb import PgTestDatabase
from tests.support.server import PASSWORD, ServerThread, make_config

USER = "pat@example.test"
DEADLINE = 20.0


def pg_server(data_dir: Path, url: str) -> ServerThread:
    cfg = dataclasses.replace(make_config(data_dir), store=StoreConfig(url=url))
    return ServerThread(cfg).start()


@pytest.fixture
def nodes(pg_database: PgTestDatabase, tmp_path: Path) -> Iterator[tuple[ServerThread, ...]]:
    """Two servers (each with its own data dir and ports) on one PostgreSQL schema."""
    url = pg_database.fresh_url()
    first = pg_server(tmp_path / "a", url)
    try:
        second = pg_server(tmp_path / "b", url)
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def send(server: ServerThread, body: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as client:
        client.ehlo("client.example")
        client.sendmail("sender@remote.example", [USER], body)


def test_smtp_in_imap_and_pop3_out_on_postgres(
        nodes: tuple[ServerThread, ServerThread]) -> None:
    a, b = nodes
    a.add_user(USER)
    body = make_message(1)
    send(a, body)
    imap = imaplib.IMAP4_SSL("127.0.0.1", b.port("imaps"), ssl_context=b.client_tls())
    try:
        imap.login(USER, PASSWORD)
        assert imap.select("INBOX") == ("OK", [b"1"])
        typ, data = imap.uid("FETCH", "1", "(BODY.PEEK[] ENVELOPE)")
        assert typ == "OK"
        fetched = data[0]
        assert isinstance(fetched, tuple)
        assert fetched[1].endswith(body)  # after the Return-Path and Received lines
        # the summary parsed at delivery: ENVELOPE follows the literal
        assert b'ENVELOPE ("' in b"".join(p if isinstance(p, bytes) else p[0] for p in data)
    finally:
        imap.logout()
    pop3 = poplib.POP3_SSL("127.0.0.1", a.port("pop3s"), context=a.client_tls(), timeout=10)
    try:
        pop3.user(USER)
        pop3.pass_(PASSWORD)
        count, _size = pop3.stat()
        assert count == 1
        _resp, lines, _octets = pop3.retr(1)
        assert b"\r\n".join(lines).endswith(body.rstrip(b"\r\n"))
        pop3.dele(1)
    finally:
        pop3.quit()
    assert a.inbox(USER) == []
    assert b.inbox(USER) == []


def test_idle_on_one_node_sees_a_delivery_to_the_other(
        nodes: tuple[ServerThread, ServerThread]) -> None:
    a, b = nodes
    a.add_user(USER)
    client = imapclient.IMAPClient("127.0.0.1", port=b.port("imaps"), ssl=True,
                                   ssl_context=b.client_tls(), timeout=30)
    try:
        client.login(USER, PASSWORD)
        client.select_folder("INBOX")
        client.idle()
        send(a, make_message(2))
        got: list[tuple[object, ...]] = []
        deadline = time.monotonic() + DEADLINE
        while not any(r[1] == b"EXISTS" for r in got):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"only {got} arrived"
            got += client.idle_check(timeout=remaining)
        client.idle_done()
        assert (1, b"EXISTS") in got
    finally:
        client.logout()


def test_store_url_is_validated() -> None:
    cfg = config_from_dict({"store": {"url": "postgresql://mail@db.example/posthouse"}})
    assert cfg.store.url.startswith("postgresql://")
    from posthouse.config import ConfigError

    for bad in ({"url": "mysql://x"}, {"pool_size": 0}):
        with pytest.raises(ConfigError, match=r"\[store\]"):
            config_from_dict({"store": bad})


def test_admin_commands_use_the_postgres_store(
        pg_database: PgTestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from posthouse.cli.main import main

    (tmp_path / "data").mkdir(mode=0o700)
    config = tmp_path / "posthouse.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[store]\nurl = "{pg_database.fresh_url()}"\n')
    assert main(["domain", "add", "example.test", "--config", str(config)]) == 0
    assert main(["domain", "list", "--config", str(config)]) == 0
    assert "example.test" in capsys.readouterr().out
    # backup and verify are the SQLite store's: refused with a pointer, nothing written
    assert main(["backup", str(tmp_path / "bk"), "--config", str(config)]) == 1
    assert "PostgreSQL" in capsys.readouterr().err
    assert not (tmp_path / "data" / "posthouse.sqlite3").exists()
