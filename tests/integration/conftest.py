"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.peer_smtp import PeerSmtp


@pytest.fixture
def peer() -> Iterator[PeerSmtp]:
    """A scripted SMTP peer on 127.0.0.1 (tests/support/peer_smtp.py)."""
    server = PeerSmtp().start()
    yield server
    server.stop()
