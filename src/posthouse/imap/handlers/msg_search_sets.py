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
    """The flags (uids grouped by distinct lower-cased flag set) and, when known, the
    modseqs of the messages under test."""

    def __init__(
        self, groups: Iterable[tuple[frozenset[str], Iterable[int]]], wanted: set[int],
        modseqs: dict[int, int] | None = None,
    ) -> None:
        """``groups``: (flag set, uids) from the store; only the uids in ``wanted`` are
        kept. ``modseqs`` by uid, for MODSEQ keys and the highest modseq of the result."""
        lowered: dict[frozenset[str], set[int]] = {}
        for flags, uids in groups:
            kept = wanted.intersection(uids)
            if kept:
                key = frozenset(f.lower() for f in flags)
                known = lowered.get(key)
                lowered[key] = kept if known is None else known | kept
        self._groups = lowered
        self._having: dict[str, set[int]] = {}
        self.modseqs = modseqs if modseqs is not None else {}
        self.uids: set[int] = set().union(*lowered.values())

    @classmethod
    def from_rows(cls, rows: Iterable[UidFlags], wanted: set[int]) -> FlagTable:
        """The table of per-message rows (flags and modseqs)."""
        groups: dict[frozenset[str], list[int]] = {}  # flag sets are shared objects
        modseqs: dict[int, int] = {}
        for row in rows:
            uid = row.uid
            if uid in wanted:
                group = groups.get(row.flags)
                if group is None:
                    group = groups[row.flags] = []
                group.append(uid)
                modseqs[uid] = row.modseq
        return cls(groups.items(), wanted, modseqs)

    def having(self, flag: str) -> set[int]:
        """The uids whose flags include ``flag`` (lower-cased)."""
        found = self._having.get(flag)
        if found is None:
            found = self._having[flag] = set().union(
                *(uids for flags, uids in self._groups.items() if flag in flags))
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
    """``chosen`` (some of the candidates) in ascending order; ``order`` is every candidate,
    ascending (a filtered pass over it is cheaper than sorting when most were chosen)."""
    if len(chosen) == len(order):  # chosen is a subset of the candidates: all of them
        return list(order)
    if len(chosen) * 8 < len(order):
        return sorted(chosen)
    return [uid for uid in order if uid in chosen]
