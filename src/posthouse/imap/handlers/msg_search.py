"""SEARCH evaluation helpers (pure): what the criteria need, matching one message, and the
SEARCH / ESEARCH responses.

The handler (search.py) resolves every sequence-set key and every text key to a set of uids
first (text keys through the store's index: the message bytes are never read), then loads
per-message facts only as far as the criteria need them (``Need``) and tests each message
with ``matches``.

Decisions:
- Flags and keywords compare case-insensitively (RFC 9051 2.3.2).
- Date keys compare calendar dates only, each date in its own time zone (RFC 9051 6.4.4:
  "disregarding time and timezone"). A message without a valid Date: field uses its
  internal date for SENT* keys, as SORT does (RFC 5256 2.2), instead of never matching.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from posthouse.imap.responses import Atom, Untagged, Value
from posthouse.imap.search import (
    AllKey,
    And,
    DateField,
    DateKey,
    DateOp,
    FlagKey,
    HeaderKey,
    ModSeqKey,
    Not,
    ObjectIdKey,
    Or,
    SearchKey,
    SeqKey,
    SizeKey,
    TextKey,
)
from posthouse.imap.sequence import compress
from posthouse.store.models import is_recent

TextQuery = HeaderKey | TextKey


class Need(enum.IntEnum):
    """How much per-message data the criteria need, cheapest first."""

    NOTHING = 0  # uids and \Recent (the view)
    FLAGS = 1  # flags and modseq (the uid list)
    META = 2  # size and internal date (metadata rows)
    SUMMARY = 3  # the sent date (the cached parse)


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known about one message while it is tested."""

    uid: int
    recent: bool = False
    flags: frozenset[str] = frozenset()  # lower-cased
    modseq: int = 0
    size: int = 0
    internaldate: datetime | None = None
    sent_date: datetime | None = None
    savedate: datetime | None = None
    emailid: str = ""  # RFC 8474 EMAILID, when the criteria need it
    threadid: str = ""


def walk(key: SearchKey) -> Iterator[SearchKey]:
    """Every key of the tree, depth first."""
    yield key
    if isinstance(key, Not):
        yield from walk(key.key)
    elif isinstance(key, Or):
        yield from walk(key.left)
        yield from walk(key.right)
    elif isinstance(key, And):
        for sub in key.keys:
            yield from walk(sub)


def _need_of(key: SearchKey) -> Need:
    if isinstance(key, FlagKey):
        return Need.NOTHING if is_recent(key.flag) else Need.FLAGS
    if isinstance(key, ModSeqKey):
        return Need.FLAGS
    if isinstance(key, ObjectIdKey):
        return Need.SUMMARY if key.thread else Need.META
    if isinstance(key, SizeKey):
        return Need.META
    if isinstance(key, DateKey):
        return Need.SUMMARY if key.field is DateField.SENT else Need.META
    return Need.NOTHING


def need(key: SearchKey) -> Need:
    """The most the criteria need."""
    return max((_need_of(k) for k in walk(key)), default=Need.NOTHING)


def text_queries(key: SearchKey) -> list[TextQuery]:
    """The distinct HEADER/FROM/.../BODY/TEXT keys, in tree order."""
    return list(dict.fromkeys(k for k in walk(key) if isinstance(k, HeaderKey | TextKey)))


def seq_keys(key: SearchKey) -> list[SeqKey]:
    """The distinct sequence-set, UID and ``$`` keys."""
    return list(dict.fromkeys(k for k in walk(key) if isinstance(k, SeqKey)))


def narrow(key: SearchKey, universe: Sequence[int], sets: Mapping[SeqKey, set[int]]) -> list[int]:
    """The uids worth testing: a top-level sequence or UID key limits them up front."""
    top = key.keys if isinstance(key, And) else (key,)
    out = list(universe)
    for sub in top:
        if isinstance(sub, SeqKey):
            allowed = sets[sub]
            out = [uid for uid in out if uid in allowed]
    return out


