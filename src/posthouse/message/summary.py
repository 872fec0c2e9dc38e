"""One parse at delivery: everything IMAP needs later, as a MessageSummary; and the body
text of a stored message for the full-text index (message_text, taken after the delivery)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from posthouse.message.address import parse_addresses
from posthouse.message.envelope import envelope_json
from posthouse.message.headers import Header, decoded_value, field_text, split_header
from posthouse.message.mime import Part, parse
from posthouse.message.params import param_text
from posthouse.message.structure import bodystructure_json
from posthouse.message.summary_model import MessageSummary
from posthouse.message.transfer import body_text

TEXT_LIMIT = 1 << 20  # characters of body text kept for the full-text index
HEADER_LIMIT = 1 << 16  # characters kept per decoded header field
_MAX_ADDRESSES = 1000  # parsed addresses kept per field, as in the envelope


def summarize(data: bytes) -> MessageSummary:
    """Parse ``data`` (a whole message, CRLF line ends) once; never raises."""
    header = split_header(data)
    root = parse(data, header)
    return MessageSummary(
        envelope=envelope_json(header),
        bodystructure=bodystructure_json(data, root),
        headers=search_headers(header),
        sent_date=sent_date(header),
    )


def message_text(data: bytes) -> str:
    """The searchable body text of a whole message (the full-text index's body column)."""
    return searchable_text(data, parse(data))


ADDRESS_FIELDS = frozenset({"from", "sender", "reply-to", "to", "cc", "bcc"})


def _plain_addresses(text: str, decoded: str) -> list[str]:
    """The addresses of an address field as ENVELOPE parses them, comments and folding
    whitespace gone (RFC 5322 3.2.2 CFWS), that the decoded value does not show as is."""
    out: list[str] = []
    for _, _, mailbox, host in parse_addresses(" ".join(text.split()))[:_MAX_ADDRESSES]:
        if host is None:
            continue  # a group's start or end marker
        address = f"{mailbox or ''}@{host}" if host else (mailbox or "")
        if address and address not in decoded:
            out.append(address)
    return out


def search_headers(header: Header) -> dict[str, str]:
    """Lower-cased field name -> value decoded from RFC 2047 encoded-words; repeated fields
    are joined with "\\n" in message order. Lines that are not fields are left out. An
    address field also holds its parsed addresses on lines of their own, so that SEARCH
    FROM finds ``user@domain.org`` in ``<user (c)@ (c) domain.org>`` (issue 14)."""
    values: dict[str, list[str]] = {}
    for found in header.fields:
        if found.name:
            name = found.name.lower()
            value = decoded_value(found)[:HEADER_LIMIT]
            values.setdefault(name, []).append(value)
            if name in ADDRESS_FIELDS:
                values[name] += _plain_addresses(field_text(found), value)
    return {name: "\n".join(parts) for name, parts in values.items()}


def parse_date(value: str) -> datetime | None:
    """An RFC 5322 date-time as an aware datetime; None if invalid. "-0000" (RFC 5322
    3.3, zone unknown) is taken as UTC."""
    try:
        parsed = parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def sent_date(header: Header) -> datetime | None:
    """The Date: field (the first one) parsed, for SEARCH SENTBEFORE and friends."""
    found = header.first("date")
    return None if found is None else parse_date(field_text(found))


PREVIEW_CHARS = 256  # RFC 8970 3.1


def preview_text(data: bytes) -> str:
    """A short plain-text preview of a whole message (RFC 8970 3.1): its decoded text,
    whitespace runs made one space, at most PREVIEW_CHARS characters; "" without text."""
    text = searchable_text(data, parse(data), limit=4 * PREVIEW_CHARS)
    return " ".join(text.split())[:PREVIEW_CHARS]


def _text_parts(root: Part) -> list[Part]:
    """The leaf text/* parts in depth-first order (message/rfc822 bodies included)."""
    found: list[Part] = []
    stack = [root]
    while stack:
        part = stack.pop()
        if part.multipart:
            stack.extend(reversed(part.children))
        elif part.message is not None:
            stack.append(part.message)
        elif part.is_type("text"):
            found.append(part)
    return found


def searchable_text(data: bytes, root: Part, limit: int = TEXT_LIMIT) -> str:
    """Decoded text of the text/* parts (HTML roughly stripped, line ends as LF, NUL
    removed), at most ``limit`` characters."""
    pieces: list[str] = []
    room = limit
    for part in _text_parts(root):
        if room <= 0:
            break
        body = data[part.body_start : min(part.end, part.body_start + 4 * room + 4)]
        text = body_text(
            body,
            part.encoding,
            param_text(part.params, "charset"),
            html_body=part.is_type("text", "html"),
        )
        text = text.replace("\r\n", "\n").replace("\x00", "").strip()
        if text:
            pieces.append(text[:room])
            room -= len(pieces[-1]) + 1
    return "\n".join(pieces)
