"""The DKIM-style signature common to DKIM-Signature (RFC 6376 3.5) and ARC's
ARC-Message-Signature and ARC-Seal (RFC 8617 4.1.2, 4.1.3): the shared tags (a=, c=, d=, s=,
h=, b=, bh=, l=) and the check of body hash and header signature (RFC 6376 6.1.3).

What only one kind of field has (DKIM's v=, i=, x=; ARC's instance and cv=) is read by its
own module; this one never looks up keys (``dkim_keys``) or decides a method's result.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from posthouse.mailauth.dkim_canon import canonical_body, signed_header_data
from posthouse.mailauth.dkim_keys import (
    DkimKey,
    SignatureVerdict,
    check_key_type,
    signature_valid,
)
from posthouse.mailauth.taglist import TagListError, parse_tag_list, without_whitespace
from posthouse.message.headers import Field

ALGORITHMS = ("rsa-sha256", "ed25519-sha256")
_FOLDING = re.compile(rb"\r?\n(?=[ \t])")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*=*")


@dataclass(frozen=True, slots=True)
class SignedFields:
    """The tags every DKIM-style signature shares, checked (``parse_signed_fields``)."""

    field: Field
    tags: dict[str, str]
    algorithm: str
    header_canon: str
    body_canon: str
    domain: str
    selector: str
    signed: tuple[str, ...]  # h=, lower-cased; () for an ARC-Seal
    signature: bytes
    body_hash: bytes  # b"" for an ARC-Seal (no bh=)
    length: int | None


def field_tags(field: Field) -> dict[str, str]:
    """The tag-list of a signature field, unfolded (raises ``SignatureVerdict`` neutral)."""
    try:
        return parse_tag_list(_FOLDING.sub(b"", field.value).decode("utf-8", "replace"))
    except TagListError as exc:
        raise SignatureVerdict("neutral", f"signature syntax: {exc}") from None


def parse_signed_fields(field: Field, tags: dict[str, str],
                        required: Sequence[str]) -> SignedFields:
    """The shared tags of ``field`` once ``required`` are present (RFC 6376 3.5)."""
    missing = [t for t in required if t not in tags]
    if missing:
        raise SignatureVerdict("neutral", "signature lacks " + ", ".join(f"{t}=" for t in missing))
    algorithm = tags["a"].lower()
    if algorithm == "rsa-sha1":
        raise SignatureVerdict("permerror", "rsa-sha1 is not accepted (RFC 8301)")
    if algorithm not in ALGORITHMS:
        raise SignatureVerdict("permerror", f"unknown algorithm {algorithm[:20]}")
    header_canon, _, body_canon = tags.get("c", "simple/simple").lower().partition("/")
    body_canon = body_canon or "simple"
    if header_canon not in ("simple", "relaxed") or body_canon not in ("simple", "relaxed"):
        raise SignatureVerdict("neutral", "unknown canonicalization")
    signed = tuple(n.strip(" \t\r\n").lower() for n in tags["h"].split(":")) if "h" in tags else ()
    body_hash = decode_base64(tags["bh"]) if "bh" in tags else b""
    return SignedFields(field, tags, algorithm, header_canon, body_canon,
                        tags["d"].lower().rstrip("."), tags["s"], signed,
                        decode_base64(tags["b"]), body_hash, number(tags, "l"))


def number(tags: dict[str, str], name: str) -> int | None:
    """A numeric tag (RFC 6376 3.5: 1*76DIGIT), None when absent."""
    value = tags.get(name)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 76:
        raise SignatureVerdict("neutral", f"malformed {name}=")
    return int(value)


def decode_base64(value: str) -> bytes:
    """b= and bh= values, folding whitespace removed."""
    text = without_whitespace(value)
    if _BASE64.fullmatch(text) is None:
        raise SignatureVerdict("neutral", "malformed base64")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SignatureVerdict("neutral", "malformed base64") from None


def check_body(sig: SignedFields, body: bytes) -> None:
    """Raise a fail verdict unless bh= matches the canonical body (limited by l=)."""
    canonical = canonical_body(body, sig.body_canon)
    if sig.length is not None:
        if sig.length > len(canonical):
            raise SignatureVerdict("fail", "l= beyond the body")
        canonical = canonical[: sig.length]
    if hashlib.sha256(canonical).digest() != sig.body_hash:
        raise SignatureVerdict("fail", "body hash did not verify")


def check_signature(sig: SignedFields, key: DkimKey | SignatureVerdict, data: bytes) -> None:
    """Raise the verdict unless b= verifies over the header ``data`` with ``key``."""
    if isinstance(key, SignatureVerdict):
        raise key
    check_key_type(key, sig.algorithm)
    if not signature_valid(key, sig.signature, data):
        raise SignatureVerdict("fail", "signature did not verify")


def check_message_signature(sig: SignedFields, key: DkimKey | SignatureVerdict,
                            fields: Sequence[Field], body: bytes) -> None:
    """RFC 6376 6.1.3 for a signature with h= and bh= (DKIM-Signature, ARC-Message-
    Signature): the key, the body hash, then the header hash and signature."""
    if isinstance(key, SignatureVerdict):
        raise key
    check_key_type(key, sig.algorithm)
    check_body(sig, body)
    check_signature(sig, key, signed_header_data(sig.signed, fields, sig.field, sig.header_canon))
