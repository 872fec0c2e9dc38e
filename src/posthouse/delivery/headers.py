"""Header work done at delivery: trace fields (RFC 5321 4.4), submission fixes (RFC 6409 8),
and the byte-level facts the DSNs and the relay share (Return-Path removal, 8-bit content),
and the replacement of top-level fields the inbound filters own (X-Spam, Subject)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache

from posthouse.message.headers import field_names, header_block, header_spans

# One Return-Path field with its folded continuation lines, at the start of a message.
_RETURN_PATH = re.compile(rb"\AReturn-Path[ \t]*:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*",
                          re.IGNORECASE)


def has_field(data: bytes, name: str) -> bool:
    """Whether the header section has a field of that name (case-insensitive)."""
    wanted = name.lower().encode()
    return any(name.lower() == wanted for name in field_names(header_block(data)))


@dataclass(frozen=True, slots=True)
class TraceInfo:
    """What a Received field records about the SMTP session."""

    helo: str
    peer_ip: str
    hostname: str
    session_id: str
    protocol: str  # RFC 3848: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA
    tls: str | None  # e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"
    when: datetime


def received_field(trace: TraceInfo, recipients: list[str]) -> bytes:
    """A Received header field (RFC 5321 4.4), folded, ending in CRLF."""
    helo = _clean(trace.helo) or "unknown"
    parts = [f"Received: from {helo} ([{_clean(trace.peer_ip)}])",
             f"\tby {trace.hostname} (posthouse) with {trace.protocol} id {trace.session_id}"]
    if trace.tls:
        parts.append(f"\t(using {_clean(trace.tls)})")
    if len(recipients) == 1:
        parts.append(f"\tfor <{_clean(recipients[0])}>")
    parts[-1] += f"; {_date_text(trace.when.replace(microsecond=0))}"
    return ("\r\n".join(parts) + "\r\n").encode("utf-8")


@lru_cache(maxsize=8)
def _date_text(second: datetime) -> str:
    """RFC 5322 date-time text; messages arriving in the same second share one."""
    return format_datetime(second)


def return_path_field(mail_from: str) -> bytes:
    """Return-Path added at final delivery (RFC 5321 4.4)."""
    return f"Return-Path: <{_clean(mail_from)}>\r\n".encode()


def strip_return_path(data: bytes) -> bytes:
    """Drop a leading Return-Path field: it belongs to final delivery only, and a relay must
    not send one on (RFC 5321 4.4). Local copies of a message got one prepended."""
    return _RETURN_PATH.sub(b"", data, count=1)


def has_8bit(data: bytes) -> bool:
    """Whether any octet is above 127."""
    return not data.isascii()


def submission_fixes(data: bytes, *, hostname: str, when: datetime) -> bytes:
    """Add Message-ID and Date when a submitted message lacks them (RFC 6409 8.2, 8.3)."""
    extra = b""
    if not has_field(data, "date"):
        extra += f"Date: {format_datetime(when)}\r\n".encode()
    if not has_field(data, "message-id"):
        extra += f"Message-ID: <{secrets.token_hex(12)}@{hostname}>\r\n".encode()
    if not extra:
        return data
    if not data or data.startswith(b"\r\n"):  # no header section at all
        return extra + data
    end = data.find(b"\r\n\r\n")
    if end < 0:  # header only, no body
        return data + (b"" if data.endswith(b"\r\n") else b"\r\n") + extra
    return data[: end + 2] + extra + data[end + 2:]


def replace_fields(data: bytes, names: tuple[bytes, ...], new: bytes = b"") -> bytes:
    """``data`` without its top-level fields named one of ``names`` (lower case), with
    ``new`` (whole CRLF-ended fields) where the first of them stood, else at the header's
    end."""
    spans, body_start, blank = header_spans(data)
    out: list[bytes] = []
    placed = not new
    for start, end in spans:
        colon = data.find(b":", start, end)
        name = data[start:colon].rstrip(b" \t").lower() if colon > start else b""
        if name in names:
            if not placed:
                out.append(new)
                placed = True
            continue
        out.append(data[start:end])
    if not placed:
        out.append(new)
    if blank:  # keep the blank line that ends the header (body_start is past it)
        rest = data[body_start - (2 if data[body_start - 2:body_start] == b"\r\n" else 1):]
    else:
        rest = b"\r\n" + data[body_start:]
    return b"".join(out) + rest if spans or blank else new + b"\r\n" + data


def _clean(text: str) -> str:
    """No CR, LF or other controls may reach a header from peer-supplied text."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else "?" for ch in text)

