"""SASL server-side step machines (sans-IO); the only SASL code SMTP, IMAP and POP3 use.

Driving an exchange from a protocol adapter::

    mech = sasl.start(name, allowed=sasl.mechanisms(secure=tls_active))
    result = mech.step(initial_response_or_None)
    while isinstance(result, sasl.Challenge):
        send(prefix + result.encoded())          # "334 " / "+ "
        result = mech.step(read_line())
    if isinstance(result, sasl.Credentials):
        principal = await authenticator.authenticate(result.authcid, result.password, ...)
    elif isinstance(result, sasl.Failure):
        reply_error(result.reason)
"""

from posthouse.sasl.base import (
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
from posthouse.sasl.login import LoginMechanism
from posthouse.sasl.plain import PlainMechanism
from posthouse.sasl.registry import mechanisms, normalize_name, start
from posthouse.sasl.scram import ScramSecrets, ScramSha256, derive_secrets

__all__ = [
    "MAX_RESPONSE_OCTETS",
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
    "ScramSecrets",
    "ScramSha256",
    "Step",
    "UnknownMechanism",
    "Verified",
    "derive_secrets",
    "mechanisms",
    "normalize_name",
    "start",
]