def _date_matches(key: DateKey, facts: Facts) -> bool:
    when = facts.internaldate
    if key.field is DateField.SENT and facts.sent_date is not None:
        when = facts.sent_date
    elif key.field is DateField.SAVED:
        when = facts.savedate
    if when is None:
        return False
    day: date = when.date()
    if key.op is DateOp.BEFORE:
        return day < key.day
    if key.op is DateOp.ON:
        return day == key.day
    return day >= key.day


def matches(
    key: SearchKey,
    facts: Facts,
    sets: Mapping[SeqKey, set[int]],
    found: Mapping[TextQuery, set[int]],
) -> bool:
    """Whether one message satisfies ``key``."""
    if isinstance(key, AllKey):
        return True
    if isinstance(key, And):
        return all(matches(k, facts, sets, found) for k in key.keys)
    if isinstance(key, Or):
        return matches(key.left, facts, sets, found) or matches(key.right, facts, sets, found)
    if isinstance(key, Not):
        return not matches(key.key, facts, sets, found)
    if isinstance(key, SeqKey):
        return facts.uid in sets[key]
    if isinstance(key, FlagKey):
        has = facts.recent if is_recent(key.flag) else key.flag.lower() in facts.flags
        return has == key.present
    if isinstance(key, HeaderKey | TextKey):
        return facts.uid in found[key]
    if isinstance(key, SizeKey):
        return facts.size > key.size if key.larger else facts.size < key.size
    if isinstance(key, DateKey):
        return _date_matches(key, facts)
    if isinstance(key, ObjectIdKey):
        return (facts.threadid if key.thread else facts.emailid) == key.value
    return facts.modseq >= key.modseq  # ModSeqKey


# -- responses ---------------------------------------------------------------------------

def saved_uids(result: Sequence[int], returns: frozenset[str]) -> list[int]:
    """What ``RETURN (SAVE ...)`` keeps for ``$`` (RFC 5182 2.4): only the MIN and/or MAX
    message when those are the only other options, else the whole result."""
    if not result or returns & {"ALL", "COUNT"} or not returns & {"MIN", "MAX"}:
        return list(result)
    kept = []
    if "MIN" in returns:
        kept.append(min(result))
    if "MAX" in returns:
        kept.append(max(result))
    return sorted(set(kept))


def search_response(numbers: Iterable[int], modseq: int | None = None) -> Untagged:
    """``* SEARCH n n ... [(MODSEQ m)]`` (IMAP4rev1 without RETURN; RFC 7162 3.1.5)."""
    ordered = sorted(numbers)
    if not ordered:
        return Untagged((Atom("SEARCH"),))
    tail: tuple[Value, ...] = ([Atom("MODSEQ"), modseq],) if modseq else ()
    # the numbers as one atom: one join instead of an encoder step per number
    return Untagged((Atom("SEARCH"), Atom(" ".join(map(str, ordered))), *tail))


def esearch_response(
    tag: str, numbers: Sequence[int], returns: frozenset[str], *, uid: bool,
    modseq: int | None = None,
) -> Untagged | None:
    """``* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [ALL set] [COUNT n]`` (RFC 4731 3.1,
    RFC 9051 7.3.4); None for ``RETURN (SAVE)`` alone, which answers nothing (RFC 5182
    2.4). MIN, MAX and ALL are left out when nothing matched; COUNT is always there."""
    if returns == {"SAVE"}:
        return None
    ordered = sorted(numbers)
    data: list[Value] = [Atom("ESEARCH"), [Atom("TAG"), tag]]
    if uid:
        data.append(Atom("UID"))
    if ordered and "MIN" in returns:
        data += [Atom("MIN"), ordered[0]]
    if ordered and "MAX" in returns:
        data += [Atom("MAX"), ordered[-1]]
    if ordered and "ALL" in returns:
        data += [Atom("ALL"), Atom(compress(ordered))]
    if "COUNT" in returns:
        data += [Atom("COUNT"), len(ordered)]
    if modseq and ordered:  # RFC 7162 3.1.5: the highest modseq of what matched
        data += [Atom("MODSEQ"), modseq]
    return Untagged(tuple(data))
