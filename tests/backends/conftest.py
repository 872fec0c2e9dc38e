"""The backend conformance suite: every Store test runs once per backend.

SQLite gets a fresh data directory per test; PostgreSQL a fresh schema in one database made
for the test run and dropped at its end (tests/support/pgdb.py). PostgreSQL tests skip, with
the reason, only when the server cannot be reached (the ``pg_database`` fixture of
tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends.support import BACKENDS, StoreRunner
from tests.support.pgdb import PgTestDatabase


@pytest.fixture(params=BACKENDS)
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> StoreRunner:
    """Runs test bodies against a fresh store of each backend (reopenable on the same data)."""
    backend = str(request.param)
    if backend == "postgres":
        database: PgTestDatabase = request.getfixturevalue("pg_database")
        return StoreRunner(backend, tmp_path / "data", database.fresh_url())
    return StoreRunner(backend, tmp_path / "data")
