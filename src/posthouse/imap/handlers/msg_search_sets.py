"""SEARCH evaluated a set at a time (pure): every key as the set of uids that satisfy it.

When the criteria need no more than flags and modseqs (``Need.FLAGS`` or less, see
msg_search.py) the handler answers them without one object per message: a key becomes the
uids under test that satisfy it, ``And`` an intersection (each key tests only what the keys
before it left), ``Or`` a union, ``Not`` the difference from the uids under test. Flag keys
read the uids grouped by flag set, so each distinct flag set is lower-cased once (flags
compare case-insensitively, RFC 9051 2.3.2). The result is the one ``matches`` gives
message by message (tests/unit/test_imap_search_sets.py compares the two).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set

from posthouse.imap.handlers.msg_search import TextQuery
from posthouse.imap.search import (
    AllKey,
    And,
    FlagKey,
    HeaderKey,
    ModSeqKey,
    Not,
    Or,
    SearchKey,
    SeqKey,
    TextKey,
)
from posthouse.store.models import UidFlags, is_recent


class FlagTable:
    """The flags (grouped by distinct set) and modseqs of the messages under test."""

    def __init__(self, rows: Iterable[UidFlags], wanted: Set[int], *, modseqs: bool) -> None:
        """``rows`` from the store; only the uids in ``wanted`` are kept. Modseqs are kept
        only when asked for (MODSEQ keys and the highest modseq of the result)."""
        groups: dict[frozenset[str], list[int]] = {}  # flag sets are shared objects
        kept: dict[int, int] = {}
        for row in rows:
            uid = row.uid
            if uid in wanted:
                group = groups.get(row.flags)
                if group is None:
                    group = groups[row.flags] = []
                group.append(uid)
                if modseqs:
                    kept[uid] = row.modseq
        lowered: dict[frozenset[str], list[int]] = {}
        for flags, uids in groups.items():
            lowered.setdefault(frozenset(f.lower() for f in flags), []).extend(uids)
        self._groups = lowered
        self._having: dict[str, set[int]] = {}
        self.modseqs = kept
        self.uids: set[int] = {uid for uids in lowered.values() for uid in uids}

    def having(self, flag: str) -> set[int]:
        """The uids whose flags include ``flag`` (lower-cased)."""
        found = self._having.get(flag)
        if found is None:
            found = self._having[flag] = {
                uid for flags, uids in self._groups.items() if flag in flags for uid in uids
            }
        return found


def select(
    key: SearchKey,
    among: Set[int],
    *,
    table: FlagTable | None,
    recent: Set[int],
    sets: Mapping[SeqKey, Set[int]],
    found: Mapping[TextQuery, Set[int]],
) -> Set[int]:
    """The uids of ``among`` that satisfy ``key`` (never a mutated argument). ``table`` is
    needed by flag (other than \\Recent) and MODSEQ keys; ValueError for keys that need
    per-message metadata (sizes, dates, object ids)."""
    if isinstance(key, And):
        out = among
        for sub in key.keys:
            if not out:
                break
            out = select(sub, out, table=table, recent=recent, sets=sets, found=found)
        return out
    if isinstance(key, Or):
        left = select(key.left, among, table=table, recent=recent, sets=sets, found=found)
        if len(left) == len(among):
            return left
        rest = among - left
        return left | select(key.right, rest, table=table, recent=recent, sets=sets,
                             found=found)
    if isinstance(key, Not):
        return among - select(key.key, among, table=table, recent=recent, sets=sets,
                              found=found)
    if isinstance(key, AllKey):
        return among
    if isinstance(key, SeqKey):
        return among & sets[key]
    if isinstance(key, HeaderKey | TextKey):
        return among & found[key]
    if isinstance(key, FlagKey):
        if is_recent(key.flag):
            has = among & recent
        else:
            if table is None:
                raise ValueError("flag keys need the flag table")
            has = among & table.having(key.flag.lower())
        return has if key.present else among - has
    if isinstance(key, ModSeqKey):
        if table is None:
            raise ValueError("MODSEQ keys need the flag table")
        modseqs = table.modseqs
        return {uid for uid in among if modseqs[uid] >= key.modseq}
    raise ValueError(f"{type(key).__name__} needs per-message metadata")


def ascending(chosen: Set[int], order: Sequence[int]) -> list[int]:
    """``chosen`` in ascending order; ``order`` is every candidate, ascending (a filtered
    pass over it is cheaper than sorting when most candidates were chosen)."""
    if len(chosen) * 8 < len(order):
        return sorted(chosen)
    return [uid for uid in order if uid in chosen]
