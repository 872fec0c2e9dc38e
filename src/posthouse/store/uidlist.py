"""Every message of a mailbox as (uid, modseq, flags), held compactly (what SELECT reads).

A mailbox of 100,000 messages has a handful of distinct flag sets, so the list keeps two
arrays (uids, modseqs) and, per message, the index of its flag set in a short tuple: a few
bytes per message instead of a Python object. It is a ``Sequence[UidFlags]`` that makes the
UidFlags items only when one is asked for; ``MailboxView`` reads the arrays directly.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import overload

from posthouse.store.models import UidFlags


class UidFlagsList(Sequence[UidFlags]):
    """(uid, modseq, flags) of every message in ascending uid order; treat as read-only."""

    __slots__ = ("_groups", "flag_ids", "flag_sets", "modseqs", "uids")

    def __init__(self, uids: array[int], modseqs: array[int], flag_ids: array[int],
                 flag_sets: Sequence[frozenset[str]]) -> None:
        if not len(uids) == len(modseqs) == len(flag_ids):
            raise ValueError("uids, modseqs and flag ids differ in length")
        self.uids = uids  # typecode "L", strictly ascending
        self.modseqs = modseqs  # typecode "Q"
        self.flag_ids = flag_ids  # typecode "I": index into flag_sets
        self.flag_sets = tuple(flag_sets)
        self._groups: list[tuple[frozenset[str], list[int]]] | None = None

    @classmethod
    def of(cls, items: Sequence[UidFlags]) -> UidFlagsList:
        """A compact list of ``items`` (ascending uids, as the store gives them)."""
        sets: dict[frozenset[str], int] = {}
        ids = array("I", (sets.setdefault(m.flags, len(sets)) for m in items))
        return cls(array("L", (m.uid for m in items)), array("Q", (m.modseq for m in items)),
                   ids, list(sets))

    def __len__(self) -> int:
        return len(self.uids)

    @overload
    def __getitem__(self, index: int) -> UidFlags: ...

    @overload
    def __getitem__(self, index: slice) -> UidFlagsList: ...

    def __getitem__(self, index: int | slice) -> UidFlags | UidFlagsList:
        if isinstance(index, slice):
            return UidFlagsList(self.uids[index], self.modseqs[index], self.flag_ids[index],
                                self.flag_sets)
        return UidFlags(self.uids[index], self.modseqs[index],
                        self.flag_sets[self.flag_ids[index]])

    def __iter__(self) -> Iterator[UidFlags]:
        sets = self.flag_sets
        for uid, modseq, flag_id in zip(self.uids, self.modseqs, self.flag_ids, strict=True):
            yield UidFlags(uid, modseq, sets[flag_id])

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence (a list too) of the same UidFlags in the same order."""
        if isinstance(other, UidFlagsList):
            return (self.uids == other.uids and self.modseqs == other.modseqs
                    and list(self) == list(other))
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside

    def __repr__(self) -> str:
        return f"UidFlagsList({list(self)!r})"

    def flag_groups(self) -> list[tuple[frozenset[str], list[int]]]:
        """The uids grouped by flag set (what ``Store.uids_by_flags`` answers), worked out
        once per list (a kept listing answers many SEARCHes)."""
        groups = self._groups
        if groups is None:
            by_id: list[list[int]] = [[] for _ in self.flag_sets]
            appends = [group.append for group in by_id]
            for uid, flag_id in zip(self.uids, self.flag_ids, strict=True):
                appends[flag_id](uid)
            groups = self._groups = [(flags, uids) for flags, uids
                                     in zip(self.flag_sets, by_id, strict=True) if uids]
        return groups

    def first_index_without(self, flag: str) -> int | None:
        """The 0-based index of the first message whose flags lack ``flag`` (case as
        stored), or None: one C-level search per flag set that lacks it."""
        found: int | None = None
        for flag_id, flags in enumerate(self.flag_sets):
            if flag in flags:
                continue
            end = len(self.flag_ids) if found is None else found
            try:
                found = self.flag_ids.index(flag_id, 0, end)
            except ValueError:
                continue
        return found
