"""The server's Prometheus metrics: one ``ServerMetrics`` per App, on its own registry.

The lowest layer: any module may take a ``ServerMetrics`` and count into it, none builds one
(app.py does, and hands it over; a part built without one counts into ``DISCARD``, which is
never exposed). Each App has its own CollectorRegistry, so several Apps in one process (the
tests) never share or collide. The values that are states rather than events (queue size
and age, store size) are set by the App just before each scrape (``set_queue``,
``set_store_bytes``). /metrics (web/monitoring.py) renders ``exposition()``.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# No "_created" series: they double the output and no dashboard of a mail server reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Seconds: from a fast SSD's fsync to a slow disk's (fsync), and IMAP commands from a cached
# FETCH to a SEARCH over a large mailbox.
FSYNC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
COMMAND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)


class ServerMetrics:
    """The counters, gauges and histograms of one server, and their exposition."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.connections = Counter(
            "posthouse_connections", "Connections accepted, by listener", ["protocol"],
            registry=r)
        self.connections_refused = Counter(
            "posthouse_connections_refused", "Connections refused by a connection limit",
            ["protocol"], registry=r)
        self.connections_open = Gauge(
            "posthouse_connections_open", "Connections open now, by listener", ["protocol"],
            registry=r)
        self.logins = Counter(
            "posthouse_logins", "Password and SCRAM logins, by result", ["result"], registry=r)
        self.messages_received = Counter(
            "posthouse_messages_received", "Messages accepted over SMTP (250 after DATA/BDAT)",
            ["protocol"], registry=r)
        self.messages_delivered = Counter(
            "posthouse_messages_delivered", "Copies stored in local mailboxes", registry=r)
        self.messages_relayed = Counter(
            "posthouse_messages_relayed",
            "Recipients delivered to a remote server by the outbound queue", registry=r)
        self.messages_bounced = Counter(
            "posthouse_messages_bounced",
            "Recipients the outbound queue gave up on (a failure DSN is made)", registry=r)
        self.queue_size = Gauge(
            "posthouse_queue_messages", "Messages in the outbound queue", registry=r)
        self.queue_age = Gauge(
            "posthouse_queue_oldest_age_seconds",
            "Age of the oldest message in the outbound queue (0 when empty)", registry=r)
        self.store_bytes = Gauge(
            "posthouse_store_bytes", "Bytes the data directory takes on disk", registry=r)
        self.fsync_seconds = Histogram(
            "posthouse_store_commit_seconds",
            "Store commits including their fsync (one per group commit)",
            buckets=FSYNC_BUCKETS, registry=r)
        self.http_requests = Counter(
            "posthouse_http_requests", "HTTP requests answered, by listener and status",
            ["protocol", "status"], registry=r)
        self.imap_command_seconds = Histogram(
            "posthouse_imap_command_seconds", "IMAP commands, from parsed to tagged response",
            ["command"], buckets=COMMAND_BUCKETS, registry=r)

    # The events, named as the code that reports them sees them.

    def connection_opened(self, protocol: str) -> None:
        """A listener accepted a connection and it passed the limits."""
        self.connections.labels(protocol).inc()
        self.connections_open.labels(protocol).inc()

    def connection_closed(self, protocol: str) -> None:
        """A counted connection ended."""
        self.connections_open.labels(protocol).dec()

    def connection_refused(self, protocol: str) -> None:
        """A limit refused a connection."""
        self.connections_refused.labels(protocol).inc()

    def login(self, ok: bool) -> None:
        """A login was decided."""
        self.logins.labels("ok" if ok else "failed").inc()

    def message_received(self, protocol: str, local_copies: int) -> None:
        """SMTP accepted a message; ``local_copies`` went to local mailboxes."""
        self.messages_received.labels(protocol).inc()
        if local_copies:
            self.messages_delivered.inc(local_copies)

    def relayed(self, recipients: int) -> None:
        """The queue delivered to remote recipients."""
        if recipients:
            self.messages_relayed.inc(recipients)

    def bounced(self, recipients: int) -> None:
        """The queue failed recipients for good."""
        if recipients:
            self.messages_bounced.inc(recipients)

    def commit(self, seconds: float) -> None:
        """A store commit (with its fsync) took this long (called from the writer thread)."""
        self.fsync_seconds.observe(seconds)

    def http_request(self, protocol: str, status: int) -> None:
        """The HTTP listener answered a request (refusals of malformed ones included)."""
        self.http_requests.labels(protocol, str(status)).inc()

    def imap_command(self, name: str, seconds: float) -> None:
        """An IMAP command was answered."""
        self.imap_command_seconds.labels(name).observe(seconds)

    def set_queue(self, size: int, oldest_age: float) -> None:
        """The outbound queue as it is now."""
        self.queue_size.set(size)
        self.queue_age.set(oldest_age)

    def set_store_bytes(self, size: int) -> None:
        """The data directory's size now."""
        self.store_bytes.set(size)

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


DISCARD = ServerMetrics()  # for parts built without the App's (admin commands, tests)
