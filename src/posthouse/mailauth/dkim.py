"""DKIM signing of outgoing mail (RFC 6376), rsa-sha256 plus optional ed25519-sha256 (RFC 8463).

Mail only for remote recipients is signed at relay time in the queue worker, not at enqueue:
the stored blob stays as submitted (bounces return it unchanged), a rotated key applies to
everything still queued, and the SMTP path does not wait for a signature. A retry signs
again (new t=). A submission with local recipients is signed once before its commit
(``delivery/submission_dkim.py``); its queued copy shares that blob, and the worker sends it
as it is when ``carries_own_signature`` says it carries our valid signature already.

The signature field is built here on the canonicalization that verification uses
(dkim_canon.py), and signed with ``cryptography`` (RSA and Ed25519 alike): dkimpy's
header parse and builder cost about a millisecond a message on the relay path. Tests
verify what this signs with dkimpy (tests/unit/test_dkim_sign.py) and with the peers of the
outbound tests. The ed25519 key is published under
the selector ``<selector>-ed25519`` (one selector cannot hold two key records).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, utils
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from posthouse.config import Config, dkim_key_path
from posthouse.mailauth.dkim_canon import canonical_body, signed_header_data
from posthouse.mailauth.dkim_keys import DkimKey, SignatureVerdict
from posthouse.mailauth.dkim_signature import (
    check_message_signature,
    field_tags,
    parse_signed_fields,
)
from posthouse.message.headers import Field, field_names, header_block, split_header

# The fields signed when present (RFC 6376 5.4.1 recommends these); From is required.
SIGNED_FIELDS = ("from", "to", "cc", "subject", "date", "message-id", "mime-version",
                 "content-type", "reply-to", "in-reply-to", "references")
ED25519_SUFFIX = "-ed25519"


class DkimKeyError(Exception):
    """A configured key file is missing or unusable; the message names the file."""


@dataclass(frozen=True)
class DkimKeys:
    """The signing keys: the RSA PEM and, optionally, an Ed25519 key."""

    selector: str
    rsa: RSAPrivateKey
    ed25519: Ed25519PrivateKey | None = None


def load_keys(cfg: Config) -> DkimKeys | None:
    """The keys of the configuration; None when no RSA key file exists (signing off)."""
    path = dkim_key_path(cfg)
    if not path.is_file():
        return None
    ed = None
    if cfg.dkim.ed25519_key:
        ed = _load_ed25519(Path(cfg.dkim.ed25519_key))
    return DkimKeys(cfg.dkim.selector, _load_rsa(path), ed)


def _read_key(path: Path, name: str) -> PrivateKeyTypes:
    """The PEM private key in ``path``; ``name`` ("RSA", "Ed25519") says which in errors."""
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise DkimKeyError(f"cannot read {name} DKIM key {path}: {exc}") from None


def _load_rsa(path: Path) -> RSAPrivateKey:
    key = _read_key(path, "RSA")
    if not isinstance(key, RSAPrivateKey):
        raise DkimKeyError(f"{path} is not an RSA private key")
    return key


def _load_ed25519(path: Path) -> Ed25519PrivateKey:
    key = _read_key(path, "Ed25519")
    if not isinstance(key, Ed25519PrivateKey):
        raise DkimKeyError(f"{path} is not an Ed25519 private key")
    return key


def ed25519_public_record(key: Ed25519PrivateKey) -> str:
    """The TXT value for <selector>-ed25519._domainkey.<domain> (RFC 8463 4.2)."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()


def fields_to_sign(message: bytes) -> list[str]:
    """SIGNED_FIELDS that occur in the header section, in that order."""
    present = {name.decode("ascii").lower() for name in field_names(header_block(message))}
    return [f for f in SIGNED_FIELDS if f in present]


def _sign_digest(key: Ed25519PrivateKey | RSAPrivateKey, digest: bytes) -> bytes:
    """Both algorithms sign the SHA-256 digest of the canonical header data: Ed25519
    directly (RFC 8463 3), RSA as PKCS#1 v1.5 with SHA-256 (RFC 6376 3.3.1)."""
    if isinstance(key, RSAPrivateKey):
        return key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    return key.sign(digest)


def _signature_field(message: bytes, *, algorithm: bytes, selector: str, domain: str,
                     key: Ed25519PrivateKey | RSAPrivateKey, include: list[bytes],
                     timestamp: int) -> bytes:
    """One DKIM-Signature field (relaxed/relaxed), folded, with its CRLF.

    The hashed data is what verification hashes (dkim_canon.signed_header_data: the fields
    of h= from the bottom up, then this field with b= empty, RFC 6376 3.7), so one
    implementation of the canonicalization serves both; b= is folded after signing (a
    verifier drops the whitespace in b=, RFC 6376 3.5)."""
    header = split_header(message)
    body = message[header.body_start:]
    body_hash = base64.b64encode(hashlib.sha256(canonical_body(body, "relaxed")).digest())
    unsigned = (b"DKIM-Signature: v=1; a=" + algorithm + b"; c=relaxed/relaxed; d="
                + domain.encode() + b"; s=" + selector.encode() + b";\r\n\tq=dns/txt; t="
                + str(timestamp).encode() + b";\r\n\th=" + b" : ".join(include)
                + b";\r\n\tbh=" + body_hash + b";\r\n\tb=")
    own = Field("dkim-signature", unsigned, unsigned.index(b":"))
    data = signed_header_data([n.decode("ascii") for n in include], header.fields, own,
                              "relaxed")
    signature = base64.b64encode(_sign_digest(key, hashlib.sha256(data).digest()))
    folded = b"\r\n\t ".join(signature[at:at + 72] for at in range(0, len(signature), 72))
    return unsigned + folded + b"\r\n"


def sign(message: bytes, *, keys: DkimKeys, domain: str, timestamp: int) -> bytes:
    """``message`` with DKIM-Signature field(s) prepended (RSA topmost); unchanged when it
    has no From field. ``domain`` is d= in A-label form; ``timestamp`` is t=."""
    names = fields_to_sign(message)
    if "from" not in names:
        return message
    include = [n.encode() for n in names]
    rsa = _signature_field(message, algorithm=b"rsa-sha256", selector=keys.selector,
                           domain=domain, key=keys.rsa, include=include, timestamp=timestamp)
    extra = b""
    if keys.ed25519 is not None:
        extra = _signature_field(message, algorithm=b"ed25519-sha256",
                                 selector=keys.selector + ED25519_SUFFIX, domain=domain,
                                 key=keys.ed25519, include=include, timestamp=timestamp)
    return rsa + extra + message


def carries_own_signature(message: bytes, *, domain: str, keys: DkimKeys) -> bool:
    """Whether the topmost DKIM-Signature of ``message`` is one this server made: rsa-sha256,
    d= ``domain``, our selector, and it verifies with our own RSA key (RFC 6376 6.1.3; no
    DNS). A signature of ours on an older version of the message does not count."""
    header = split_header(message)
    field = header.first("dkim-signature")
    if field is None:
        return False
    public = keys.rsa.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        sig = parse_signed_fields(field, field_tags(field), ("a", "b", "bh", "d", "h", "s"))
        if (sig.algorithm != "rsa-sha256" or sig.domain != domain.lower().rstrip(".")
                or sig.selector != keys.selector):
            return False
        check_message_signature(sig, DkimKey("rsa", public, strict_identity=False),
                                header.fields, message[header.body_start:])
    except SignatureVerdict:
        return False
    return True
