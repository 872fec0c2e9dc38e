"""Configuration: one TOML file -> frozen dataclasses, one section per concern; and where
things live in the data directory (DataPaths), with the TLS and DKIM files a Config selects.

Every setting has a default, so an empty (or absent) file is a working configuration. A wrong
setting raises ConfigError naming the file and the key; the CLI prints it as one line. Reads
and names files only: making them is provision.py's.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import ssl
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

PROTOCOLS = ("smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s",
             "http", "https")
STANDARD_PORTS = {
    "smtp": 25, "submission": 587, "submissions": 465,
    "imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995,
    "http": 80, "https": 443,
}


class ConfigError(Exception):
    """A configuration problem, phrased for the operator (file and key included)."""


@dataclass(frozen=True)
class ServerConfig:
    """Identity and storage."""

    hostname: str = "mail.example.test"
    data_dir: str = "./posthouse-data"
    # The first domain created by auto-init when the store has none.
    default_domain: str = "example.test"
    # Started as root, ``posthouse serve`` binds its ports and then runs as this user (empty:
    # "posthouse"). Started as another user, it must be empty or that user's name.
    user: str = ""
    # Keep running as root instead (no privilege drop): only for tests and containers whose
    # root is already unprivileged. ``serve --allow-root`` sets it too.
    allow_root: bool = False
    # Worker processes sharing the listeners and the store (cli/workers.py): 1 is one
    # process; more use more cores (each worker is one event loop); 0: one per CPU.
    workers: int = 1


@dataclass(frozen=True)
class ListenConfig:
    """Where each protocol listens: a list of "host:port"; an empty list disables it."""

    smtp: list[str] = field(default_factory=lambda: ["0.0.0.0:25"])
    submission: list[str] = field(default_factory=lambda: ["0.0.0.0:587"])
    submissions: list[str] = field(default_factory=lambda: ["0.0.0.0:465"])
    imap: list[str] = field(default_factory=lambda: ["0.0.0.0:143"])
    imaps: list[str] = field(default_factory=lambda: ["0.0.0.0:993"])
    pop3: list[str] = field(default_factory=lambda: ["0.0.0.0:110"])
    pop3s: list[str] = field(default_factory=lambda: ["0.0.0.0:995"])
    # Autoconfiguration, MTA-STS policy, metrics (serve/http.py); off with [http] enabled.
    http: list[str] = field(default_factory=lambda: ["0.0.0.0:80"])
    https: list[str] = field(default_factory=lambda: ["0.0.0.0:443"])
    # PROXY protocol v1/v2 (net/proxy_header.py) behind a TCP load balancer: the listeners
    # (names as above) that expect a header, and the balancers' networks ("10.0.0.0/8",
    # "2001:db8::/32"); a proxy listener closes any other peer. Off by default.
    proxy_protocol: list[str] = field(default_factory=list)
    proxy_trusted: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TlsConfig:
    """Certificate and key (PEM). Empty: ACME's when ``acme`` is on and it has one, else a
    self-signed pair generated in the data dir."""

    cert: str = ""
    key: str = ""
    min_version: str = "TLSv1.2"
    # The TLS 1.2 suites, an OpenSSL cipher string; empty: net/tls.py's AEAD-only list
    # (Mozilla "intermediate"). TLS 1.3 suites are OpenSSL's defaults either way.
    ciphers: str = ""
    # ACME (RFC 8555): obtain and renew the certificate for the host name and the
    # autoconfig./mta-sts. names of every local domain (cert and key must stay empty).
    acme: bool = False
    acme_directory: str = "https://acme-v02.api.letsencrypt.org/directory"
    acme_email: str = ""  # the account's contact (optional)
    acme_ca_file: str = ""  # trust anchors (PEM) for the directory's HTTPS; empty: system's
    acme_renew_days: int = 30  # renew when fewer days than this are left
    acme_challenges: list[str] = field(  # preference order
        default_factory=lambda: ["tls-alpn-01", "http-01"])
    acme_retry_seconds: int = 300  # first retry after a failure, doubling to 12 hours


@dataclass(frozen=True)
class AuthConfig:
    """Password hashing, caching, throttling, and where plaintext login is allowed."""

    # RFC 8314 / 3207: passwords only over TLS. Loopback clients may be trusted instead.
    allow_plaintext_on_loopback: bool = False
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 2
    cache_size: int = 10000
    cache_ttl_seconds: int = 3600
    # Issue 12, defect 1 (auth/scheduler.py): argon2 runs at once, and how many logins may
    # wait for one, per source address (IPv6: per /64) and in all; past a bound a login gets
    # the protocol's temporary error at once instead of queueing.
    max_concurrent_hashes: int = 2
    max_queued_hashes_per_source: int = 2
    max_queued_hashes: int = 64


@dataclass(frozen=True)
class LimitsConfig:
    """Connection, pace and size limits.

    Connections (issue 12, defect 3): ``max_connections`` and ``max_connections_per_ip`` are
    the ceiling over all listeners; each listener (smtp, submission, imaps ...) has a cap of
    its own and a per-address cap of its own, so a flood on one cannot shut the others.
    Pace (defect 4): see net/connection.py."""

    max_connections: int = 2000
    max_connections_per_ip: int = 100
    max_connections_per_listener: int = 500
    max_connections_per_ip_per_listener: int = 50
    # IMAP and POP3 before login, submission before AUTH (port 25 is never authenticated:
    # it keeps smtp_idle_seconds, RFC 5321 4.5.3.2, and the command-line deadline).
    preauth_idle_seconds: int = 30
    command_line_seconds: int = 30  # a whole command line, from its first byte
    data_min_bytes_per_second: int = 512  # DATA, BDAT, IMAP literals: averaged over a window
    data_rate_window_seconds: int = 60
    tls_handshake_seconds: int = 20  # implicit TLS, STARTTLS and STLS
    proxy_header_seconds: int = 5  # a PROXY protocol listener's header, or the peer is cut
    slow_penalty_seconds: int = 60  # a connection cut as too slow holds its address's slot
    max_message_size: int = 50 * 1024 * 1024
    max_recipients: int = 1000
    smtp_idle_seconds: int = 300  # RFC 5321 4.5.3.2.7: server timeout at least 5 minutes
    imap_idle_seconds: int = 1800  # RFC 9051 5.4: autologout after at least 30 minutes
    imap_idle_command_seconds: int = 3600  # in IDLE
    pop3_idle_seconds: int = 600  # RFC 1939 3: at least 10 minutes
    shutdown_grace_seconds: int = 30
    # Below this many free bytes on the data dir's filesystem new mail is refused (452 4.3.1)
    # and the search index waits (store/space.py); 0 turns the threshold off.
    min_free_bytes: int = 100 * 1024 * 1024
    # IMAP METADATA (RFC 5464 4.1: at least 1024 octets and 10 entries must be allowed)
    metadata_max_entry_bytes: int = 16 * 1024
    metadata_max_entries_per_user: int = 1000
    # IMAP NOTIFY (RFC 5465 5.8): store events one session may have waiting before it gets
    # NOTIFICATIONOVERFLOW and its NOTIFY is turned off
    imap_notify_backlog: int = 1000


@dataclass(frozen=True)
class QueueConfig:
    """Outbound delivery."""

    retry_initial_seconds: int = 300
    retry_max_seconds: int = 3600
    expire_seconds: int = 5 * 86400
    delay_warning_seconds: int = 4 * 3600
    outbound_port: int = 25
    resolver: str = ""  # older name of [dns] resolver, still read when that one is empty
    smarthost: str = ""  # "host:port" to relay everything through; empty: MX lookup
    smarthost_user: str = ""
    smarthost_password: str = ""
    smarthost_tls: str = "starttls"  # starttls | implicit | none
    concurrency: int = 20
    concurrency_per_domain: int = 4
    transport: dict[str, str] = field(default_factory=dict)  # domain -> "host:port"
    # Trust anchors (PEM) for certificates of next hops and MTA-STS policy hosts; empty:
    # the system's bundle.
    tls_ca_file: str = ""
    mta_sts: bool = True  # RFC 8461: fetch and apply recipient domains' policies
    mta_sts_port: int = 443  # the HTTPS port of mta-sts.<domain> (other values: tests)
    mta_sts_timeout_seconds: int = 30  # one policy fetch, connect to last byte
    dane: bool = True  # RFC 7672: TLSA records, used only when [dns] validates DNSSEC
    tlsrpt: bool = True  # RFC 8460: record TLS results and send the daily reports


@dataclass(frozen=True)
class DkimConfig:
    """DKIM signing of mail submitted by local users."""

    selector: str = "posthouse"
    key: str = ""  # PEM path; empty: <data_dir>/dkim/<selector>.key made by init
    ed25519_key: str = ""  # optional second signature


@dataclass(frozen=True)
class DnsConfig:
    """The one resolver every lookup of the server uses (MX routing and inbound checks)."""

    resolver: str = ""  # "host:port" of the DNS server; empty: the system's
    timeout_seconds: int = 5  # per lookup
    cache_entries: int = 10000  # answers kept for their TTL


@dataclass(frozen=True)
class ChecksConfig:
    """Sender authentication on port 25 (submission is not checked: its users log in)."""

    spf: bool = True  # RFC 7208
    dkim: bool = True  # RFC 6376 verification
    dmarc: bool = True  # RFC 7489
    arc: bool = True  # RFC 8617
    dmarc_reject: bool = True  # p=reject failures get 550 5.7.1; false: filed in Junk
    authserv_id: str = ""  # Authentication-Results authserv-id; empty: [server] hostname
    spf_timeout_seconds: int = 20  # the whole SPF evaluation (RFC 7208 4.6.4: >= 20 s)
    iprev: bool = True  # RFC 8601 2.7.3: PTR of the client, forward lookup of the names
    helo_check: bool = True  # does HELO resolve to the client: noted in the iprev comment


BLOCKLIST_ACTIONS = ("reject", "junk", "ignore")


@dataclass(frozen=True)
class AntiabuseConfig:
    """Port 25 anti-abuse: DNS blocklists, rate limits, greylisting, the greeting pause and
    rspamd; the rate limits per authenticated user apply to submission too. A limit of 0 is
    no limit."""

    ip_blocklists: list[str] = field(default_factory=list)  # DNSBL zones (RFC 5782)
    domain_blocklists: list[str] = field(default_factory=list)  # for MAIL FROM / From domains
    # "zone" or "zone:127.0.0.N" -> reject | junk | ignore; unlisted codes in 127/8: reject.
    blocklist_actions: dict[str, str] = field(default_factory=dict)
    rate_window_seconds: int = 3600
    ip_messages_per_window: int = 2000  # per client IPv4 address or IPv6 /64
    ip_recipients_per_window: int = 10000
    sender_messages_per_window: int = 2000  # per MAIL FROM address
    sender_recipients_per_window: int = 10000
    user_messages_per_window: int = 2000  # per authenticated user (submission)
    user_recipients_per_window: int = 10000
    greylist: bool = False  # RFC 6647
    greylist_delay_seconds: int = 300
    greylist_retry_seconds: int = 2 * 86400  # how long a first sight waits for its retry
    greylist_pass_seconds: int = 36 * 86400  # a passed triplet (and its client) is let in
    greylist_skip_spf_pass: bool = True
    greet_pause_ms: int = 1000  # port 25: wait before the 220; a client talking first: 554
    rspamd_url: str = ""  # e.g. "http://127.0.0.1:11333"; empty: off
    rspamd_timeout_seconds: int = 20


MTA_STS_MODES = ("enforce", "testing", "none")


@dataclass(frozen=True)
class HttpConfig:
    """The HTTP (80) and HTTPS (443) listener: limits, metrics access, the MTA-STS policy."""

    enabled: bool = True  # false: no HTTP listener, whatever [listen] says
    header_seconds: int = 20  # a request line and headers, from their first byte
    idle_seconds: int = 60  # keep-alive: the wait for the next request
    max_header_bytes: int = 16 * 1024  # request line and headers together
    max_body_bytes: int = 1024 * 1024
    # /metrics, /healthz, /readyz: from these networks, or with "Authorization: Bearer <token>"
    metrics_networks: list[str] = field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    metrics_token: str = ""
    # RFC 8461 3.2 policy served at mta-sts.<domain>; `posthouse dns` prints the id of the
    # same text. Start in testing, switch to enforce once the TLS-RPT reports are clean.
    mta_sts_mode: str = "testing"
    mta_sts_max_age: int = 604800  # seconds (RFC 8461 3.2: at most 31557600)
    # The web admin at https://<host>/admin (accounts with the admin role log in), and the
    # networks it answers (anyone else gets 404).
    admin: bool = True
    admin_networks: list[str] = field(default_factory=lambda: ["0.0.0.0/0", "::/0"])
    # The webmail at https://<host>/mail (every enabled account logs in).
    webmail: bool = True


@dataclass(frozen=True)
class StoreConfig:
    """Where mail is stored: empty ``url`` is the embedded SQLite store in the data dir;
    ``postgresql://user@host/db`` (a libpq URI) the PostgreSQL store, which several nodes
    may share. ``pool_size``: PostgreSQL connections per node. ``queue_lease_seconds``: how
    long a node's claim on a queue entry lasts (PostgreSQL; renewed while the node works it),
    so a dead node's entries are taken over after it."""

    url: str = ""
    pool_size: int = 4
    queue_lease_seconds: int = 600


POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# A lease shorter than one delivery attempt could let a second node send the same message.
MIN_QUEUE_LEASE_SECONDS = 5


def uses_postgres(cfg: Config) -> bool:
    """Whether the configured store is PostgreSQL."""
    return cfg.store.url.startswith(POSTGRES_SCHEMES)


@dataclass(frozen=True)
class LogConfig:
    """Structured logs."""

    level: str = "info"
    format: str = "text"  # text: key=value lines; json: one JSON object per line


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    server: ServerConfig = field(default_factory=ServerConfig)
    listen: ListenConfig = field(default_factory=ListenConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    dkim: DkimConfig = field(default_factory=DkimConfig)
    dns: DnsConfig = field(default_factory=DnsConfig)
    checks: ChecksConfig = field(default_factory=ChecksConfig)
    antiabuse: AntiabuseConfig = field(default_factory=AntiabuseConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    log: LogConfig = field(default_factory=LogConfig)
    source: str = "<defaults>"  # the file this came from, for messages

    @property
    def data_path(self) -> Path:
        """The data directory as a Path."""
        return Path(self.server.data_dir)


CONFIG_NAME = "posthouse.toml"  # the config file of a data directory


@dataclass(frozen=True)
class DataPaths:
    """Where things live inside a data directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def cert(self) -> Path:
        return self.root / "tls" / "cert.pem"

    @property
    def key(self) -> Path:
        return self.root / "tls" / "key.pem"

    def dkim_key(self, selector: str) -> Path:
        return self.root / "dkim" / f"{selector}.key"

    @property
    def acme(self) -> Path:
        """The ACME account and certificate files (acme/files.py)."""
        return self.root / "acme"

    @property
    def acme_live(self) -> Path:
        """The certificate ACME obtained: its chain and key in one file."""
        return self.acme / "live.pem"


ACME_CHALLENGES = ("tls-alpn-01", "http-01")


def tls_paths(cfg: Config) -> tuple[Path, Path]:
    """The certificate and key to use: configured ones, else the one ACME obtained (when
    [tls] acme is on and it exists), else the data dir's own self-signed pair."""
    if cfg.tls.cert:
        return Path(cfg.tls.cert), Path(cfg.tls.key)
    paths = DataPaths(cfg.data_path)
    if cfg.tls.acme and paths.acme_live.is_file():
        return paths.acme_live, paths.acme_live
    return paths.cert, paths.key


def dkim_key_path(cfg: Config) -> Path:
    """The DKIM private key file (configured or made by init)."""
    return Path(cfg.dkim.key) if cfg.dkim.key else DataPaths(cfg.data_path).dkim_key(
        cfg.dkim.selector)


def resolver_address(cfg: Config) -> str:
    """The DNS server of [dns] resolver, or of the older [queue] resolver."""
    return cfg.dns.resolver or cfg.queue.resolver


def load_config(path: Path | None) -> Config:
    """Read a TOML file (None: defaults only) into a Config; ConfigError on any problem."""
    if path is None:
        return Config()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: dict[str, Any], *, source: str = "<dict>") -> Config:
    """Build a Config from parsed TOML, checking every key and type."""
    sections: dict[str, Any] = {}
    hints = get_type_hints(Config)
    for name, value in raw.items():
        if name == "source" or name not in hints:
            raise ConfigError(f"{source}: unknown section [{name}]")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{name}] must be a table")
        sections[name] = _build_section(hints[name], value, f"{source}: [{name}]")
    cfg = Config(**sections, source=source)
    _validate(cfg)
    return cfg


