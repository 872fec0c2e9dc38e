"""Conversions between domain values and their SQLite column forms (flags, dates, JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from posthouse.message.summary_model import MessageSummary
from posthouse.store.errors import StoreError
from posthouse.store.models import FlagOp, canonical_flag, is_recent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

FlagSet = dict[str, str]  # lower-cased flag -> spelling kept


def _check_flag(flag: str) -> None:
    if not flag or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in flag):
        raise StoreError(f"invalid flag {flag!r}")


def flag_set(flags: Iterable[str]) -> FlagSet:
    """Validate flags into a case-insensitive set, dropping \\Recent; first spelling wins."""
    out: FlagSet = {}
    for flag in flags:
        _check_flag(flag)
        key = flag.lower()
        if not is_recent(flag) and key not in out:
            out[key] = canonical_flag(flag)
    return out


def encode_flags(flags: FlagSet) -> str:
    """The stored form: spellings separated by spaces, in a canonical order."""
    return " ".join(flags[key] for key in sorted(flags))


def decode_flag_set(text: str) -> FlagSet:
    """Stored form back to a case-insensitive set (no validation: it was validated)."""
    return {flag.lower(): flag for flag in text.split()}


def decode_flags(text: str) -> frozenset[str]:
    """Stored form to the frozenset handed out."""
    return frozenset(text.split())


def apply_flag_op(stored: str, op: FlagOp, given: FlagSet) -> str:
    """The stored form after STORE; equal to ``stored`` when nothing changes."""
    current = decode_flag_set(stored)
    if op is FlagOp.ADD:
        updated = {**given, **current}
    elif op is FlagOp.REMOVE:
        updated = {key: value for key, value in current.items() if key not in given}
    else:
        updated = {key: current.get(key, value) for key, value in given.items()}
    if updated.keys() == current.keys():
        return stored
    return encode_flags(updated)


def aware(dt: datetime) -> datetime:
    """A naive datetime is taken as UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def dt_to_text(dt: datetime) -> str:
    """ISO 8601 keeping the timezone offset (IMAP INTERNALDATE shows it)."""
    return aware(dt).isoformat()


def dt_from_text(text: str) -> datetime:
    """Inverse of dt_to_text."""
    return datetime.fromisoformat(text)


def to_micros(dt: datetime) -> int:
    """Microseconds since the epoch (comparable integers for the queue schedule)."""
    return (aware(dt) - _EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    """Inverse of to_micros, in UTC."""
    return _EPOCH + value * _MICRO


def headers_json(summary: MessageSummary) -> str:
    """The header map as stored (keys lower-cased)."""
    return json.dumps({k.lower(): v for k, v in summary.headers.items()}, ensure_ascii=False)


# The address fields IMAP SEARCH FROM/TO/CC/BCC test, kept lower-cased beside each summary
# (SQLite table summary_addresses, schema v10; PostgreSQL's, schema v4).
SEARCHED_ADDRESSES = ("from", "to", "cc", "bcc")
AddressValues = tuple[str | None, str | None, str | None, str | None]


def address_values(headers: Mapping[str, str]) -> AddressValues:
    """The SEARCHED_ADDRESSES fields of a header map as SEARCH compares them: the stored
    value (headers_json) lower-cased by Python's ``str.lower``; None for an absent field."""
    stored = {k.lower(): v for k, v in headers.items()}

    def one(name: str) -> str | None:
        value = stored.get(name)
        return None if value is None else value.lower()

    return one("from"), one("to"), one("cc"), one("bcc")


def stored_header_lc(headers: str, name: str) -> str | None:
    """One field of a stored header map (JSON) lower-cased, as address_values gives it; the
    SQL function ``ph_header_lc`` that fills summary_addresses for stored summaries."""
    value = json.loads(headers).get(name)
    return value.lower() if isinstance(value, str) else None


def headers_text(headers: Mapping[str, str]) -> str:
    """A summary's header map as one text for the full-text index and TEXT search."""
    return "\n".join(f"{k.lower()}: {v}" for k, v in headers.items())


def field_names(fields: Sequence[str]) -> tuple[str, ...]:
    """The header field names of a ``message_list`` read, checked: each goes into a JSON
    path (SQLite) or a key (PostgreSQL) as a quoted label."""
    for name in fields:
        if not name or '"' in name or "\\" in name:
            raise ValueError(f"not a header field name: {name!r}")
    return tuple(fields)


def summary_from_row(
    envelope: str, bodystructure: str, headers: str, sent_date: str | None
) -> MessageSummary:
    """Rebuild a MessageSummary from its columns."""
    return MessageSummary(
        envelope=envelope,
        bodystructure=bodystructure,
        headers=json.loads(headers),
        sent_date=dt_from_text(sent_date) if sent_date else None,
    )
