"""DKIM public keys: the key record (RFC 6376 3.6.1, RFC 8463 4), its lookup through the
injected Resolver, and the public-key check of a signature (RFC 8301 key rules: RSA keys
below 1024 bits are refused). Shared by DKIM-Signature and ARC verification.

A problem is raised or returned as a ``SignatureVerdict`` carrying the RFC 8601 result word
(permerror, temperror, fail ...); the caller decides what it means for its method.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from posthouse.dns.resolver import NoRecords, Resolver, TempFail
from posthouse.mailauth.taglist import TagListError, parse_tag_list, without_whitespace

MIN_RSA_BITS = 1024  # RFC 8301 3.2


class SignatureVerdict(Exception):
    """A result carried out of nested checks (not an error of posthouse)."""

    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A usable key record."""

    kind: str  # "rsa" or "ed25519"
    raw: bytes
    strict_identity: bool  # t=s: i= must be in d= exactly (RFC 6376 3.6.1)


async def fetch_key(resolver: Resolver, selector: str, domain: str) -> DkimKey | SignatureVerdict:
    """The public key at ``<selector>._domainkey.<domain>`` or why there is none."""
    answer = await resolver.txt(f"{selector}._domainkey.{domain}")
    if isinstance(answer, TempFail):
        return SignatureVerdict("temperror", f"key lookup: {answer.reason}")
    if isinstance(answer, NoRecords) or not answer:
        return SignatureVerdict("permerror", "no key for signature")
    verdict = SignatureVerdict("permerror", "malformed key record")
    for text in answer:
        key = parse_key(text)
        if isinstance(key, DkimKey):
            return key
        verdict = key
    return verdict


def parse_key(text: str) -> DkimKey | SignatureVerdict:
    """RFC 6376 3.6.1 key record (k= rsa or ed25519, RFC 8463 4)."""
    try:
        tags = parse_tag_list(text)
    except TagListError:
        return SignatureVerdict("permerror", "malformed key record")
    if "v" in tags and (next(iter(tags)) != "v" or tags["v"] != "DKIM1"):
        return SignatureVerdict("permerror", "malformed key record")
    if "p" not in tags:
        return SignatureVerdict("permerror", "key record without p=")
    data = without_whitespace(tags["p"])
    if not data:
        return SignatureVerdict("permerror", "key revoked")
    if "h" in tags and "sha256" not in [h.strip() for h in tags["h"].split(":")]:
        return SignatureVerdict("permerror", "key does not allow sha256")
    services = [s.strip() for s in tags.get("s", "*").split(":")]
    if "*" not in services and "email" not in services:
        return SignatureVerdict("permerror", "key not for email")
    try:
        raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError):
        return SignatureVerdict("permerror", "malformed key data")
    flags = [f.strip() for f in tags.get("t", "").split(":")]
    return DkimKey(tags.get("k", "rsa").lower(), raw, "s" in flags)


def check_key_type(key: DkimKey, algorithm: str) -> None:
    """Raise unless the key's k= matches the signature's a= (rsa-sha256, ed25519-sha256)."""
    if key.kind != algorithm.partition("-")[0]:
        raise SignatureVerdict("permerror", f"key type {key.kind[:10]} does not match a=")


def signature_valid(key: DkimKey, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` over ``data`` verifies with ``key`` (SHA-256 in both cases);
    a key that cannot be used raises a permerror verdict."""
    if key.kind == "ed25519":
        if len(key.raw) != 32:
            raise SignatureVerdict("permerror", "malformed ed25519 key")
        public = Ed25519PublicKey.from_public_bytes(key.raw)
        try:  # RFC 8463 3: Ed25519 signs the SHA-256 hash of the header data
            public.verify(signature, hashlib.sha256(data).digest())
        except InvalidSignature:
            return False
        return True
    rsa = _rsa_key(key.raw)
    if rsa.key_size < MIN_RSA_BITS:
        raise SignatureVerdict("permerror",
                               f"RSA key of {rsa.key_size} bits is too small (RFC 8301)")
    try:
        rsa.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _rsa_key(raw: bytes) -> RSAPublicKey:
    """p= holds a SubjectPublicKeyInfo in practice; a bare RSAPublicKey is accepted too."""
    try:
        key = serialization.load_der_public_key(raw)
    except ValueError:
        pem = (b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(raw)
               + b"-----END RSA PUBLIC KEY-----\n")
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError:
            raise SignatureVerdict("permerror", "malformed RSA key") from None
    if not isinstance(key, RSAPublicKey):
        raise SignatureVerdict("permerror", "key is not an RSA key")
    return key
