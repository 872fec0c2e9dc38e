"""Modified UTF-7 for mailbox names (RFC 3501 5.1.3), strict in both directions.

Printable US-ASCII (0x20-0x7E) stands for itself, except "&" which is written "&-". Every other
run of characters is shifted: "&", the UTF-16BE code units in base64 with "," instead of "/" and
no padding, then "-". A name is accepted only in its one canonical spelling: decoding and then
encoding must give back the exact input (this rejects nonzero pad bits, shifted printable
characters, adjacent shifted runs, unpaired surrogates and 8-bit octets).
"""

from __future__ import annotations

import base64
import binascii

_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")


class Utf7Error(ValueError):
    """The input is not canonical modified UTF-7."""


def _direct(ch: str) -> bool:
    return 0x20 <= ord(ch) <= 0x7E


def _shift(run: str) -> str:
    raw = base64.b64encode(run.encode("utf-16-be")).rstrip(b"=")
    return "&" + raw.replace(b"/", b",").decode("ascii") + "-"


def encode(name: str) -> str:
    """Encode a Unicode mailbox name as modified UTF-7."""
    out: list[str] = []
    run: list[str] = []
    for ch in name:
        if _direct(ch):
            if run:
                out.append(_shift("".join(run)))
                run.clear()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    if run:
        out.append(_shift("".join(run)))
    return "".join(out)


def _unshift(chunk: bytes) -> str:
    if not chunk:
        return "&"
    if not set(chunk) <= _B64_CHARS:
        raise Utf7Error("invalid character in a shifted run")
    padded = chunk.replace(b",", b"/") + b"=" * (-len(chunk) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
        return raw.decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Utf7Error("bad base64 or UTF-16 in a shifted run") from exc


def _decode_loose(data: bytes) -> str:
    out: list[str] = []
    i = 0
    while i < len(data):
        byte = data[i]
        if not 0x20 <= byte <= 0x7E:
            raise Utf7Error("octet outside printable US-ASCII")
        if byte != 0x26:  # "&"
            out.append(chr(byte))
            i += 1
            continue
        end = data.find(b"-", i + 1)
        if end < 0:
            raise Utf7Error("unterminated shifted run")
        out.append(_unshift(data[i + 1 : end]))
        i = end + 1
    return "".join(out)


def decode(data: bytes | str) -> str:
    """Decode a modified UTF-7 name; raise Utf7Error unless it is the canonical spelling."""
    if isinstance(data, str):
        if not data.isascii():
            raise Utf7Error("octet outside printable US-ASCII")
        raw = data.encode("ascii")
    else:
        raw = bytes(data)
    text = _decode_loose(raw)
    if encode(text).encode("ascii") != raw:
        raise Utf7Error("not the canonical modified UTF-7 spelling")
    return text


def encode_mailbox(name: str, *, utf8: bool) -> str:
    """A mailbox name for a response: raw UTF-8 once UTF8=ACCEPT/IMAP4rev2 is on, else
    modified UTF-7 (RFC 6855 3, RFC 9051 5.1)."""
    return name if utf8 else encode(name)


def is_valid(data: bytes | str) -> bool:
    """Whether ``data`` is canonical modified UTF-7."""
    try:
        decode(data)
    except Utf7Error:
        return False
    return True
