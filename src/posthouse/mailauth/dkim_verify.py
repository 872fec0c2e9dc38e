"""DKIM verification of arriving mail (RFC 6376 6), rsa-sha256 and ed25519-sha256 (RFC 8463),
with the key rules of RFC 8301: rsa-sha1 is never valid, RSA keys below 1024 bits are refused.

Every signature gets its own result; the keys of all signatures are looked up concurrently
through the injected Resolver (TXT at ``<s>._domainkey.<d>``), once per selector and domain.
The results follow RFC 8601 2.7.1:

- pass: the signature verified;
- fail: it did not (header hash, body hash, expired x=, l= beyond the body);
- neutral: the DKIM-Signature field itself is malformed (tag syntax, tags missing, base64);
- permerror: it cannot verify, now or later (From not signed, i= outside d=, rsa-sha1, a key
  too small, no key, a revoked key, a malformed key record, an unknown algorithm);
- temperror: the key lookup failed for now.

Canonicalization (RFC 6376 3.4) and hashing are done here with ``cryptography``; no
third-party DKIM code runs on arriving mail.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from posthouse.dns.resolver import NoRecords, Resolver, TempFail
from posthouse.mailauth.taglist import (
    TagListError,
    blank_tag,
    parse_tag_list,
    without_whitespace,
)
from posthouse.message.headers import Field, split_header

# More signatures than this are not checked (each costs a DNS lookup and a public-key
# operation); the rest are reported as neutral.
MAX_SIGNATURES = 16
MIN_RSA_BITS = 1024  # RFC 8301 3.2
_REQUIRED_TAGS = ("v", "a", "b", "bh", "d", "h", "s")
_WSP_RUN = re.compile(rb"[ \t]+")
_LINE_END = re.compile(rb"\r?\n")
_FOLDING = re.compile(rb"\r?\n(?=[ \t])")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*=*")


@dataclass(frozen=True, slots=True)
class DkimResult:
    """The verdict on one DKIM-Signature field."""

    result: str  # pass, fail, neutral, permerror, temperror (RFC 8601 2.7.1)
    domain: str = ""  # d=, lower-cased
    selector: str = ""
    algorithm: str = ""
    identity: str = ""  # i= as given, "" when absent
    signature_start: str = ""  # the first characters of b=, for header.b (RFC 6008)
    reason: str = ""

    def resinfo(self) -> str:
        """This result as an Authentication-Results resinfo (RFC 8601 2.7.1, RFC 6008)."""
        parts = [f"dkim={self.result}"]
        if self.reason and self.result != "pass":
            parts.append(f"({self.reason})")
        if self.domain:
            parts.append(f"header.d={self.domain}")
        if self.identity:
            parts.append(f"header.i={self.identity}")
        if self.selector:
            parts.append(f"header.s={self.selector}")
        if self.algorithm:
            parts.append(f"header.a={self.algorithm}")
        if self.signature_start:
            parts.append(f"header.b={self.signature_start}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class _Signature:
    """A parsed DKIM-Signature field (the tags checked in ``_parse_signature``)."""

    field: Field
    tags: dict[str, str]
    algorithm: str
    header_canon: str
    body_canon: str
    domain: str
    selector: str
    signed: tuple[str, ...]
    signature: bytes
    body_hash: bytes
    length: int | None
    expires: int | None


@dataclass(frozen=True, slots=True)
class _Key:
    kind: str  # "rsa" or "ed25519"
    raw: bytes
    strict_identity: bool  # t=s: i= must be in d= exactly (RFC 6376 3.6.1)


class _Verdict(Exception):
    """A result carried out of nested checks (not an error of posthouse)."""

    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


async def verify_dkim(message: bytes, resolver: Resolver, *, now: int) -> tuple[DkimResult, ...]:
    """One result per DKIM-Signature field of ``message``, topmost first; ``now`` is the
    current time in seconds (x= checks). No signature gives an empty tuple (dkim=none)."""
    message = _LINE_END.sub(b"\r\n", message)
    header = split_header(message)
    fields = list(header.get_all("dkim-signature"))
    parsed: list[_Signature | DkimResult] = []
    for i, field in enumerate(fields):
        if i >= MAX_SIGNATURES:
            parsed.append(DkimResult("neutral", reason="not checked: too many signatures"))
            continue
        try:
            parsed.append(_parse_signature(field, now))
        except _Verdict as verdict:
            parsed.append(_described(field, verdict))
    wanted = {(s.selector, s.domain) for s in parsed if isinstance(s, _Signature)}
    names = sorted(wanted)
    answers = await asyncio.gather(*(_fetch_key(resolver, s, d) for s, d in names))
    keys = dict(zip(names, answers, strict=True))
    body = message[header.body_start:] if header.has_blank_line else b""
    results: list[DkimResult] = []
    for sig in parsed:
        if isinstance(sig, DkimResult):
            results.append(sig)
            continue
        try:
            _check(sig, keys[(sig.selector, sig.domain)], header.fields, body)
            results.append(_result(sig, "pass", ""))
        except _Verdict as verdict:
            results.append(_result(sig, verdict.result, verdict.reason))
    return tuple(results)


def _result(sig: _Signature, result: str, reason: str) -> DkimResult:
    return DkimResult(result, sig.domain, sig.selector, sig.algorithm,
                      sig.tags.get("i", ""), without_whitespace(sig.tags["b"])[:8], reason)


def _described(field: Field, verdict: _Verdict) -> DkimResult:
    """A result for a signature that did not parse, with whatever d=/s= it names."""
    try:
        tags = parse_tag_list(_field_text(field))
    except TagListError:
        tags = {}
    return DkimResult(verdict.result, tags.get("d", "").lower(), tags.get("s", ""),
                      tags.get("a", ""), "", "", verdict.reason)


def _field_text(field: Field) -> str:
    return _FOLDING.sub(b"", field.value).decode("utf-8", "replace")


def _parse_signature(field: Field, now: int) -> _Signature:
    try:
        tags = parse_tag_list(_field_text(field))
    except TagListError as exc:
        raise _Verdict("neutral", f"signature syntax: {exc}") from None
    missing = [t for t in _REQUIRED_TAGS if t not in tags]
    if missing:
        raise _Verdict("neutral", "signature lacks " + ", ".join(f"{t}=" for t in missing))
    if tags["v"] != "1":
        raise _Verdict("neutral", f"unknown signature version v={tags['v'][:8]}")
    algorithm = tags["a"].lower()
    if algorithm == "rsa-sha1":
        raise _Verdict("permerror", "rsa-sha1 is not accepted (RFC 8301)")
    if algorithm not in ("rsa-sha256", "ed25519-sha256"):
        raise _Verdict("permerror", f"unknown algorithm {algorithm[:20]}")
    header_canon, _, body_canon = tags.get("c", "simple/simple").lower().partition("/")
    body_canon = body_canon or "simple"
    if header_canon not in ("simple", "relaxed") or body_canon not in ("simple", "relaxed"):
        raise _Verdict("neutral", "unknown canonicalization")
    if "q" in tags and "dns/txt" not in tags["q"].lower().split(":"):
        raise _Verdict("permerror", "no supported query method in q=")
    domain = tags["d"].lower().rstrip(".")
    signed = tuple(n.strip(" \t\r\n").lower() for n in tags["h"].split(":"))
    if "from" not in signed:
        raise _Verdict("permerror", "From is not signed")
    _check_identity(tags.get("i"), domain)
    length = _number(tags, "l")
    expires = _number(tags, "x")
    timestamp = _number(tags, "t")
    if expires is not None and timestamp is not None and expires < timestamp:
        raise _Verdict("permerror", "x= before t=")
    if expires is not None and expires < now:
        raise _Verdict("fail", "signature expired")
    return _Signature(field, tags, algorithm, header_canon, body_canon, domain, tags["s"],
                      signed, _base64(tags["b"]), _base64(tags["bh"]), length, expires)


def _check_identity(identity: str | None, domain: str) -> None:
    """RFC 6376 3.5 i=: the domain of the identity is d= or a subdomain of it."""
    if identity is None:
        return
    at_domain = identity.rpartition("@")[2].lower().rstrip(".")
    if "@" not in identity or not (at_domain == domain or at_domain.endswith("." + domain)):
        raise _Verdict("permerror", "i= is not within d=")


def _number(tags: dict[str, str], name: str) -> int | None:
    value = tags.get(name)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 76:  # RFC 6376 3.5: 1*76DIGIT
        raise _Verdict("neutral", f"malformed {name}=")
    return int(value)


def _base64(value: str) -> bytes:
    text = without_whitespace(value)
    if _BASE64.fullmatch(text) is None:
        raise _Verdict("neutral", "malformed base64")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _Verdict("neutral", "malformed base64") from None


async def _fetch_key(resolver: Resolver, selector: str, domain: str) -> _Key | _Verdict:
    """The public key at ``<selector>._domainkey.<domain>`` or why there is none."""
    answer = await resolver.txt(f"{selector}._domainkey.{domain}")
    if isinstance(answer, TempFail):
        return _Verdict("temperror", f"key lookup: {answer.reason}")
    if isinstance(answer, NoRecords) or not answer:
        return _Verdict("permerror", "no key for signature")
    verdict = _Verdict("permerror", "malformed key record")
    for text in answer:
        key = _parse_key(text)
        if isinstance(key, _Key):
            return key
        verdict = key
    return verdict


def _parse_key(text: str) -> _Key | _Verdict:
    """RFC 6376 3.6.1 key record (k= rsa or ed25519, RFC 8463 4)."""
    try:
        tags = parse_tag_list(text)
    except TagListError:
        return _Verdict("permerror", "malformed key record")
    if "v" in tags and (next(iter(tags)) != "v" or tags["v"] != "DKIM1"):
        return _Verdict("permerror", "malformed key record")
    if "p" not in tags:
        return _Verdict("permerror", "key record without p=")
    data = without_whitespace(tags["p"])
    if not data:
        return _Verdict("permerror", "key revoked")
    if "h" in tags and "sha256" not in [h.strip() for h in tags["h"].split(":")]:
        return _Verdict("permerror", "key does not allow sha256")
    services = [s.strip() for s in tags.get("s", "*").split(":")]
    if "*" not in services and "email" not in services:
        return _Verdict("permerror", "key not for email")
    try:
        raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError):
        return _Verdict("permerror", "malformed key data")
    flags = [f.strip() for f in tags.get("t", "").split(":")]
    return _Key(tags.get("k", "rsa").lower(), raw, "s" in flags)


def _check(sig: _Signature, key: _Key | _Verdict, fields: tuple[Field, ...], body: bytes) -> None:
    """Raise the verdict unless ``sig`` verifies (RFC 6376 6.1.3)."""
    if isinstance(key, _Verdict):
        raise key
    if key.kind != sig.algorithm.partition("-")[0]:
        raise _Verdict("permerror", f"key type {key.kind[:10]} does not match a=")
    identity_domain = sig.tags.get("i", "@" + sig.domain).rpartition("@")[2].lower()
    if key.strict_identity and identity_domain.rstrip(".") != sig.domain:
        raise _Verdict("permerror", "key requires i= to be d= exactly (t=s)")
    canonical = _canonical_body(body, sig.body_canon)
    if sig.length is not None:
        if sig.length > len(canonical):
            raise _Verdict("fail", "l= beyond the body")
        canonical = canonical[: sig.length]
    if hashlib.sha256(canonical).digest() != sig.body_hash:
        raise _Verdict("fail", "body hash did not verify")
    data = _signed_header_data(sig, fields)
    if not _signature_valid(key, sig.signature, data):
        raise _Verdict("fail", "signature did not verify")


def _signature_valid(key: _Key, signature: bytes, data: bytes) -> bool:
    if key.kind == "ed25519":
        if len(key.raw) != 32:
            raise _Verdict("permerror", "malformed ed25519 key")
        public = Ed25519PublicKey.from_public_bytes(key.raw)
        try:  # RFC 8463 3: Ed25519 signs the SHA-256 hash of the header data
            public.verify(signature, hashlib.sha256(data).digest())
        except InvalidSignature:
            return False
        return True
    rsa = _rsa_key(key.raw)
    if rsa.key_size < MIN_RSA_BITS:
        raise _Verdict("permerror", f"RSA key of {rsa.key_size} bits is too small (RFC 8301)")
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
            raise _Verdict("permerror", "malformed RSA key") from None
    if not isinstance(key, RSAPublicKey):
        raise _Verdict("permerror", "key is not an RSA key")
    return key


def _signed_header_data(sig: _Signature, fields: tuple[Field, ...]) -> bytes:
    """The header fields named in h= (each instance taken from the bottom up, RFC 6376
    5.4.2; a name without a remaining instance adds nothing), then the signature field
    with b= emptied and no final CRLF (RFC 6376 3.7)."""
    remaining: dict[str, list[Field]] = {}
    for f in fields:
        if f.name:
            remaining.setdefault(f.name.lower(), []).append(f)
    out: list[bytes] = []
    for name in sig.signed:
        instances = remaining.get(name)
        if instances:
            out.append(_canonical_field(instances.pop().raw, sig.header_canon))
    raw = sig.field.raw
    colon = sig.field.colon
    blanked = raw[: colon + 1] + blank_tag(raw[colon + 1 :], b"b")
    own = _canonical_field(blanked, sig.header_canon)
    out.append(own[:-2] if own.endswith(b"\r\n") else own)
    return b"".join(out)


def _canonical_field(raw: bytes, canon: str) -> bytes:
    """One field canonicalized, with its CRLF (RFC 6376 3.4.1 and 3.4.2)."""
    if canon == "simple":
        return raw if raw.endswith(b"\r\n") else raw + b"\r\n"
    name, _, value = raw.partition(b":")
    value = _WSP_RUN.sub(b" ", _LINE_END.sub(b"", value)).strip(b" ")
    return name.rstrip(b" \t").lower() + b":" + value + b"\r\n"


def _canonical_body(body: bytes, canon: str) -> bytes:
    """RFC 6376 3.4.3 (simple) and 3.4.4 (relaxed; an empty body stays empty)."""
    if canon == "simple":
        return body.rstrip(b"\r\n") + b"\r\n"
    relaxed = _WSP_RUN.sub(b" ", body).replace(b" \r\n", b"\r\n").rstrip(b" ")
    relaxed = relaxed.rstrip(b"\r\n")
    return relaxed + b"\r\n" if relaxed else b""
