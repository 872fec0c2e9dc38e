"""JSON Web Signatures as ACME uses them (RFC 8555 6.2, RFC 7515 flattened JSON): the ES256
account key, its JWK and thumbprint (RFC 7638) and key authorizations (RFC 8555 8.1).

Pure computation: no IO, no clock.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

_P256_BYTES = 32  # RFC 7518 3.4: R and S are each 32 octets for ES256


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 2, RFC 8555 6.1)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The inverse of b64url (padding restored)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AccountKey:
    """An ACME account key: ECDSA P-256, signing with ES256."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("the ACME account key must be ECDSA P-256")
        self.key = key

    @classmethod
    def generate(cls) -> AccountKey:
        """A fresh key."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, data: bytes) -> AccountKey:
        """Load a PKCS#8 PEM key (as ``to_pem`` writes)."""
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the ACME account key must be an ECDSA key")
        return cls(key)

    def to_pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted (the file is the owner's only)."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def jwk(self) -> dict[str, str]:
        """The public key as a JWK (RFC 7518 6.2.1)."""
        numbers = self.key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(_P256_BYTES, "big")),
            "y": b64url(numbers.y.to_bytes(_P256_BYTES, "big")),
        }

    def thumbprint(self) -> str:
        """RFC 7638 3: SHA-256 over the required members in lexicographic order, no
        whitespace, base64url."""
        jwk = self.jwk()
        canonical = json.dumps(
            {k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
        )
        return b64url(hashlib.sha256(canonical.encode("ascii")).digest())

    def sign(self, data: bytes) -> bytes:
        """An ES256 signature: R || S, each 32 octets big-endian (RFC 7518 3.4), not DER."""
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")


def signed_request(
    key: AccountKey, *, url: str, nonce: str, payload: Any | None, kid: str | None
) -> dict[str, str]:
    """The flattened JWS body of an ACME POST (RFC 8555 6.2).

    ``kid`` is the account URL; None puts the JWK in the header instead (newAccount only).
    ``payload`` None is a POST-as-GET (6.3): the payload is the empty string."""
    protected: dict[str, Any] = {"alg": "ES256", "nonce": nonce, "url": url}
    if kid is None:
        protected["jwk"] = key.jwk()
    else:
        protected["kid"] = kid
    protected_b64 = b64url(json.dumps(protected, separators=(",", ":")).encode("utf-8"))
    payload_b64 = (
        ""
        if payload is None
        else b64url(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
    )
    signature = key.sign(f"{protected_b64}.{payload_b64}".encode("ascii"))
    return {"protected": protected_b64, "payload": payload_b64, "signature": b64url(signature)}


def key_authorization(token: str, key: AccountKey) -> str:
    """RFC 8555 8.1: token || '.' || base64url(JWK thumbprint)."""
    return f"{token}.{key.thumbprint()}"
