"""Fixtures shared by every test layer."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pgdb import PgTestDatabase, unreachable
from tests.support.server import ServerThread, make_config


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    """A running posthouse with a fresh store; every listener on 127.0.0.1."""
    srv = ServerThread(make_config(tmp_path / "data")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def loopback_server(tmp_path: Path) -> Iterator[ServerThread]:
    """Like ``server`` but plaintext passwords are allowed from loopback."""
    cfg = make_config(tmp_path / "data", allow_plaintext_on_loopback=True)
    srv = ServerThread(cfg).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test if the server logged anything at ERROR level or above meanwhile."""
    yield
    errors = [r for r in caplog.records
              if r.name.startswith("posthouse") and r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


@pytest.fixture
def users(server: ServerThread) -> ServerThread:
    """The running server with ann@ and bob@example.test (tests/support/smtp_wire ANN, BOB)."""
    server.add_user("ann@example.test")
    server.add_user("bob@example.test")
    return server


@pytest.fixture(scope="session")
def pg_database() -> Iterator[PgTestDatabase]:
    """The test run's PostgreSQL database (skips when the server is unreachable)."""
    why = unreachable()
    if why is not None:
        pytest.skip(why)
    database = PgTestDatabase()
    database.create()
    try:
        yield database
    finally:
        database.drop()