def _build_section(cls: type, values: dict[str, Any], where: str) -> Any:
    hints = get_type_hints(cls)
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(f"{where} unknown key '{key}'")
        if not _type_ok(value, hints[key]):
            raise ConfigError(f"{where} key '{key}' must be {_describe(hints[key])}")
    return cls(**values)


def _type_ok(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in get_args(hint))
    if origin is list:
        (item,) = get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin is dict:
        k, v = get_args(hint)
        return isinstance(value, dict) and all(
            _type_ok(a, k) and _type_ok(b, v) for a, b in value.items()
        )
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is list:
        return f"a list of {_describe(get_args(hint)[0])}"
    if origin is dict:
        return "a table"
    return {str: "a string", int: "an integer", bool: "true or false"}.get(hint, str(hint))


def parse_hostport(text: str) -> tuple[str, int]:
    """Split "host:port" or "[v6]:port"; ValueError if malformed."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"'{text}' is not host:port")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} out of range")
    return host or "0.0.0.0", port  # noqa: S104 - empty host means all interfaces


_POSITIVE_LIMITS = (  # (slow_penalty_seconds may be 0: no penalty)
    "max_connections_per_listener", "max_connections_per_ip_per_listener",
    "preauth_idle_seconds", "command_line_seconds", "data_min_bytes_per_second",
    "data_rate_window_seconds", "tls_handshake_seconds", "proxy_header_seconds",
    "slow_penalty_seconds",
    "imap_notify_backlog",
)


def proxy_networks(listen: ListenConfig) -> tuple[ipaddress.IPv4Network
                                                  | ipaddress.IPv6Network, ...]:
    """The trusted load balancers' networks of ``[listen] proxy_trusted``."""
    return tuple(ipaddress.ip_network(net, strict=True) for net in listen.proxy_trusted)


