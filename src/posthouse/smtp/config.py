"""What a server session offers: a frozen value the IO adapter builds per listener."""

from __future__ import annotations

from dataclasses import dataclass

# RFC 5321 4.5.3.1.4 makes 512 octets (with CRLF) the minimum command line every server must
# take. Parameters from SIZE, DSN, AUTH and SMTPUTF8 lengthen MAIL and RCPT (RFC 1870 3, RFC
# 3461 5), so we take up to 1000 octets including CRLF, the RFC 5321 text line limit.
DEFAULT_MAX_LINE = 1000


@dataclass(frozen=True)
class SmtpConfig:
    """Limits and the extensions to advertise in the EHLO reply.

    ``starttls``: offer STARTTLS while the session is still plaintext. ``auth``: offer AUTH
    with the mechanisms of ``sasl.mechanisms`` (SCRAM-SHA-256 too when ``scram``), only over
    TLS when ``auth_requires_tls`` (RFC 8314 / 4954 4).
    ``auth_required``: MAIL needs a successful AUTH first (submission). ``tls_required``:
    MAIL needs TLS first (530 5.7.0, RFC 3207 4).
    """

    hostname: str
    max_line: int = DEFAULT_MAX_LINE  # command line length including CRLF
    max_message_size: int = 25 * 1024 * 1024
    max_recipients: int = 100  # RFC 5321 4.5.3.1.8: at least 100 must be accepted
    starttls: bool = False
    auth: bool = False
    scram: bool = False  # the store holds SCRAM secrets: offer SCRAM-SHA-256
    auth_requires_tls: bool = True
    auth_required: bool = False
    tls_required: bool = False
    size: bool = True  # RFC 1870
    eightbitmime: bool = True  # RFC 6152
    smtputf8: bool = True  # RFC 6531
    pipelining: bool = True  # RFC 2920
    chunking: bool = True  # RFC 3030 BDAT
    binarymime: bool = True  # RFC 3030 BODY=BINARYMIME (needs chunking)
    dsn: bool = True  # RFC 3461
    enhancedstatuscodes: bool = True  # RFC 2034
    requiretls: bool = True  # RFC 8689: offered only once TLS is active

    def __post_init__(self) -> None:
        if not self.hostname or not self.hostname.isascii() or " " in self.hostname:
            raise ValueError(f"bad hostname {self.hostname!r}")
        if self.max_line < 512:
            raise ValueError("max_line must be at least 512 (RFC 5321 4.5.3.1.4)")
        if self.max_message_size < 0 or self.max_recipients < 1:
            raise ValueError("max_message_size and max_recipients must be positive")

    @property
    def binarymime_offered(self) -> bool:
        """BINARYMIME only makes sense with BDAT."""
        return self.binarymime and self.chunking
