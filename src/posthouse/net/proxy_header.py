"""The PROXY protocol header (HAProxy's "PROXY protocol" spec, versions 1 and 2), sans-IO.

A TCP load balancer in front of posthouse prepends one header to each connection naming the
client's address. ``header_length(data)`` tells a reader how far the header reaches in the
bytes received so far (None: every byte given is header, more is needed) and raises
ProxyHeaderError as soon as the input cannot be a header; ``parse_proxy_header(header)``
decodes a complete one.

- Version 1 (spec 2.1): one text line, at most 107 bytes with its CRLF:
  ``PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\\r\\n`` or ``PROXY UNKNOWN ...\\r\\n``.
- Version 2 (spec 2.2): the 12-byte signature, version/command, family/transport, a 16-bit
  length, the addresses, then TLVs (skipped here). LOCAL (a health check by the proxy itself)
  and UNKNOWN / AF_UNSPEC / UNIX carry no usable client address: ``source`` is None and the
  connection keeps its real peer.

Addresses are checked strictly (no leading zeros in v1 IPv4, ports 0-65535) so a header
never yields an address the rest of the server would misread.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

V1_PREFIX = b"PROXY "
V1_MAX = 107  # spec 2.1: the longest v1 line, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16  # signature, version/command, family/protocol, length
V2_MAX_BODY = 4096  # ours: addresses plus TLVs; HAProxy sends far less (spec 2.2: 536 total)
MAX_HEADER = V2_FIXED + V2_MAX_BODY

_V2_LOCAL, _V2_PROXY = 0x0, 0x1
_AF_INET, _AF_INET6 = 0x1, 0x2
_STREAM = 0x1


class ProxyHeaderError(ValueError):
    """The bytes are not a valid PROXY header; the connection must be closed."""


@dataclass(frozen=True)
class ProxyHeader:
    """A decoded header: the client's (ip, port), or None to keep the real peer."""

    version: int
    source: tuple[str, int] | None
    destination: tuple[str, int] | None = None


def header_length(data: bytes) -> int | None:
    """The header's total length if ``data`` (a stream's first bytes) holds all of it;
    None if every byte of ``data`` belongs to an unfinished header; ProxyHeaderError if
    ``data`` cannot start a header."""
    if data[:1] == b"P":
        if not V1_PREFIX.startswith(data[:6]):
            raise ProxyHeaderError("not a PROXY header")
        end = data.find(b"\n", 0, V1_MAX)
        if end >= 0:
            return end + 1
        if len(data) >= V1_MAX:
            raise ProxyHeaderError(f"v1 header longer than {V1_MAX} bytes")
        return None
    if not V2_SIGNATURE.startswith(data[:12]):
        raise ProxyHeaderError("not a PROXY header")
    if len(data) < V2_FIXED:
        return None
    if data[12] >> 4 != 2:
        raise ProxyHeaderError(f"unsupported version {data[12] >> 4}")
    body = struct.unpack_from("!H", data, 14)[0]
    if body > V2_MAX_BODY:
        raise ProxyHeaderError(f"v2 header body of {body} bytes is over {V2_MAX_BODY}")
    total = V2_FIXED + body
    return total if len(data) >= total else None


def parse_proxy_header(header: bytes) -> ProxyHeader:
    """Decode one complete header (exactly ``header_length`` bytes)."""
    if header.startswith(V1_PREFIX):
        return _parse_v1(header)
    if header.startswith(V2_SIGNATURE):
        return _parse_v2(header)
    raise ProxyHeaderError("not a PROXY header")


def _parse_v1(header: bytes) -> ProxyHeader:
    if len(header) > V1_MAX or not header.endswith(b"\r\n"):
        raise ProxyHeaderError("v1 header must end with CRLF within 107 bytes")
    try:
        line = header[:-2].decode("ascii")
    except UnicodeDecodeError:
        raise ProxyHeaderError("v1 header is not ASCII") from None
    parts = line.split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyHeader(1, None)  # spec 2.1: the rest of the line is ignored
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError("v1 header needs TCP4|TCP6 and four fields")
    version = 4 if parts[1] == "TCP4" else 6
    src, dst = _v1_ip(parts[2], version), _v1_ip(parts[3], version)
    return ProxyHeader(1, (src, _v1_port(parts[4])), (dst, _v1_port(parts[5])))


def _v1_ip(text: str, version: int) -> str:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise ProxyHeaderError(f"bad address {text!r}") from None
    if addr.version != version or "%" in text:
        raise ProxyHeaderError(f"address {text!r} is not TCP{version}")
    return str(addr)


def _v1_port(text: str) -> int:
    # spec 2.1: decimal, no leading zeros (a lone "0" is fine)
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise ProxyHeaderError(f"bad port {text!r}")
    port = int(text)
    if port > 65535:
        raise ProxyHeaderError(f"port {port} out of range")
    return port


def _parse_v2(header: bytes) -> ProxyHeader:
    if len(header) < V2_FIXED:
        raise ProxyHeaderError("v2 header truncated")
    ver_cmd, fam, length = struct.unpack_from("!BBH", header, 12)
    if ver_cmd >> 4 != 2:
        raise ProxyHeaderError(f"unsupported version {ver_cmd >> 4}")
    if len(header) != V2_FIXED + length:
        raise ProxyHeaderError("v2 header length does not match")
    command = ver_cmd & 0x0F
    if command == _V2_LOCAL:
        return ProxyHeader(2, None)  # spec 2.2: the proxy's own connection, keep the peer
    if command != _V2_PROXY:
        raise ProxyHeaderError(f"unknown v2 command {command}")
    family, transport = fam >> 4, fam & 0x0F
    if family not in (_AF_INET, _AF_INET6) or transport != _STREAM:
        return ProxyHeader(2, None)  # UNSPEC, UNIX or DGRAM: no TCP client address to use
    size = 4 if family == _AF_INET else 16
    if length < 2 * size + 4:
        raise ProxyHeaderError("v2 address block truncated")
    body = header[V2_FIXED:]
    src_raw, dst_raw = body[:size], body[size:2 * size]
    sport, dport = struct.unpack_from("!HH", body, 2 * size)
    src = ipaddress.ip_address(src_raw)
    dst = ipaddress.ip_address(dst_raw)
    _check_tlvs(body[2 * size + 4:])
    return ProxyHeader(2, (str(src), sport), (str(dst), dport))


def _check_tlvs(tlvs: bytes) -> None:
    """TLVs (spec 2.2.7) are skipped, but they must tile the rest of the header exactly."""
    at = 0
    while at < len(tlvs):
        if len(tlvs) - at < 3:
            raise ProxyHeaderError("v2 TLV truncated")
        size = struct.unpack_from("!H", tlvs, at + 1)[0]
        at += 3 + size
        if at > len(tlvs):
            raise ProxyHeaderError("v2 TLV overruns the header")
