"""SASL server-side step machines (sans-IO); the only SASL code SMTP, IMAP and POP3 use.

The cores hand the client's text over raw (``AuthStart``, ``AuthResponse``); the sessions
drive the mechanism through ``auth.sasl_exchange.SaslExchange``, which does::

    mech = sasl.start(name, allowed=sasl.mechanisms(secure=..., scram=..., tls_available=...))
    result = mech.step(raw_initial_response_or_None)
    while isinstance(result, sasl.Challenge):
        send(prefix + result.encoded())          # "334 " / "+ "
        result = mech.step(read_raw_line())      # NeedSecrets: mech.provide_secrets(...)
    # Credentials: verify the password; Verified: SCRAM proved it; Failure: reply by reason
"""

from posthouse.sasl.base import (
    BAD_BASE64,
    MAX_RESPONSE_OCTETS,
    Challenge,
    Credentials,
    Failure,
    FailureReason,
    Mechanism,
    MechanismNotAllowed,
    NeedSecrets,
    SaslError,
    Step,
    UnknownMechanism,
    Verified,
)
from posthouse.sasl.events import AuthResponse, AuthStart, SaslEvent
from posthouse.sasl.login import LoginMechanism
from posthouse.sasl.plain import PlainMechanism
from posthouse.sasl.registry import is_mechanism_name, mechanisms, normalize_name, start
from posthouse.sasl.scram import ScramSecrets, ScramSha256, derive_secrets

__all__ = [
    "BAD_BASE64",
    "MAX_RESPONSE_OCTETS",
    "AuthResponse",
    "AuthStart",
    "Challenge",
    "Credentials",
    "Failure",
    "FailureReason",
    "LoginMechanism",
    "Mechanism",
    "MechanismNotAllowed",
    "NeedSecrets",
    "PlainMechanism",
    "SaslError",
    "SaslEvent",
    "ScramSecrets",
    "ScramSha256",
    "Step",
    "UnknownMechanism",
    "Verified",
    "derive_secrets",
    "is_mechanism_name",
    "mechanisms",
    "normalize_name",
    "start",
]
