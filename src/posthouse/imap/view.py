"""The per-session view of the selected mailbox (pure: no IO).

The client numbers messages 1..n (message sequence numbers, msn); the store knows uids. The
view keeps the uids in the order the client knows them (an ``array`` plus ``bisect``: 100,000
messages cost a few hundred kilobytes), applies store events as *pending* changes, and
releases them as untagged responses only when the protocol allows (RFC 9051 7.5.1, see
states.may_expunge):

* a message expunged in the store keeps its msn until its EXPUNGE is sent, so the client's
  numbers stay right; new messages are appended (uids only grow) and announced with EXISTS,
  which counts the not yet announced expunged ones too (EXISTS never undercounts);
* a flag change is announced as ``FETCH (UID u FLAGS (...))`` unless the message is gone or
  not yet announced, and only if it is newer (by modseq) than what the client was last told;
  with CONDSTORE it carries ``MODSEQ (n)``, and with QRESYNC expunges go out as one
  ``VANISHED uid-set`` instead of EXPUNGEs (RFC 7162 3.1.4.1, 3.2.10).
* with UIDONLY (RFC 9586) no message number goes out at all: expunges are VANISHED (as with
  QRESYNC) and every FETCH response, solicited or not, is ``* uid UIDFETCH (...)`` without
  the then redundant UID item (``fetch_response``, 3.3). EXISTS still counts the messages.
* the keywords the client was told of in FLAGS are kept: a FETCH showing one more is
  preceded by ``* FLAGS`` and ``* OK [PERMANENTFLAGS]`` again (``announce_keywords``, RFC
  9051 7.3.5, RFC 3501 7.2.6).

Own changes: events carry ``origin``; the view treats its own session's FlagsChanged as
already reported (the STORE handler answered it, or .SILENT asked for no answer) and only
records their modseq, so an older change from another session is not replayed over it.
Handlers call ``record_flags`` with what they report, so the order in which the session
drains its events does not matter. Own MessagesAdded/MessagesExpunged are applied like any
other; applying an event twice has no effect.

The session must subscribe to events *before* reading ``uid_list`` for the view, so that
nothing is missed; events older than the snapshot are ignored (uids at or below the highest
known uid are never re-added).
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet

from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import (
    Atom,
    Response,
    Status,
    Untagged,
    UntaggedStatus,
    Value,
    atom,
    exists,
    expunge,
    fetch,
    recent,
    uid_fetch,
    vanished,
)
from posthouse.imap.sequence import NumberRanges, SequenceSet
from posthouse.store.events import FlagsChanged, MessagesAdded, MessagesExpunged, StoreEvent
from posthouse.store.models import RECENT, SEEN, SYSTEM_FLAGS, UidFlags
from posthouse.store.uidlist import UidFlagsList

_NO_UIDS: frozenset[int] = frozenset()
# Shared empty containers: a view replaces them with its own before it adds anything (the
# two places that insert check), deletions only ever remove what is there.
_NO_NEW: list[int] = []
_NO_CHANGES: dict[int, UidFlags] = {}


class MailboxView:
    """Sequence numbers <-> uids and pending untagged updates for one selected mailbox.

    Slotted; the sets of pending expunges and \\Recent uids and the saved search result
    are made when first filled (issue 15: memory per idle connection)."""

    __slots__ = (
        "_changed", "_gone", "_keywords", "_modseqs", "_new", "_recent", "_recent_sent",
        "_saved", "_uids", "announced", "condstore", "first_unseen", "highestmodseq",
        "mailbox_id", "origin", "own_change", "qresync", "read_only", "rev2", "uidonly",
    )

    def __init__(
        self,
        messages: Sequence[UidFlags],
        *,
        mailbox_id: int,
        origin: object,
        rev2: bool = False,
        recent_above: int | None = None,
        condstore: bool = False,
        read_only: bool = False,
        qresync: bool = False,
        uidonly: bool = False,
    ) -> None:
        if not isinstance(messages, UidFlagsList):
            if any(a.uid >= b.uid for a, b in itertools.pairwise(messages)):
                messages = sorted({m.uid: m for m in messages}.values(), key=lambda m: m.uid)
            messages = UidFlagsList.of(messages)
        self.mailbox_id = mailbox_id
        self.origin = origin
        self.rev2 = rev2
        self.condstore = condstore
        self.qresync = qresync
        self.uidonly = uidonly
        self.read_only = read_only
        self._keywords: dict[str, str] | None = None  # lower-cased -> as told in FLAGS
        # Built from the compact list's arrays: copies and C-level searches, no Python
        # object per message (SELECT of a big mailbox, issue 15).
        for flags in messages.flag_sets:
            self._learn_keywords(flags)
        self._uids = messages.uids[:]
        self._modseqs = messages.modseqs[:]
        self.highestmodseq = max(self._modseqs, default=0)
        unseen = messages.first_index_without(SEEN)
        self.first_unseen = None if unseen is None else unseen + 1
        self._new: list[int] = _NO_NEW  # added in the store, EXISTS not sent yet
        self._gone: set[int] | frozenset[int] = _NO_UIDS  # expunged, EXPUNGE not sent yet
        self._changed: dict[int, UidFlags] = _NO_CHANGES  # flag changes to announce, by uid
        self._recent: set[int] | frozenset[int] = _NO_UIDS
        self._saved: array[int] | None = None  # the last SEARCH result ($, RFC 5182)
        if recent_above is not None and not rev2:
            self.claim_recent_above(recent_above)
        self._recent_sent = len(self._recent)
        self.announced: tuple[int, ...] = ()  # uids announced by EXISTS, not yet taken
        # this session added or removed messages itself and has not been told yet: its own
        # command's EXISTS / EXPUNGE go out even when NOTIFY holds others' back
        self.own_change = False

    # -- numbers ----------------------------------------------------------------------------

    @property
    def exists(self) -> int:
        """The message count the client knows (announced expunges excluded)."""
        return len(self._uids)

    @property
    def uids(self) -> Sequence[int]:
        """The uids in msn order, as the client knows them (do not modify)."""
        return self._uids

    @property
    def recent_count(self) -> int:
        """How many known messages are \\Recent for this session (IMAP4rev1)."""
        return len(self._recent)

    def uid_of(self, msn: int) -> int:
        """The uid of message number ``msn`` (1-based); IndexError if out of range."""
        if not 1 <= msn <= len(self._uids):
            raise IndexError(msn)
        return self._uids[msn - 1]

    def msn_of(self, uid: int) -> int | None:
        """The msn the client knows for ``uid``, or None."""
        i = bisect.bisect_left(self._uids, uid)
        if i < len(self._uids) and self._uids[i] == uid:
            return i + 1
        return None

    def msns_of(self, uids: Sequence[int]) -> list[int | None]:
        """``msn_of`` for each of ascending ``uids``, in one pass over the view."""
        known, lo = self._uids, 0
        out: list[int | None] = []
        count = len(known)
        for uid in uids:
            i = bisect.bisect_left(known, uid, lo)
            if i < count and known[i] == uid:
                out.append(i + 1)
                lo = i + 1
            else:
                out.append(None)
                lo = i
        return out

    def is_expunged(self, uid: int) -> bool:
        """Whether ``uid`` is gone from the store but its EXPUNGE is still pending."""
        return uid in self._gone

    @property
    def gone(self) -> AbstractSet[int]:
        """The uids gone from the store whose EXPUNGE is still pending (do not modify)."""
        return self._gone

    @property
    def recent_uids(self) -> AbstractSet[int]:
        """The uids that are \\Recent for this session (do not modify)."""
        return self._recent

    def is_recent(self, uid: int) -> bool:
        """Whether ``uid`` is \\Recent for this session."""
        return uid in self._recent

    def client_flags(self, uid: int, flags: Iterable[str]) -> list[Value]:
        """``flags`` as the FETCH FLAGS value for this session (adds \\Recent in rev1)."""
        if not self.rev2 and uid in self._recent:
            return [atom(f) for f in sorted({*flags, RECENT})]
        return [atom(f) for f in sorted(set(flags))]

    def fetch_response(self, uid: int, items: Sequence[Value]) -> Untagged | None:
        """The FETCH response of message ``uid`` with ``items`` (alternating names and
        values): ``* n FETCH (...)``, or ``* uid UIDFETCH (...)`` under UIDONLY (RFC 9586
        3.3); None when the client does not know the message."""
        msn = self.msn_of(uid)
        if msn is None:
            return None
        return uid_fetch(uid, items) if self.uidonly else fetch(msn, items)

    # -- the FLAGS list ----------------------------------------------------------------------

    def _learn_keywords(self, flags: Iterable[str]) -> bool:
        """Add the keywords of ``flags``; whether any was new."""
        new = False
        for flag in flags:
            if flag.startswith("\\"):
                continue
            if self._keywords is None:
                self._keywords = {}
            if flag.lower() not in self._keywords:
                self._keywords[flag.lower()] = flag
                new = True
        return new

    @property
    def flag_names(self) -> list[str]:
        """The FLAGS list the client knows: the system flags and the keywords in use."""
        return [*SYSTEM_FLAGS, *sorted((self._keywords or {}).values())]

    def flags_response(self) -> Untagged:
        """``* FLAGS (...)``."""
        return Untagged((Atom("FLAGS"), [Atom(f) for f in self.flag_names]))

    def permanent_flags_response(self) -> UntaggedStatus:
        """``* OK [PERMANENTFLAGS (...)]``: none after EXAMINE, else all and ``\\*``."""
        permanent = [] if self.read_only else [*self.flag_names, "\\*"]
        return UntaggedStatus(Status.OK, "Permanent flags",
                              ResponseCode.PERMANENTFLAGS.code([Atom(f) for f in permanent]))

    def announce_keywords(self, flags: Iterable[str]) -> list[Response]:
        """FLAGS and PERMANENTFLAGS again when ``flags`` hold a keyword the client has not
        been told of; send them before the FETCH that shows it (RFC 9051 7.3.5)."""
        if not self._learn_keywords(flags):
            return []
        return [self.flags_response(), self.permanent_flags_response()]

    # -- sequence sets ---------------------------------------------------------------------

    def resolve(self, sequence: SequenceSet, *, uid: bool, strict: bool = True) -> list[int]:
        """The uids a set names, ascending and unique.

        Message numbers: ``*`` is the last msn; ranges are clipped to 1..exists; with
        ``strict`` a range entirely beyond ``exists`` without ``*`` is an error (BAD).
        Uids: ``*`` is the highest known uid and nonexistent uids are ignored (RFC 9051
        6.4.9). ``$`` is the saved search result (RFC 5182), filtered to known messages.
        """
        if sequence.saved:
            return [u for u in self._saved or () if self.msn_of(u) is not None]
        spans: list[tuple[int, int]] = []
        count = len(self._uids)
        if uid:
            star = self._uids[-1] if count else 0
            for low, high in sequence.bounds(star):
                spans.append((bisect.bisect_left(self._uids, low),
                              bisect.bisect_right(self._uids, high)))
        else:
            for (low, high), (first, last) in zip(sequence.bounds(count), sequence.ranges,
                                                  strict=True):
                if strict and low > count and None not in (first, last):
                    raise ImapError("Invalid message sequence number", status=Status.BAD)
                spans.append((max(low, 1) - 1, min(high, count)))
        return self._collect(spans)

    def _collect(self, spans: list[tuple[int, int]]) -> list[int]:
        out: list[int] = []
        end = 0
        for start, stop in sorted(spans):
            start = max(start, end)
            if start < stop:
                out.extend(self._uids[start:stop])
                end = stop
        return out

    @property
    def last_uid(self) -> int:
        """The highest uid the view holds, announced or not (0 when empty)."""
        return self._last_uid()

    def holds(self, uid: int) -> bool:
        """Whether ``uid`` exists for this view (known to the client, or new and pending)."""
        if self.msn_of(uid) is not None:
            return True
        i = bisect.bisect_left(self._new, uid)
        return i < len(self._new) and self._new[i] == uid

    def vanished_earlier(
        self, expunged: Iterable[int], *, complete: bool, within: SequenceSet | None,
        ceiling: int,
    ) -> list[int]:
        """The uids for ``VANISHED (EARLIER)`` (RFC 7162 3.2.5.1, 3.2.6): the ``expunged``
        ones inside ``within`` (all uids up to ``ceiling`` when None) that the view no
        longer holds; when the tombstones are not ``complete``, every uid up to
        ``ceiling`` in ``within`` that the view does not hold, as the RFC allows."""
        ranges = NumberRanges(within.bounds(ceiling) if within is not None else [(1, ceiling)])
        out = {u for u in expunged if u in ranges and not self.holds(u)}
        if not complete:
            for low, high in ranges.spans:
                out.update(u for u in range(max(low, 1), min(high, ceiling) + 1)
                           if not self.holds(u))
        return sorted(out)

    def save_result(self, uids: Iterable[int]) -> None:
        """Remember a SEARCH result for ``$`` (RFC 5182); an empty one after a failure."""
        self._saved = array("L", sorted(set(uids)))

    # -- events ----------------------------------------------------------------------------

    def apply(self, event: StoreEvent) -> None:
        """Take a store event in as pending changes (events of other mailboxes are ignored)."""
        if not isinstance(event, MessagesAdded | MessagesExpunged | FlagsChanged):
            return
        if event.mailbox_id != self.mailbox_id:
            return
        own = event.origin is not None and event.origin == self.origin
        if isinstance(event, MessagesAdded):
            self.note_added(event.uids, own=own)
        elif isinstance(event, MessagesExpunged):
            self.note_expunged(event.uids, own=own)
        elif isinstance(event, FlagsChanged):
            if event.origin is not None and event.origin == self.origin:
                self.record_flags(event.changes)
            else:
                self._flags_changed(event.changes)
        self.highestmodseq = max(self.highestmodseq, event.highestmodseq)

    def _last_uid(self) -> int:
        if self._new:
            return self._new[-1]
        return self._uids[-1] if self._uids else 0

    def note_added(self, uids: Iterable[int], *, own: bool = True) -> None:
        """New messages (APPEND/COPY/MOVE into this mailbox: call it before the tagged OK so
        EXISTS is sent at once, RFC 9051 6.3.12); uids at or below the last known are
        ignored. ``own``: this session made the change (``own_change``)."""
        self.own_change = self.own_change or own
        last = self._last_uid()
        for uid in sorted(uids):
            if uid > last:
                if self._new is _NO_NEW:
                    self._new = []
                self._new.append(uid)
                last = uid

    def note_expunged(self, uids: Iterable[int], *, own: bool = True) -> None:
        """Messages removed from the store (EXPUNGE, MOVE: call it, then ``flush``)."""
        self.own_change = self.own_change or own
        for uid in uids:
            i = bisect.bisect_left(self._new, uid)
            if i < len(self._new) and self._new[i] == uid:
                del self._new[i]
                if uid in self._recent:
                    self._recent_set().discard(uid)
            elif self.msn_of(uid) is not None:
                if not isinstance(self._gone, set):
                    self._gone = set()
                self._gone.add(uid)
                self._changed.pop(uid, None)

    def _flags_changed(self, changes: Iterable[UidFlags]) -> None:
        for change in changes:
            msn = self.msn_of(change.uid)
            if msn is None or change.uid in self._gone:
                continue
            if change.modseq >= self._modseqs[msn - 1]:
                if self._changed is _NO_CHANGES:
                    self._changed = {}
                self._changed[change.uid] = change

    def record_flags(self, changes: Iterable[UidFlags]) -> None:
        """Flags this session has reported itself (STORE, FETCH setting \\Seen)."""
        for change in changes:
            msn = self.msn_of(change.uid)
            if msn is None:
                continue
            if change.modseq >= self._modseqs[msn - 1]:
                self._modseqs[msn - 1] = change.modseq
            pending = self._changed.get(change.uid)
            if pending is not None and pending.modseq <= change.modseq:
                del self._changed[change.uid]

    def record_all_flags(self, modseqs: Sequence[int]) -> None:
        """``record_flags`` for every message of the view at once (``modseqs`` in msn
        order, from a listing of the same uids)."""
        self._modseqs = array("Q", map(max, self._modseqs, modseqs))
        for uid, pending in list(self._changed.items()):
            msn = self.msn_of(uid)
            if msn is not None and pending.modseq <= self._modseqs[msn - 1]:
                del self._changed[uid]

    def record_flags_at(self, msns: Sequence[int], modseqs: Sequence[int]) -> None:
        """``record_flags`` for messages known by msn (the bulk FETCH path, which has them
        already): the flags shown at ``modseqs`` are reported."""
        told, changed = self._modseqs, self._changed
        for msn, modseq in zip(msns, modseqs, strict=True):
            if modseq >= told[msn - 1]:
                told[msn - 1] = modseq
            if changed:
                uid = self._uids[msn - 1]
                pending = changed.get(uid)
                if pending is not None and pending.modseq <= modseq:
                    del changed[uid]

    def claim_recent_above(self, mark: int) -> None:
        """Uids above ``mark`` are \\Recent for this session (the result of the store's
        claim_recent, RFC 3501 2.3.2). Ignored in IMAP4rev2, which has no \\Recent."""
        if self.rev2:
            return
        start = bisect.bisect_right(self._uids, mark)
        claimed = [*self._uids[start:], *(u for u in self._new if u > mark)]
        if claimed:
            self._recent_set().update(claimed)

    def _recent_set(self) -> set[int]:
        if not isinstance(self._recent, set):
            self._recent = set(self._recent)
        return self._recent

    @property
    def has_new(self) -> bool:
        """Whether messages arrived that the client has not been told about."""
        return bool(self._new)

    @property
    def pending(self) -> bool:
        """Whether any update waits to be sent."""
        return bool(self._new or self._gone or self._changed)

    def only_expunges(self, uids: Iterable[int]) -> bool:
        """Whether the pending updates are at most the expunge of ``uids`` (CLOSE's own)."""
        return not self._new and not self._changed and self._gone <= set(uids)

    # -- releasing updates ------------------------------------------------------------------

    def flush(self, *, allow_expunge: bool, allow_new: bool = True,
              allow_flags: bool = True) -> list[Response]:
        """The untagged updates that may be sent now, in order: EXPUNGE (if allowed),
        EXISTS (and RECENT in rev1), then FETCH flag changes (with CONDSTORE, only once no
        expunge waits). ``allow_new`` / ``allow_flags`` False hold EXISTS / flag changes
        back (NOTIFY between commands, RFC 5465 5); the uids announced with EXISTS are
        added to ``announced`` (the caller takes them from there)."""
        out: list[Response] = []
        if allow_expunge and self._gone:
            out.extend(self._release_expunges())
        announced = allow_new and bool(self._new)
        if announced:
            self.announced += tuple(self._new)
            self._uids.extend(self._new)
            self._modseqs.extend([0] * len(self._new))
            self._new = _NO_NEW
            out.append(exists(len(self._uids)))
        if not self.rev2 and (announced or len(self._recent) != self._recent_sent):
            out.append(recent(len(self._recent)))
            self._recent_sent = len(self._recent)
        if allow_flags and not (self.condstore and self._gone):
            # RFC 7162 3.2.10 (RFC 5162 erratum 1810): no MODSEQ above an expunge held back
            out.extend(self._release_flags())
        if allow_new and allow_expunge:
            self.own_change = False
        return out

    def _release_expunges(self) -> list[Untagged]:
        indexes = sorted(bisect.bisect_left(self._uids, uid) for uid in self._gone)
        if self.qresync or self.uidonly:  # RFC 7162 3.2.10, RFC 9586 3
            out = [vanished(sorted(self._gone))]
        else:
            out = [expunge(i + 1 - k) for k, i in enumerate(indexes)]  # each shifts the rest
        uids, modseqs = array("L"), array("Q")
        start = 0
        for i in indexes:
            uids.extend(self._uids[start:i])
            modseqs.extend(self._modseqs[start:i])
            start = i + 1
        uids.extend(self._uids[start:])
        modseqs.extend(self._modseqs[start:])
        self._uids, self._modseqs = uids, modseqs
        if self._recent:
            self._recent = (self._recent - self._gone) or _NO_UIDS
        self._gone = _NO_UIDS
        return out

    def _release_flags(self) -> list[Response]:
        out: list[Response] = []
        for uid in sorted(self._changed):
            change = self._changed[uid]
            msn = self.msn_of(uid)
            if msn is None or uid in self._gone:
                continue
            del self._changed[uid]
            out.extend(self.announce_keywords(change.flags))
            self._modseqs[msn - 1] = max(self._modseqs[msn - 1], change.modseq)
            items: list[Value] = [] if self.uidonly else [Atom("UID"), uid]
            items += [Atom("FLAGS"), self.client_flags(uid, change.flags)]
            if self.condstore:
                items += [Atom("MODSEQ"), [change.modseq]]
            response = self.fetch_response(uid, items)
            if response is not None:
                out.append(response)
        return out
