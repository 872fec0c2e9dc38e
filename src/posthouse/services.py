"""The one frozen context object every protocol adapter receives from app.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from posthouse.clock import Clock
from posthouse.config import Config
from posthouse.store.api import Store

if TYPE_CHECKING:
    from posthouse.auth.authenticator import Authenticator
    from posthouse.delivery.router import Router
    from posthouse.dns.resolver import Resolver


@dataclass(frozen=True)
class Services:
    """Shared, long-lived parts of a running server."""

    config: Config
    store: Store
    authenticator: Authenticator
    router: Router
    clock: Clock
    # Wakes the outbound queue worker after a message for remote recipients was queued.
    queue_waker: Callable[[], None] | None = None
    # DNS for the checks of incoming mail (config [checks]); None when no check is on.
    resolver: Resolver | None = None

    @property
    def hostname(self) -> str:
        """This server's name (greetings, Received headers, Message-IDs)."""
        return self.config.server.hostname
