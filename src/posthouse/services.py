"""The one frozen context object every protocol adapter receives from app.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from posthouse.clock import Clock
from posthouse.config import Config
from posthouse.metrics import DISCARD, ServerMetrics
from posthouse.store.api import Store

if TYPE_CHECKING:
    from posthouse.auth.authenticator import Authenticator
    from posthouse.delivery.blocklists import Blocklists
    from posthouse.delivery.greylist import Greylist
    from posthouse.delivery.rates import RateLimiter
    from posthouse.delivery.router import Router
    from posthouse.delivery.rspamd import RspamdClient
    from posthouse.delivery.submit import Submitter
    from posthouse.delivery.trust import InboundTrust
    from posthouse.delivery.vacation import VacationReplies
    from posthouse.mailauth.dkim import DkimKeys


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
    # SPF/DKIM/ARC/DMARC on port 25; None when every check is off.
    trust: InboundTrust | None = None
    # [antiabuse]: DNS blocklists, rate limits, greylisting, rspamd; None when off.
    blocklists: Blocklists | None = None
    rates: RateLimiter | None = None
    greylist: Greylist | None = None
    rspamd: RspamdClient | None = None
    # The App's Prometheus metrics (metrics.py); parts count into it.
    metrics: ServerMetrics = DISCARD
    # Submission outside SMTP (JMAP EmailSubmission) and vacation auto-replies (RFC 3834)
    submitter: Submitter | None = None
    # The DKIM keys that sign the local copies of a submission (None: signing off).
    dkim_keys: DkimKeys | None = None
    vacation: VacationReplies | None = None

    @property
    def hostname(self) -> str:
        """This server's name (greetings, Received headers, Message-IDs)."""
        return self.config.server.hostname
