"""Which mechanisms exist, which are offered on a channel, and how to start one."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from posthouse.sasl.base import Mechanism, MechanismNotAllowed, UnknownMechanism
from posthouse.sasl.login import LoginMechanism
from posthouse.sasl.plain import PlainMechanism
from posthouse.sasl.scram import ScramSha256

_FACTORIES: dict[str, Callable[[], Mechanism]] = {
    "SCRAM-SHA-256": ScramSha256,
    "PLAIN": PlainMechanism,
    "LOGIN": LoginMechanism,
}
# RFC 4422 3.1: a mechanism name is 1 to 20 characters of A-Z, 0-9, "-" and "_".
_NAME = re.compile(r"[A-Z0-9_-]{1,20}")


def mechanisms(*, secure: bool, scram: bool = False, tls_available: bool = False
               ) -> tuple[str, ...]:
    """The mechanisms a server offers on a channel, strongest first: the one rule SMTP,
    POP3 and IMAP follow (nothing else decides what they offer).

    ``secure``: passwords may be sent on this channel (TLS, or a deployment that explicitly
    allows plaintext, e.g. on loopback); PLAIN and LOGIN send the password itself, so they
    are offered only there. ``scram``: the server has SCRAM-SHA-256 enabled. SCRAM never
    reveals the password, but its exchange still gives an eavesdropper a dictionary attack:
    where the client can switch to TLS first (``tls_available``: STARTTLS/STLS, as on every
    posthouse listener) it waits for a secure channel like PLAIN; on a listener without TLS
    it is the one mechanism offered.
    """
    names: list[str] = []
    if scram and (secure or not tls_available):
        names.append("SCRAM-SHA-256")
    if secure:
        names += ["PLAIN", "LOGIN"]
    return tuple(names)


def is_mechanism_name(name: str | bytes) -> bool:
    """Whether ``name`` has the syntax of a mechanism name (RFC 4422 3.1), upper case only:
    a client's name, which may come in any case, is upper-cased first."""
    text = name.decode("latin-1") if isinstance(name, bytes) else name
    return _NAME.fullmatch(text) is not None


def normalize_name(name: str | bytes) -> str:
    """Upper-cased mechanism name; UnknownMechanism if it cannot be one."""
    if isinstance(name, bytes):
        try:
            name = name.decode("ascii")
        except UnicodeDecodeError:
            raise UnknownMechanism("mechanism name is not ASCII") from None
    name = name.upper()
    if not is_mechanism_name(name):
        raise UnknownMechanism("bad mechanism name")
    return name


def start(name: str | bytes, *, allowed: Collection[str] | None = None) -> Mechanism:
    """A fresh server-side exchange for ``name`` (case-insensitive).

    Raises UnknownMechanism for a name we do not implement and MechanismNotAllowed when
    ``allowed`` (usually the output of ``mechanisms``) does not contain it.
    """
    key = normalize_name(name)
    factory = _FACTORIES.get(key)
    if factory is None:
        raise UnknownMechanism(f"unknown mechanism {key}")
    if allowed is not None and key not in allowed:
        raise MechanismNotAllowed(f"{key} is not available on this connection")
    return factory()
