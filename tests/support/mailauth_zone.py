"""A test zone of TXT records served twice: by the loopback DNS server to posthouse, and as a
``dnsfunc`` to dkimpy and authheaders, so both implementations see the same records."""

from __future__ import annotations

import base64
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.dnsserver import DnsServer, txt_rdata

Zone = dict[str, str]  # name -> one TXT value


def rsa_record(key: rsa.RSAPrivateKey) -> str:
    """The DKIM key record of ``key``'s public half (RFC 6376 3.6.1)."""
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def rsa_pem(key: rsa.RSAPrivateKey) -> bytes:
    """``key`` as the PEM dkimpy signs with."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def dns_server(zone: Zone) -> DnsServer:
    """A started loopback server answering ``zone``; the caller stops it."""
    return DnsServer({name: {"TXT": [txt_rdata(text)]} for name, text in zone.items()}).start()


def dnsfunc(zone: Zone) -> Callable[..., bytes | str | None]:
    """The lookup dkimpy and authheaders call: dkimpy asks with a bytes name and wants
    bytes, authheaders' DMARC lookup asks with a str name and wants the text."""

    def lookup(name: bytes | str, timeout: float = 5) -> bytes | str | None:
        del timeout
        text = name.decode() if isinstance(name, bytes) else name
        value = zone.get(text.lower().rstrip("."))
        if isinstance(name, bytes):
            return value.encode() if value is not None else None
        return value

    return lookup
