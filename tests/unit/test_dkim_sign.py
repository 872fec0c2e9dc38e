"""DKIM signing, verified by dkimpy against key records served by the test DNS server."""

from __future__ import annotations

import base64
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import dkim
import dns.resolver
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from posthouse.config import Config, DkimConfig, ServerConfig, dkim_key_path
from posthouse.mailauth.dkim import (
    DkimKeyError,
    DkimKeys,
    carries_own_signature,
    ed25519_public_record,
    fields_to_sign,
    load_keys,
    sign,
)
from posthouse.provision import dkim_public_record, ensure_dkim_key
from tests.support.dnsserver import DnsServer, txt_rdata

MESSAGE = (b"From: Alice <alice@example.test>\r\nTo: bob@peer.test\r\nSubject: hello\r\n"
           b"Date: Wed, 02 Jan 2030 03:04:05 +0000\r\nMessage-ID: <1@example.test>\r\n"
           b"X-Other: not signed\r\n\r\nHello Bob,\r\n\r\n.. see you\r\n")


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    ed = Ed25519PrivateKey.generate()
    ed_path = tmp_path / "ed25519.pem"
    ed_path.write_bytes(ed.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    config = Config(server=ServerConfig(data_dir=str(tmp_path)),
                    dkim=DkimConfig(selector="sel", ed25519_key=str(ed_path)))
    ensure_dkim_key(dkim_key_path(config))
    return config


@pytest.fixture
def dns_server(cfg: Config) -> Iterator[DnsServer]:
    keys = load_keys(cfg)
    assert keys is not None
    assert keys.ed25519 is not None
    server = DnsServer({
        "sel._domainkey.example.test": {"TXT": [txt_rdata(
            dkim_public_record(dkim_key_path(cfg)))]},
        "sel-ed25519._domainkey.example.test": {"TXT": [txt_rdata(
            ed25519_public_record(keys.ed25519))]},
    }).start()
    yield server
    server.stop()


def dnsfunc(server: DnsServer) -> Callable[..., bytes]:
    """dkimpy's DNS hook, asking the test server."""
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = server.port

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        answer = res.resolve(name.decode(), "TXT")
        return b"".join(b"".join(r.strings) for r in answer)

    return lookup


class _BadSignature(Exception):
    pass


class _VerifyKey:
    """PyNaCl's VerifyKey, as much as dkimpy uses, on cryptography."""

    def __init__(self, data: bytes, encoder: object = None) -> None:
        self._key = Ed25519PublicKey.from_public_bytes(base64.b64decode(data))

    def verify(self, message: bytes, signature: bytes) -> None:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            raise _BadSignature from None


NACL_SHIM = types.SimpleNamespace(
    signing=types.SimpleNamespace(VerifyKey=_VerifyKey),
    encoding=types.SimpleNamespace(Base64Encoder=None),
    exceptions=types.SimpleNamespace(BadSignatureError=_BadSignature, ValueError=ValueError))


def test_rsa_signature_verifies(cfg: Config, dns_server: DnsServer) -> None:
    keys = load_keys(cfg)
    assert keys is not None
    signed = sign(MESSAGE, keys=keys, domain="example.test", timestamp=0)
    assert signed.endswith(MESSAGE)
    assert dkim.verify(signed, dnsfunc=dnsfunc(dns_server))
    first = signed.split(b"\r\n\r\n")[0].decode()
    assert "a=rsa-sha256" in first
    assert "c=relaxed/relaxed" in first
    assert "d=example.test" in first
    h = first.split("h=", 1)[1].split(";", 1)[0].replace("\r\n", "").replace(" ", "")
    assert h.split(":") == ["from", "to", "subject", "date", "message-id"]


def test_tampering_breaks_the_signature(cfg: Config, dns_server: DnsServer) -> None:
    keys = load_keys(cfg)
    assert keys is not None
    signed = sign(MESSAGE, keys=keys, domain="example.test", timestamp=0)
    assert not dkim.verify(signed.replace(b"Subject: hello", b"Subject: HELLO!"),
                           dnsfunc=dnsfunc(dns_server))
    # relaxed/relaxed: whitespace changes by relays do not matter (RFC 6376 3.4.2, 3.4.4)
    assert dkim.verify(signed.replace(b"Subject: hello", b"Subject:   hello"),
                       dnsfunc=dnsfunc(dns_server))


def test_ed25519_second_signature_verifies(cfg: Config, dns_server: DnsServer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 8463; dkimpy verifies ed25519 through PyNaCl, stood in for by a shim here."""
    monkeypatch.setattr(dkim, "nacl", NACL_SHIM, raising=False)
    keys = load_keys(cfg)
    assert keys is not None
    now = int(time.time())
    signed = sign(MESSAGE, keys=keys, domain="example.test", timestamp=now)
    assert signed.count(b"DKIM-Signature:") == 2
    verifier = dkim.DKIM(signed)
    assert verifier.verify(idx=1, dnsfunc=dnsfunc(dns_server))
    assert b"a=ed25519-sha256" in signed
    assert b"s=sel-ed25519" in signed
    assert f"t={now}".encode() in signed
    tampered = dkim.DKIM(signed.replace(b"Hello Bob", b"Hello Eve"))
    with pytest.raises(dkim.ValidationError, match="body hash mismatch"):
        tampered.verify(idx=1, dnsfunc=dnsfunc(dns_server))


def test_no_from_no_signature(cfg: Config) -> None:
    keys = load_keys(cfg)
    assert keys is not None
    message = b"Subject: x\r\n\r\nbody\r\n"
    assert sign(message, keys=keys, domain="example.test", timestamp=0) == message


def test_fields_to_sign_only_present_ones() -> None:
    assert fields_to_sign(b"Subject: a\r\nfrom: b\r\nCC: c\r\n\r\nFrom: not a header\r\n") == [
        "from", "cc", "subject"]


def test_no_key_file_no_signing(tmp_path: Path) -> None:
    assert load_keys(Config(server=ServerConfig(data_dir=str(tmp_path)))) is None


def test_bad_ed25519_key_is_reported(cfg: Config, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    broken = Config(server=cfg.server, dkim=DkimConfig(selector="sel", ed25519_key=str(bad)))
    with pytest.raises(DkimKeyError, match=r"bad\.pem"):
        load_keys(broken)


# issue 15: the body hash is computed by dkim_canon, dkimpy only sees the header
BODIES = [
    b"",
    b"one line\r\n",
    b"tabs\tand  double   spaces \t \r\n\tindented\r\n \r\n\r\n\r\n",
    b"a long body line with words " * 3000 + b"\r\n" + b"more  text\t\t\r\n" * 2000,
    b"no final line end  \t",
]


@pytest.mark.parametrize("body", BODIES, ids=["empty", "one", "whitespace", "100k", "open"])
def test_signature_over_any_body_verifies_with_dkimpy(cfg: Config, dns_server: DnsServer,
                                                      body: bytes) -> None:
    keys = load_keys(cfg)
    assert keys is not None
    head = MESSAGE.partition(b"\r\n\r\n")[0]
    message = head + b"\r\n\r\n" + body
    signed = sign(message, keys=keys, domain="example.test", timestamp=0)
    assert signed.endswith(message)
    if body.endswith(b"\t"):  # dkimpy keeps that final whitespace, RFC 6376 3.4.4 drops it
        return
    assert dkim.verify(signed, dnsfunc=dnsfunc(dns_server))


def test_header_only_message_verifies(cfg: Config, dns_server: DnsServer) -> None:
    keys = load_keys(cfg)
    assert keys is not None
    message = MESSAGE.partition(b"\r\n\r\n")[0] + b"\r\n"
    signed = sign(message, keys=keys, domain="example.test", timestamp=0)
    assert dkim.verify(signed, dnsfunc=dnsfunc(dns_server))


def test_own_signature_is_recognised_only_when_it_verifies(cfg: Config) -> None:
    """The queue sends a submission signed at commit as it is (queue/prepare.py)."""
    keys = load_keys(cfg)
    assert keys is not None
    signed = b"Received: from x by y; now\r\n" + sign(MESSAGE, keys=keys,
                                                         domain="example.test", timestamp=0)
    assert carries_own_signature(signed, domain="example.test", keys=keys)
    assert carries_own_signature(signed, domain="EXAMPLE.test.", keys=keys)
    assert not carries_own_signature(signed, domain="other.test", keys=keys)
    assert not carries_own_signature(MESSAGE, domain="example.test", keys=keys)
    changed = signed.replace(b"Subject: hello", b"Subject: changed")
    assert not carries_own_signature(changed, domain="example.test", keys=keys)
    assert not carries_own_signature(signed + b"more\r\n", domain="example.test", keys=keys)
    other = DkimKeys("other", keys.rsa)
    assert not carries_own_signature(signed, domain="example.test", keys=other)


def test_repeated_and_folded_fields_verify_with_dkimpy(cfg: Config, dns_server: DnsServer) -> None:
    """Two To fields (signed from the bottom up, RFC 6376 5.4.2), a folded Subject and
    tabs: dkimpy agrees with the header data hashed here."""
    keys = load_keys(cfg)
    assert keys is not None
    message = (b"From: a@example.test\r\nTo: one@x.test\r\nTo:\ttwo@x.test\r\n"
               b"Subject: a long\r\n  folded\t subject\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000"
               b"\r\n\r\nbody  with\t spaces \r\n\r\n\r\n")
    signed = sign(message, keys=keys, domain="example.test", timestamp=int(time.time()))
    assert dkim.verify(signed, dnsfunc=dnsfunc(dns_server))
    assert not dkim.verify(signed.replace(b"To:\ttwo@x.test", b"To: three@x.test"),
                           dnsfunc=dnsfunc(dns_server))
