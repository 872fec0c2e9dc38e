"""The backend conformance suite: every Store test runs once per backend.

SQLite gets a fresh data directory per test; PostgreSQL a fresh schema in one database made
for the test run and dropped at its end (tests/support/pgdb.py). PostgreSQL tests skip, with
the reason, only when the server cannot be reached.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends.support import BACKENDS, StoreRunner
from tests.support.pgdb import PgTestDatabase, unreachable


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


@pytest.fixture(params=BACKENDS)
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> StoreRunner:
    """Runs test bodies against a fresh store of each backend (reopenable on the same data)."""
    backend = str(request.param)
    if backend == "postgres":
        database: PgTestDatabase = request.getfixturevalue("pg_database")
        return StoreRunner(backend, tmp_path / "data", database.fresh_url())
    return StoreRunner(backend, tmp_path / "data")