def _validate_proxy(listen: ListenConfig, where: str) -> None:
    for name in listen.proxy_protocol:
        if name not in PROTOCOLS:
            raise ConfigError(f"{where} key 'proxy_protocol': unknown listener '{name}' "
                              f"(one of {', '.join(PROTOCOLS)})")
    if listen.proxy_protocol and not listen.proxy_trusted:
        raise ConfigError(f"{where} key 'proxy_protocol' needs 'proxy_trusted': the load "
                          "balancers' networks")
    for net in listen.proxy_trusted:
        try:
            ipaddress.ip_network(net, strict=True)
        except ValueError as exc:
            raise ConfigError(f"{where} key 'proxy_trusted': {exc}") from None


MAX_WORKERS = 64


def _validate(cfg: Config) -> None:
    if not 0 <= cfg.server.workers <= MAX_WORKERS:
        raise ConfigError(f"{cfg.source}: [server] key 'workers' must be 0 (one per CPU) to "
                          f"{MAX_WORKERS}")
    for proto in PROTOCOLS:
        for addr in getattr(cfg.listen, proto):
            try:
                parse_hostport(addr)
            except ValueError as exc:
                raise ConfigError(f"{cfg.source}: [listen] key '{proto}': {exc}") from None
    _validate_proxy(cfg.listen, f"{cfg.source}: [listen]")
    if cfg.tls.min_version not in ("TLSv1.2", "TLSv1.3"):
        raise ConfigError(f"{cfg.source}: [tls] key 'min_version' must be TLSv1.2 or TLSv1.3")
    if bool(cfg.tls.cert) != bool(cfg.tls.key):
        raise ConfigError(f"{cfg.source}: [tls] 'cert' and 'key' must be set together")
    if cfg.tls.ciphers and not _openssl_selects_a_cipher(cfg.tls.ciphers):
        raise ConfigError(f"{cfg.source}: [tls] key 'ciphers': OpenSSL selects no TLS 1.2 "
                          f"cipher from {cfg.tls.ciphers!r}")
    _validate_acme(cfg.tls, f"{cfg.source}: [tls]")
    if cfg.limits.min_free_bytes < 0:
        raise ConfigError(f"{cfg.source}: [limits] key 'min_free_bytes' must not be negative")
    if cfg.auth.max_concurrent_hashes < 1:
        raise ConfigError(f"{cfg.source}: [auth] key 'max_concurrent_hashes' must be positive")
    for key in ("max_queued_hashes_per_source", "max_queued_hashes"):
        if getattr(cfg.auth, key) < 0:
            raise ConfigError(f"{cfg.source}: [auth] key '{key}' must not be negative")
    for key in _POSITIVE_LIMITS:
        value = getattr(cfg.limits, key)
        if value < 0 or (value == 0 and key != "slow_penalty_seconds"):
            raise ConfigError(f"{cfg.source}: [limits] key '{key}' must be positive")
    if cfg.limits.metadata_max_entry_bytes < 1024:
        raise ConfigError(f"{cfg.source}: [limits] key 'metadata_max_entry_bytes' must be at "
                          "least 1024 (RFC 5464 4.1)")
    if cfg.limits.metadata_max_entries_per_user < 10:
        raise ConfigError(f"{cfg.source}: [limits] key 'metadata_max_entries_per_user' must be "
                          "at least 10 (RFC 5464 4.1)")
    if cfg.dns.timeout_seconds <= 0 or cfg.dns.cache_entries < 0:
        raise ConfigError(f"{cfg.source}: [dns] timeout_seconds must be positive and "
                          "cache_entries not negative")
    if cfg.log.level not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"{cfg.source}: [log] key 'level' must be debug|info|warning|error")
    if cfg.log.format not in ("text", "json"):
        raise ConfigError(f"{cfg.source}: [log] key 'format' must be text|json")
    if cfg.checks.spf_timeout_seconds <= 0:
        raise ConfigError(f"{cfg.source}: [checks] key 'spf_timeout_seconds' must be positive")
    if cfg.queue.smarthost_tls not in ("starttls", "implicit", "none"):
        raise ConfigError(
            f"{cfg.source}: [queue] key 'smarthost_tls' must be starttls|implicit|none")
    _validate_antiabuse(cfg.antiabuse, f"{cfg.source}: [antiabuse]")
    _validate_http(cfg.http, f"{cfg.source}: [http]")
    if cfg.store.url and not uses_postgres(cfg):
        raise ConfigError(f"{cfg.source}: [store] key 'url' must be empty (SQLite in the data "
                          "dir) or a postgresql:// URI")
    if cfg.store.pool_size < 1:
        raise ConfigError(f"{cfg.source}: [store] key 'pool_size' must be positive")
    if cfg.store.queue_lease_seconds < MIN_QUEUE_LEASE_SECONDS:
        raise ConfigError(f"{cfg.source}: [store] key 'queue_lease_seconds' must be at least "
                          f"{MIN_QUEUE_LEASE_SECONDS}")


