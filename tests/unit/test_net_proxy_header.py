"""The PROXY protocol header parser (net/proxy_header.py), from the spec's formats: v1 text
lines and v2 binary headers built here byte by byte."""

from __future__ import annotations

import struct

import pytest

from posthouse.net.proxy_header import (
    MAX_HEADER,
    V1_MAX,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    header_length,
    parse_proxy_header,
)


def v2(command: int = 1, fam: int = 0x11, body: bytes = b"", *, version: int = 2,
       length: int | None = None) -> bytes:
    """A v2 header: signature, version/command, family/transport, length, body."""
    size = len(body) if length is None else length
    return V2_SIGNATURE + bytes([version << 4 | command, fam]) + struct.pack("!H", size) + body


def v4_body(src: str = "192.0.2.10", dst: str = "198.51.100.1", sport: int = 40000,
            dport: int = 25) -> bytes:
    return (bytes(int(x) for x in src.split(".")) + bytes(int(x) for x in dst.split("."))
            + struct.pack("!HH", sport, dport))


def whole(data: bytes) -> ProxyHeader:
    """Parse as the listener does: the length first, then exactly that many bytes."""
    end = header_length(data)
    assert end is not None
    return parse_proxy_header(data[:end])


def test_v1_tcp4() -> None:
    line = b"PROXY TCP4 192.0.2.10 198.51.100.1 40000 25\r\n"
    assert header_length(line + b"EHLO x\r\n") == len(line)
    assert whole(line) == ProxyHeader(1, ("192.0.2.10", 40000), ("198.51.100.1", 25))


def test_v1_tcp6() -> None:
    line = b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 993\r\n"
    assert whole(line).source == ("2001:db8::1", 65535)


def test_v1_unknown_keeps_peer() -> None:
    assert whole(b"PROXY UNKNOWN\r\n") == ProxyHeader(1, None)
    assert whole(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n").source is None


def test_v1_longest_lines_are_accepted() -> None:
    src = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    line = f"PROXY TCP6 {src} {src} 65535 65535\r\n".encode()
    assert whole(line).source == (src, 65535)
    longest = f"PROXY UNKNOWN {src} {src} 65535 65535\r\n".encode()  # spec 2.1's worst case
    assert len(longest) == V1_MAX
    assert whole(longest).source is None


@pytest.mark.parametrize("line", [
    b"PROXY TCP4 192.0.2.10 198.51.100.1 40000\r\n",  # a field missing
    b"PROXY TCP4 192.0.2.10 198.51.100.1 40000 25 x\r\n",  # one too many
    b"PROXY TCP5 192.0.2.10 198.51.100.1 40000 25\r\n",
    b"PROXY TCP4 2001:db8::1 198.51.100.1 40000 25\r\n",  # family mismatch
    b"PROXY TCP6 192.0.2.10 2001:db8::2 40000 25\r\n",
    b"PROXY TCP4 192.0.2.010 198.51.100.1 40000 25\r\n",  # leading zero
    b"PROXY TCP4 192.0.2.10 198.51.100.1 040000 25\r\n",
    b"PROXY TCP4 192.0.2.10 198.51.100.1 65536 25\r\n",
    b"PROXY TCP4 192.0.2.10 198.51.100.1 -1 25\r\n",
    b"PROXY TCP4  192.0.2.10 198.51.100.1 40000 25\r\n",  # two spaces
    b"PROXY TCP4 192.0.2.10 198.51.100.1 40000 25\n",  # LF without CR
    b"PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n",
    b"PROXY TCP4 192.0.2.10 198.51.100.1 4\xc3\xa9 25\r\n",
])
def test_v1_invalid(line: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        whole(line)


def test_v1_incomplete_and_oversized() -> None:
    assert header_length(b"") is None
    assert header_length(b"PRO") is None
    assert header_length(b"PROXY TCP4 192.0.2.10") is None
    with pytest.raises(ProxyHeaderError):
        header_length(b"PROXY " + b"x" * V1_MAX)
    with pytest.raises(ProxyHeaderError):  # the CRLF would be past byte 107
        header_length(b"PROXY " + b"x" * (V1_MAX - 6) + b"\r\n")


@pytest.mark.parametrize("start", [b"EHLO x\r\n", b"a001 LOGIN", b"\x16\x03\x01\x00",
                                   b"PROXI", b"GET / HTTP/1.1\r\n", b"\r\n\r\n\x01"])
def test_garbage_is_refused_at_once(start: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        header_length(start)


def test_v2_tcp4() -> None:
    header = v2(body=v4_body())
    assert header_length(header + b"\x16\x03\x01") == len(header) == 28
    assert whole(header) == ProxyHeader(2, ("192.0.2.10", 40000), ("198.51.100.1", 25))


def test_v2_tcp6() -> None:
    src = bytes.fromhex("20010db8000000000000000000000001")
    dst = bytes.fromhex("20010db8000000000000000000000002")
    header = v2(fam=0x21, body=src + dst + struct.pack("!HH", 1234, 993))
    assert whole(header).source == ("2001:db8::1", 1234)


def test_v2_tlvs_are_skipped() -> None:
    tlvs = (bytes([0x01]) + struct.pack("!H", 2) + b"h2"  # ALPN
            + bytes([0x05]) + struct.pack("!H", 4) + b"uid1"  # UNIQUE_ID
            + bytes([0x04]) + struct.pack("!H", 0))  # NOOP, empty
    assert whole(v2(body=v4_body() + tlvs)).source == ("192.0.2.10", 40000)


def test_v2_local_keeps_peer() -> None:
    assert whole(v2(command=0, fam=0x00)) == ProxyHeader(2, None)
    assert whole(v2(command=0, fam=0x11, body=v4_body())).source is None  # ignored


def test_v2_unspec_and_unix_keep_peer() -> None:
    assert whole(v2(fam=0x00)).source is None
    assert whole(v2(fam=0x31, body=b"\x00" * 216)).source is None
    assert whole(v2(fam=0x12, body=v4_body())).source is None  # UDP


def test_v2_incomplete() -> None:
    header = v2(body=v4_body())
    for cut in range(len(header)):
        assert header_length(header[:cut]) is None


@pytest.mark.parametrize("header", [
    v2(version=1, body=v4_body()),
    v2(command=2, body=v4_body()),
    v2(body=v4_body()[:10]),  # addresses truncated
    v2(fam=0x21, body=v4_body()),  # too short for IPv6
    v2(body=v4_body() + b"\x01\x00"),  # a TLV cut in its length
    v2(body=v4_body() + b"\x01\x00\x05ab"),  # a TLV longer than what is left
])
def test_v2_invalid(header: bytes) -> None:
    with pytest.raises(ProxyHeaderError):
        whole(header)


def test_v2_oversized_is_refused_from_its_length() -> None:
    with pytest.raises(ProxyHeaderError):
        header_length(v2(length=MAX_HEADER))


def test_length_mismatch_on_parse() -> None:
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(v2(body=v4_body()) + b"x")
    with pytest.raises(ProxyHeaderError):
        parse_proxy_header(b"EHLO x\r\n")
