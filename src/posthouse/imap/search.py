"""The SEARCH criteria tree (RFC 9051 6.4.4, RFC 3501 6.4.4; MODSEQ from RFC 7162).

Parsed once (parser/search.py) and evaluated by the SEARCH handler. Keys that are shorthands
are expanded at parse time: ``NEW`` = ``RECENT UNSEEN``, ``OLD`` = ``NOT RECENT``,
``ANSWERED`` = ``FlagKey("\\Answered", True)``, ``UNKEYWORD k`` = ``FlagKey(k, False)``,
``$`` = ``SeqKey(SequenceSet(saved=True))``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from typing import TypeAlias

from posthouse.imap.sequence import SequenceSet


class DateField(enum.Enum):
    """Which date a date key tests."""

    INTERNAL = "internal"  # BEFORE / ON / SINCE
    SENT = "sent"  # SENTBEFORE / SENTON / SENTSINCE (the Date: header, its own zone)
    SAVED = "saved"  # SAVEDBEFORE / SAVEDON / SAVEDSINCE (RFC 8514 4.2)


class DateOp(enum.Enum):
    """How a date key compares (dates only; time and zone are ignored)."""

    BEFORE = "before"
    ON = "on"
    SINCE = "since"


class TextField(enum.Enum):
    """Where a full-text key looks."""

    BODY = "body"
    TEXT = "text"  # headers and body


@dataclass(frozen=True, slots=True)
class AllKey:
    """ALL."""


@dataclass(frozen=True, slots=True)
class SeqKey:
    """A sequence set (msn), ``UID set`` (``uid=True``) or ``$``."""

    sequence: SequenceSet
    uid: bool = False


@dataclass(frozen=True, slots=True)
class FlagKey:
    """A flag or keyword present (SEEN, KEYWORD k) or absent (UNSEEN, UNKEYWORD k)."""

    flag: str
    present: bool = True


@dataclass(frozen=True, slots=True)
class HeaderKey:
    """``HEADER field value`` and FROM/TO/CC/BCC/SUBJECT; ``field`` is lower-case.
    An empty value matches every message that has the field."""

    field: str
    value: str


@dataclass(frozen=True, slots=True)
class TextKey:
    """BODY or TEXT substring search."""

    field: TextField
    value: str


@dataclass(frozen=True, slots=True)
class DateKey:
    """BEFORE/ON/SINCE and their SENT variants."""

    field: DateField
    op: DateOp
    day: date


@dataclass(frozen=True, slots=True)
class SizeKey:
    """LARGER n (``larger=True``) or SMALLER n, on RFC822.SIZE."""

    larger: bool
    size: int


@dataclass(frozen=True, slots=True)
class ModSeqKey:
    """``MODSEQ [entry type] n`` (CONDSTORE hook): messages with modseq >= n."""

    modseq: int
    entry: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectIdKey:
    """``EMAILID id`` or ``THREADID id`` (RFC 8474 6)."""

    thread: bool
    value: str


@dataclass(frozen=True, slots=True)
class Not:
    """NOT key."""

    key: SearchKey


@dataclass(frozen=True, slots=True)
class Or:
    """OR key key."""

    left: SearchKey
    right: SearchKey


@dataclass(frozen=True, slots=True)
class And:
    """A parenthesised group or the top-level list: all keys must match."""

    keys: tuple[SearchKey, ...]


SearchKey: TypeAlias = (
    "AllKey | SeqKey | FlagKey | HeaderKey | TextKey | DateKey | SizeKey | ModSeqKey"
    " | ObjectIdKey | Not | Or | And"
)

RETURN_OPTIONS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})


def uses_saved(key: SearchKey) -> bool:
    """Whether the criteria refer to ``$`` (RFC 5182 2.2: the result must be ready)."""
    if isinstance(key, SeqKey):
        return key.sequence.saved
    if isinstance(key, Not):
        return uses_saved(key.key)
    if isinstance(key, Or):
        return uses_saved(key.left) or uses_saved(key.right)
    if isinstance(key, And):
        return any(uses_saved(k) for k in key.keys)
    return False
