"""Fixtures shared by every test layer."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.config import CONFIG_NAME, Config, StoreConfig
from tests.support.pgdb import PgTestDatabase, unreachable
from tests.support.server import ServerThread, make_config

STORE_ENV = "POSTHOUSE_TEST_STORE"  # "postgres": the server fixtures run on PostgreSQL


def _store_for(cfg: Config, request: pytest.FixtureRequest) -> Config:
    """The config as is, or on a fresh PostgreSQL schema when POSTHOUSE_TEST_STORE=postgres
    (the integration tests that use ``server``/``loopback_server`` then run on it)."""
    if os.environ.get(STORE_ENV, "sqlite") != "postgres":
        return cfg
    database: PgTestDatabase = request.getfixturevalue("pg_database")
    url = database.fresh_url()
    # admin commands run with --data-dir read the data dir's config: they find the same store
    cfg.data_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    (cfg.data_path / CONFIG_NAME).write_text(f'[store]\nurl = "{url}"\n')
    return dataclasses.replace(cfg, store=StoreConfig(url=url))


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerThread]:
    """A running posthouse with a fresh store; every listener on 127.0.0.1."""
    srv = ServerThread(_store_for(make_config(tmp_path / "data"), request)).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def loopback_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerThread]:
    """Like ``server`` but plaintext passwords are allowed from loopback."""
    cfg = _store_for(make_config(tmp_path / "data", allow_plaintext_on_loopback=True), request)
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
