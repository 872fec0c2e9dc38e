"""Parsing of the SCRAM client messages (RFC 5802 7), kept apart from the exchange logic."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from posthouse.sasl.base import Failure, FailureReason

_PROOF_OCTETS = 32  # SHA-256 output


@dataclass(frozen=True, slots=True)
class ClientFirst:
    """The parts of client-first-message the exchange needs later."""

    gs2_header: str  # e.g. "n,," - echoed back inside the client-final "c=" attribute
    bare: str  # client-first-message-bare, part of AuthMessage
    username: str
    authzid: str | None
    nonce: str


@dataclass(frozen=True, slots=True)
class ClientFinal:
    """client-final-message split into the AuthMessage part and the proof."""

    without_proof: str
    proof: bytes


def _malformed(detail: str) -> Failure:
    return Failure(FailureReason.MALFORMED, detail)


def decode_saslname(value: str) -> str | None:
    """Undo the "=2C" / "=3D" escaping of saslname; None if another "=" appears."""
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == ",":
            return None
        if ch == "=":
            escape = value[i + 1 : i + 3]
            if escape not in ("2C", "3D"):
                return None
            out.append("," if escape == "2C" else "=")
            i += 3
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _valid_nonce(nonce: str) -> bool:
    return bool(nonce) and all(0x21 <= ord(ch) <= 0x7E and ch != "," for ch in nonce)


def parse_client_first(text: str | None) -> ClientFirst | Failure:
    """gs2-header client-first-message-bare; channel binding and "m=" are refused."""
    if text is None:
        return _malformed("client-first-message must be UTF-8")
    parts = text.split(",")
    if len(parts) < 4:
        return _malformed("client-first-message too short")
    flag, authz = parts[0], parts[1]
    if flag.startswith("p="):
        return Failure(FailureReason.UNSUPPORTED, "channel binding is not supported")
    if flag not in ("n", "y"):
        return _malformed("bad gs2-cbind-flag")
    authzid: str | None = None
    if authz:
        if not authz.startswith("a="):
            return _malformed("bad authzid")
        authzid = decode_saslname(authz[2:])
        if not authzid:
            return _malformed("bad authzid")
    if parts[2].startswith("m="):
        return Failure(FailureReason.UNSUPPORTED, "mandatory extension not supported")
    if not parts[2].startswith("n=") or not parts[3].startswith("r="):
        return _malformed("expected n= and r= attributes")
    username = decode_saslname(parts[2][2:])
    if not username:
        return _malformed("bad username")
    if authzid is not None and authzid.lower() != username.lower():
        return Failure(FailureReason.AUTHZID_MISMATCH, "authorization identity not permitted")
    nonce = parts[3][2:]
    if not _valid_nonce(nonce):
        return _malformed("bad nonce")
    return ClientFirst(
        gs2_header=f"{flag},{authz},",
        bare=",".join(parts[2:]),
        username=username,
        authzid=authzid,
        nonce=nonce,
    )


def parse_client_final(text: str | None, *, gs2_header: str, nonce: str) -> ClientFinal | Failure:
    """channel-binding "," nonce ["," extensions] "," proof, checked against the first round."""
    if text is None:
        return _malformed("client-final-message must be UTF-8")
    parts = text.split(",")
    if len(parts) < 3 or not parts[-1].startswith("p="):
        return _malformed("client-final-message needs c=, r= and p=")
    expected_binding = "c=" + base64.b64encode(gs2_header.encode()).decode()
    if parts[0] != expected_binding:
        return _malformed("channel binding data does not match")
    if parts[1] != "r=" + nonce:
        return _malformed("nonce does not match")
    try:
        proof = base64.b64decode(parts[-1][2:], validate=True)
    except (binascii.Error, ValueError):
        return _malformed("bad proof encoding")
    if len(proof) != _PROOF_OCTETS:
        return _malformed("bad proof length")
    return ClientFinal(without_proof=",".join(parts[:-1]), proof=proof)