def _validate_http(http: HttpConfig, where: str) -> None:
    for key in ("header_seconds", "idle_seconds", "max_header_bytes", "max_body_bytes",
                "mta_sts_max_age"):
        if getattr(http, key) <= 0:
            raise ConfigError(f"{where} key '{key}' must be positive")
    if http.max_header_bytes < 1024:
        raise ConfigError(f"{where} key 'max_header_bytes' must be at least 1024")
    if http.mta_sts_max_age > 31557600:
        raise ConfigError(f"{where} key 'mta_sts_max_age' must be at most 31557600 "
                          "(RFC 8461 3.2)")
    if http.mta_sts_mode not in MTA_STS_MODES:
        raise ConfigError(f"{where} key 'mta_sts_mode' must be enforce|testing|none")
    for key in ("metrics_networks", "admin_networks"):
        for net in getattr(http, key):
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ConfigError(f"{where} {key}: {net!r} is not a network") from None


def _validate_acme(tls: TlsConfig, where: str) -> None:
    if not tls.acme_directory.startswith("https://"):
        raise ConfigError(f"{where} key 'acme_directory' must be an https:// URL "
                          "(RFC 8555 6.1)")
    if tls.acme_renew_days < 1:
        raise ConfigError(f"{where} key 'acme_renew_days' must be at least 1")
    if tls.acme_retry_seconds < 1:
        raise ConfigError(f"{where} key 'acme_retry_seconds' must be positive")
    unknown = [c for c in tls.acme_challenges if c not in ACME_CHALLENGES]
    if unknown or not tls.acme_challenges or len(set(tls.acme_challenges)) != len(
            tls.acme_challenges):
        raise ConfigError(f"{where} key 'acme_challenges' must list tls-alpn-01 and/or "
                          "http-01, each once")
    if tls.acme_email and ("@" not in tls.acme_email or any(c in tls.acme_email
                                                             for c in " ,<>")):
        raise ConfigError(f"{where} key 'acme_email' must be one address")
    if tls.acme and tls.cert:
        raise ConfigError(f"{where} 'acme' obtains the certificate itself: leave 'cert' and "
                          "'key' empty")
    if tls.acme_ca_file and not Path(tls.acme_ca_file).is_file():
        raise ConfigError(f"{where} key 'acme_ca_file': file not found: {tls.acme_ca_file}")


