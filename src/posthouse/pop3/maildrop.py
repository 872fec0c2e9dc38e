"""The maildrop as one POP3 session sees it: fixed message numbers, deletion marks.

Messages are numbered 1..N at login and keep their numbers for the session (RFC 1939 5).
A message marked deleted no longer appears in STAT, LIST or UIDL, and any command naming it
fails; RSET clears the marks. UIDL values are "<uidvalidity>.<uid>": stable across sessions
as long as the mailbox keeps its UIDVALIDITY, and within RFC 1939 7's 1..70 characters
of 0x21..0x7E.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from posthouse.pop3 import replies
from posthouse.pop3.replies import Err, Ok, Pop3Reply
from posthouse.wire import LocalProtocolError


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of the maildrop."""

    number: int
    uid: int
    size: int  # octets of the stored CRLF form, exactly what RETR sends before stuffing


class Maildrop:
    """STAT, LIST, UIDL, DELE and RSET over a fixed list of (uid, size)."""

    def __init__(self, messages: Sequence[tuple[int, int]], *, uidvalidity: int) -> None:
        uids = [uid for uid, _ in messages]
        if len(set(uids)) != len(uids) or any(uid < 1 for uid in uids):
            raise LocalProtocolError("maildrop uids must be positive and unique")
        if any(size < 0 for _, size in messages) or uidvalidity < 1:
            raise LocalProtocolError("sizes must be >= 0 and uidvalidity positive")
        self.uidvalidity = uidvalidity
        self._entries = [Entry(i, uid, size) for i, (uid, size) in enumerate(messages, 1)]
        self._deleted: set[int] = set()
        self.retrieved: set[int] = set()

    def uidl(self, entry: Entry) -> str:
        """The unique-id listing value of a message."""
        return f"{self.uidvalidity}.{entry.uid}"

    def lookup(self, number: int) -> Entry | Err:
        """The live message with this number, or the -ERR to send."""
        if not 1 <= number <= len(self._entries):
            return replies.no_such_message()
        if number in self._deleted:
            return replies.already_deleted(number)
        return self._entries[number - 1]

    def _live(self) -> list[Entry]:
        return [e for e in self._entries if e.number not in self._deleted]

    def totals(self) -> tuple[int, int]:
        """Count and octets of the messages not marked deleted."""
        live = self._live()
        return len(live), sum(e.size for e in live)

    def summary(self) -> Ok:
        """"+OK maildrop has N messages (M octets)": the answer to a login and to RSET."""
        count, size = self.totals()
        return Ok(f"maildrop has {count} messages ({size} octets)")

    def stat(self) -> Pop3Reply:
        """RFC 1939 5 STAT: "+OK count octets"."""
        return replies.maildrop_status(*self.totals())

    def list(self, number: int | None) -> Pop3Reply:
        """LIST [n]: one scan listing, or all of them as a multi-line reply."""
        if number is not None:
            found = self.lookup(number)
            if isinstance(found, Err):
                return found
            return replies.scan_listing(found.number, found.size)
        count, size = self.totals()
        return replies.scan_listings(count, size, ((e.number, e.size) for e in self._live()))

    def uidl_reply(self, number: int | None) -> Pop3Reply:
        """UIDL [n] (RFC 1939 7)."""
        if number is not None:
            found = self.lookup(number)
            if isinstance(found, Err):
                return found
            return replies.unique_id(found.number, self.uidl(found))
        return replies.unique_id_listing((e.number, self.uidl(e)) for e in self._live())

    def dele(self, number: int) -> Pop3Reply:
        """Mark a message deleted; it goes only when QUIT commits."""
        found = self.lookup(number)
        if isinstance(found, Err):
            return found
        self._deleted.add(number)
        return replies.message_deleted(number)

    def rset(self) -> Pop3Reply:
        """Unmark every deleted message."""
        self._deleted.clear()
        return self.summary()

    def deleted_uids(self) -> tuple[int, ...]:
        """Uids marked deleted, in message-number order."""
        return tuple(e.uid for e in self._entries if e.number in self._deleted)

    def retrieved_uids(self) -> tuple[int, ...]:
        """Uids sent in full by RETR, in message-number order."""
        return tuple(e.uid for e in self._entries if e.number in self.retrieved)
