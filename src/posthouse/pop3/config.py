"""Per-connection settings of the POP3 core (the adapter builds one per accepted socket)."""

from __future__ import annotations

from dataclasses import dataclass

from posthouse.sasl import MAX_RESPONSE_OCTETS


@dataclass(frozen=True, slots=True)
class Pop3Config:
    """What the core needs to know about the listener and the peer.

    ``allow_plaintext`` permits USER/PASS, PLAIN and LOGIN without TLS; set it only where
    that is safe (a loopback peer, if the operator allows it).
    """

    tls_active: bool = False  # implicit TLS (port 995), or already upgraded
    tls_available: bool = False  # a certificate is configured, so STLS can be offered
    allow_plaintext: bool = False
    scram: bool = False  # the store holds SCRAM secrets: offer SCRAM-SHA-256 (sasl.mechanisms)
    implementation: str = "posthouse"
    login_delay: int | None = None  # RFC 2449 6.8; None omits the capability
    # RFC 2449 4 allows 255 octets per command line; we accept up to this before -ERR.
    max_command_line: int = 512
    # AUTH lines and SASL responses may be longer (RFC 5034 4).
    max_sasl_line: int = MAX_RESPONSE_OCTETS + 64
    max_errors: int = 20  # bad commands tolerated before the core ends the session
