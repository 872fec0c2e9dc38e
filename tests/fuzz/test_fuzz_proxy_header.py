"""Fuzzing the PROXY protocol header parser (net/proxy_header.py).

Valid v1 lines and v2 headers (IPv4/IPv6, LOCAL, TLVs) built from the spec's formats are
mutated and followed by arbitrary session bytes, then read the way the listener reads them:
chunk by chunk, ``header_length`` on what arrived so far. The parser must raise nothing but
ProxyHeaderError; ``None`` only while every byte seen can still be header and the cap is not
reached; a length that never reaches past the input nor past MAX_HEADER, the same however the
input is cut; and a decoded source that is a valid address and port.
"""

from __future__ import annotations

import ipaddress
import struct

from hypothesis import given
from hypothesis import strategies as st

from posthouse.net.proxy_header import (
    MAX_HEADER,
    V2_SIGNATURE,
    ProxyHeaderError,
    header_length,
    parse_proxy_header,
)
from tests.fuzz.support import FUZZ, cuts, mutated, split_at

ports = st.integers(0, 65535)
v4 = st.ip_addresses(v=4)
v6 = st.ip_addresses(v=6)


@st.composite
def v1_lines(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        addrs = v4 if draw(st.booleans()) else v6
        proto = "TCP4" if addrs is v4 else "TCP6"
        line = f"PROXY {proto} {draw(addrs)} {draw(addrs)} {draw(ports)} {draw(ports)}"
    else:
        line = "PROXY UNKNOWN"
    return line.encode() + b"\r\n"


@st.composite
def v2_headers(draw: st.DrawFn) -> bytes:
    command = draw(st.sampled_from([0, 1]))
    if draw(st.booleans()):
        fam, body = 0x11, draw(v4).packed + draw(v4).packed
    else:
        fam, body = 0x21, draw(v6).packed + draw(v6).packed
    body += struct.pack("!HH", draw(ports), draw(ports))
    for value in draw(st.lists(st.binary(max_size=20), max_size=3)):
        body += bytes([draw(st.integers(0, 255))]) + struct.pack("!H", len(value)) + value
    return (V2_SIGNATURE + bytes([0x20 | command, fam]) + struct.pack("!H", len(body))
            + body)


headers = st.one_of(v1_lines(), v2_headers())
inputs = st.tuples(st.one_of(headers, mutated(headers, max_edits=4)), st.binary(max_size=40))


def read_like_the_listener(data: bytes, points: list[int]) -> int | str | None:
    """The header's length as found chunk by chunk; "error" when refused; None: incomplete."""
    seen = b""
    for chunk in split_at(data, points):
        seen += chunk
        try:
            end = header_length(seen)
        except ProxyHeaderError:
            return "error"
        if end is not None:
            assert 0 < end <= min(len(seen), MAX_HEADER)
            return end
        assert len(seen) < MAX_HEADER
    return None


@FUZZ
@given(inputs, cuts)
def test_header_reading(case: tuple[bytes, bytes], points: list[int]) -> None:
    header, rest = case
    data = header + rest
    found = read_like_the_listener(data, points)
    assert found == read_like_the_listener(data, [])  # the same however it is cut
    if not isinstance(found, int):
        return
    try:
        parsed = parse_proxy_header(data[:found])
    except ProxyHeaderError:
        return
    if parsed.source is not None:
        ip, port = parsed.source
        ipaddress.ip_address(ip)
        assert 0 <= port <= 65535


@FUZZ
@given(headers, st.binary(max_size=40))
def test_valid_headers_end_where_they_end(header: bytes, rest: bytes) -> None:
    assert header_length(header + rest) == len(header)
    parse_proxy_header(header)
