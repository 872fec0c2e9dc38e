"""The backend conformance suite: every Store test runs once per backend.

Add a backend by adding its name to ``support.BACKENDS`` and a branch to
``StoreRunner.make`` (PostgreSQL will need a database per test instead of a directory).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends.support import BACKENDS, StoreRunner


@pytest.fixture(params=BACKENDS)
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> StoreRunner:
    """Runs test bodies against a fresh store of each backend (reopenable on the same data)."""
    return StoreRunner(str(request.param), tmp_path / "data")