def _validate_antiabuse(ab: AntiabuseConfig, where: str) -> None:
    for key, value in dataclasses.asdict(ab).items():
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise ConfigError(f"{where} key '{key}' must not be negative")
    for key in ("rate_window_seconds", "greylist_retry_seconds", "greylist_pass_seconds",
                "rspamd_timeout_seconds"):
        if getattr(ab, key) == 0:
            raise ConfigError(f"{where} key '{key}' must be positive")
    if ab.greylist_retry_seconds <= ab.greylist_delay_seconds:
        raise ConfigError(f"{where} greylist_retry_seconds must exceed greylist_delay_seconds")
    zones = set(ab.ip_blocklists) | set(ab.domain_blocklists)
    for zone in zones:
        if not zone or zone.startswith(".") or " " in zone:
            raise ConfigError(f"{where} blocklist zone {zone!r} is not a domain name")
    for key, action in ab.blocklist_actions.items():
        zone, _, code = key.partition(":")
        if zone not in zones:
            raise ConfigError(f"{where} blocklist_actions key {key!r}: no such blocklist")
        if code and not code.startswith("127."):
            raise ConfigError(f"{where} blocklist_actions key {key!r}: the code must be "
                              "an address in 127.0.0.0/8 (RFC 5782 2.1)")
        if action not in BLOCKLIST_ACTIONS:
            raise ConfigError(f"{where} blocklist_actions {key!r} must be reject|junk|ignore")
    if ab.rspamd_url and not ab.rspamd_url.startswith("http://"):
        raise ConfigError(f"{where} key 'rspamd_url' must be an http:// URL")


def _openssl_selects_a_cipher(ciphers: str) -> bool:
    """Whether OpenSSL accepts the cipher string and it leaves at least one suite."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(ciphers)
    except ssl.SSLError:
        return False
    return True


def replace_section(cfg: Config, **sections: Any) -> Config:
    """A copy of cfg with some sections replaced (used by CLI overrides and tests)."""
    return dataclasses.replace(cfg, **sections)
