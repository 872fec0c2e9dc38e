"""JMAP state strings from the store's own counters (RFC 8620 1.2, 5.2).

The store keeps a mod-sequence per mailbox (RFC 7162: every change to a mailbox's messages
takes a new one) and no counter per account. An account's state is therefore the vector of
its mailboxes' marks: (row id, uidvalidity, highestmodseq, uidnext, a digest of name, role and
subscription). It changes whenever anything JMAP shows changes, is the same string for the
same store state, and carries what ``/changes`` needs: per mailbox, the modseq to ask
``changed_since`` / ``expunged_since`` from, and the uidnext that tells new copies from old.

Mailbox, Email and Thread share the one vector (each answers ``/changes`` from it in its
own terms). Pure.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from posthouse.store.models import Mailbox

_VERSION = "s1"
_MARK = re.compile(r"^(\d+)-(\d+)-(\d+)-(\d+)-([0-9a-f]{6})$")


@dataclass(frozen=True, slots=True)
class MailboxMark:
    """What one mailbox contributes to the account's state."""

    id: int
    uidvalidity: int
    modseq: int
    uidnext: int
    digest: str  # name, role and subscription: a Mailbox/changes "update" of properties

    def render(self) -> str:
        return f"{self.id}-{self.uidvalidity}-{self.modseq}-{self.uidnext}-{self.digest}"

    @property
    def mailbox_id(self) -> str:
        """The MAILBOXID of the mailbox (imap/objectid.py's form)."""
        return f"F{self.id}V{self.uidvalidity}"


def mark_of(box: Mailbox) -> MailboxMark:
    """The mark of one mailbox as the store returned it."""
    text = f"{box.name}\0{box.special_use or ''}\0{int(box.subscribed)}"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:6]
    return MailboxMark(box.id, box.uidvalidity, box.highestmodseq, box.uidnext, digest)


def encode_state(boxes: Iterable[Mailbox]) -> str:
    """The state string of an account whose mailboxes are ``boxes``."""
    marks = sorted((mark_of(b) for b in boxes), key=lambda m: m.id)
    return ".".join([_VERSION, *(m.render() for m in marks)])


def decode_state(text: str) -> dict[int, MailboxMark] | None:
    """The marks of a state string this server made, or None for anything else."""
    parts = text.split(".")
    if not parts or parts[0] != _VERSION:
        return None
    marks: dict[int, MailboxMark] = {}
    for part in parts[1:]:
        found = _MARK.match(part)
        if found is None:
            return None
        mark = MailboxMark(int(found[1]), int(found[2]), int(found[3]), int(found[4]),
                           found[5])
        marks[mark.id] = mark
    return marks
