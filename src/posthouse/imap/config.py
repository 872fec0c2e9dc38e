"""Per-listener settings of the IMAP engine (the adapter builds them from the server config).

The session loop (serve/imap.py) and the handlers read only this, never the global Config.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ImapConfig:
    """Limits and timeouts of one IMAP listener.

    ``allow_plaintext_on_loopback``: passwords may be sent without TLS from a loopback peer.
    """

    max_message_size: int = 50 * 1024 * 1024  # APPEND limit and the APPENDLIMIT capability
    # RFC 7162 4 asks for command lines of at least 8192 octets; 64 KiB leaves room for UID sets.
    max_line: int = 64 * 1024
    max_literal: int = 64 * 1024  # literals of commands other than APPEND
    max_preauth_literal: int = 8 * 1024  # any literal before login
    idle_seconds: float = 1800.0  # autologout once logged in (RFC 9051 5.4: at least 30 min)
    preauth_idle_seconds: float = 300.0  # before login
    idle_command_seconds: float = 3600.0  # inside IDLE (RFC 2177: clients renew every 29 min)
    command_line_seconds: float = 30.0  # a whole line from its first byte (slowloris)
    min_bytes_per_second: int = 512  # a literal's octets, averaged over each window
    rate_window_seconds: float = 60.0
    max_bad_in_a_row: int = 10  # BAD responses in a row before BYE
    bye_drain_seconds: float = 5.0  # how long a BYE may take to go out
    allow_plaintext_on_loopback: bool = False
    scram: bool = True  # the store holds SCRAM secrets: offer SCRAM-SHA-256 (sasl.mechanisms)
    metadata_max_entry_bytes: int = 16 * 1024  # RFC 5464: one value; [METADATA MAXSIZE n]
    metadata_max_entries: int = 1000  # per user, all mailboxes and the server: TOOMANY
    notify_backlog: int = 1000  # RFC 5465 5.8: events waiting before NOTIFICATIONOVERFLOW
    metadata_admin: str = ""  # the server's /shared/admin value (RFC 5464 3.2.1.1), a URI

    def __post_init__(self) -> None:
        if self.max_line < 8192:
            raise ValueError("max_line must be at least 8192 (RFC 7162 4)")
        if self.max_message_size < 1 or self.max_bad_in_a_row < 1:
            raise ValueError("max_message_size and max_bad_in_a_row must be positive")
