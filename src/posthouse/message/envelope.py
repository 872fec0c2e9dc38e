"""The IMAP ENVELOPE of a message header (RFC 9051 7.5.2, RFC 3501 7.4.2).

The envelope is a list of ten members, in this order: date, subject, from, sender,
reply-to, to, cc, bcc, in-reply-to, message-id. Strings are the header values unfolded and
trimmed but NOT decoded: IMAP hands clients the raw text, encoded-words included, and
leaves RFC 2047 decoding to them. 8-bit header bytes are read as UTF-8 (RFC 6532), or as
Latin-1 when they are not valid UTF-8. NUL, CR and LF are removed (an IMAP string cannot
carry them). Absent fields are None (NIL); a field present but empty is "" for strings and
None for address lists. Sender and reply-to default to from when absent or empty. For
duplicated fields the first one counts.

An address list is a list of ``[name, adl, mailbox, host]`` (see ``address``), or None.
"""

from __future__ import annotations

import json

from posthouse.message.address import AddressParts, parse_addresses
from posthouse.message.headers import Header, clean_string, field_text

EnvelopeAddress = list[str | None]
EnvelopeMember = str | list[EnvelopeAddress] | None
Envelope = list[EnvelopeMember]

_MAX_ADDRESSES = 1000  # per list; more are dropped (a list this long is abuse, not mail)


def _string(header: Header, name: str) -> str | None:
    found = header.first(name)
    return None if found is None else clean_string(field_text(found))


def _address(address: AddressParts) -> EnvelopeAddress:
    return [None if part is None else clean_string(part) for part in address]


def _addresses(header: Header, name: str) -> list[EnvelopeAddress] | None:
    found = header.first(name)
    if found is None:
        return None
    parsed = parse_addresses(field_text(found))[:_MAX_ADDRESSES]
    return [_address(a) for a in parsed] or None


def build_envelope(header: Header) -> Envelope:
    """The ten envelope members of a parsed header block."""
    sender_from = _addresses(header, "from")
    sender = _addresses(header, "sender") or sender_from
    reply_to = _addresses(header, "reply-to") or sender_from
    return [
        _string(header, "date"),
        _string(header, "subject"),
        sender_from,
        sender,
        reply_to,
        _addresses(header, "to"),
        _addresses(header, "cc"),
        _addresses(header, "bcc"),
        _string(header, "in-reply-to"),
        _string(header, "message-id"),
    ]


def envelope_json(header: Header) -> str:
    """The envelope as compact JSON text (the form the store keeps)."""
    return json.dumps(build_envelope(header), ensure_ascii=False, separators=(",", ":"))
