"""Store change events as small JSON-able bodies, for events that cross processes or nodes.

One shape for both carriers: PostgreSQL NOTIFY payloads (store/postgres/notify.py, which may
leave the ids out of a body too large and read them back) and the messages between the
worker processes of one SQLite server (store/siblings.py, which splits a large body instead).
The keys are short: ``k`` kind, ``u`` user, ``m`` mailbox, ``s`` highest modseq, ``i`` ids,
``r`` a uid range, ``c`` changes, ``e`` metadata entries. Remote events carry no origin.
"""

from __future__ import annotations

from typing import Any

from posthouse.store.events import (
    FlagsChanged,
    MailboxChange,
    MailboxListChanged,
    MessagesAdded,
    MessagesExpunged,
    MetadataChanged,
    StoreEvent,
)
from posthouse.store.models import UidFlags

ID_KEYS = ("i", "c", "e", "r")  # the keys that hold a body's (possibly many) ids


def event_body(event: StoreEvent) -> dict[str, Any]:
    """The body of an event, every id included."""
    body: dict[str, Any] = {"u": event.user_id}
    if isinstance(event, MessagesAdded):
        body |= {"k": "add", "m": event.mailbox_id, "s": event.highestmodseq}
        uids = sorted(event.uids)
        if uids and uids == list(range(uids[0], uids[-1] + 1)):
            body["r"] = [uids[0], uids[-1]]
        else:
            body["i"] = uids
    elif isinstance(event, MessagesExpunged):
        body |= {"k": "exp", "m": event.mailbox_id, "s": event.highestmodseq,
                 "i": list(event.uids)}
    elif isinstance(event, FlagsChanged):
        body |= {"k": "flags", "m": event.mailbox_id, "s": event.highestmodseq,
                 "c": [[c.uid, c.modseq, " ".join(sorted(c.flags))] for c in event.changes]}
    elif isinstance(event, MailboxListChanged):
        body |= {"k": "boxes",
                 "c": [[c.kind, c.name, c.old_name] for c in event.changes]}
    else:
        body |= {"k": "meta", "m": event.mailbox_id, "e": list(event.entries)}
    return body


def event_from_body(body: dict[str, Any]) -> StoreEvent:
    """Rebuild an event from its body (origin None)."""
    user = int(body["u"])
    kind = body["k"]
    if kind == "add":
        if "r" in body:
            uids = tuple(range(body["r"][0], body["r"][1] + 1))
        else:
            uids = tuple(body.get("i", ()))
        return MessagesAdded(user, body["m"], uids, body["s"])
    if kind == "exp":
        return MessagesExpunged(user, body["m"], tuple(body.get("i", ())), body["s"])
    if kind == "flags":
        changes = tuple(UidFlags(c[0], c[1], frozenset(c[2].split()))
                        for c in body.get("c", ()))
        return FlagsChanged(user, body["m"], changes, body["s"])
    if kind == "boxes":
        return MailboxListChanged(user, None, tuple(
            MailboxChange(c[0], c[1], c[2]) for c in body.get("c", ())))
    return MetadataChanged(user, body["m"], tuple(body.get("e", ())))


def split_body(body: dict[str, Any], most: int) -> list[dict[str, Any]]:
    """The body as several bodies of at most ``most`` ids each (the same kind, user, mailbox
    and modseq), in order; a body with fewer ids is returned alone."""
    for key in ("i", "c", "e"):
        ids = body.get(key)
        if isinstance(ids, list) and len(ids) > most:
            return [body | {key: ids[at:at + most]} for at in range(0, len(ids), most)]
    return [body]
