"""Mailboxes of a user on PostgreSQL: create, delete, rename, subscriptions, counts, \\Recent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from posthouse.store.errors import (
    InvalidMailboxName,
    MailboxExists,
    MailboxNotDeletable,
    NoSuchMailbox,
    NotFound,
)
from posthouse.store.events import (
    BOX_CREATED,
    BOX_DELETED,
    BOX_RENAMED,
    SUBSCRIBED,
    UNSUBSCRIBED,
    MailboxChange,
    MailboxListChanged,
)
from posthouse.store.models import DELETED, SEEN, Mailbox, MailboxCounts
from posthouse.store.names import is_inbox, normalize_mailbox_name, parent_names, renamed
from posthouse.store.postgres import messages, metadata
from posthouse.store.postgres.counters import PgMailboxKey, next_uidvalidity
from posthouse.store.postgres.pool import Tx

_SELECT = (
    "SELECT m.id, m.user_id, m.name, m.special_use, m.uidvalidity, m.uidnext,"
    " m.highestmodseq, EXISTS (SELECT 1 FROM subscriptions s"
    " WHERE s.user_id = m.user_id AND s.name = m.name), m.recent_mark FROM mailboxes m"
)


def _mailbox(row: Sequence[Any]) -> Mailbox:
    return Mailbox(id=row[0], user_id=row[1], name=row[2], special_use=row[3],
                   uidvalidity=row[4], uidnext=row[5], highestmodseq=row[6],
                   subscribed=bool(row[7]), recent_mark=row[8])


async def _require_user(tx: Tx, user_id: int) -> None:
    if await tx.one("SELECT 1 FROM users WHERE id = %s", (user_id,)) is None:
        raise NotFound(f"no user with id {user_id}")


async def _find(tx: Tx, user_id: int, name: str) -> Mailbox | None:
    row = await tx.one(f"{_SELECT} WHERE m.user_id = %s AND m.name = %s", (user_id, name))
    return _mailbox(row) if row else None


async def list_mailboxes(tx: Tx, user_id: int) -> list[Mailbox]:
    """A user's mailboxes, sorted by name (code point order)."""
    rows = await tx.all(f"{_SELECT} WHERE m.user_id = %s ORDER BY m.name COLLATE \"C\"",
                        (user_id,))
    return [_mailbox(row) for row in rows]


async def get_mailbox(tx: Tx, user_id: int, name: str) -> Mailbox | None:
    """A mailbox by name; None also for a name that is not valid."""
    try:
        return await _find(tx, user_id, normalize_mailbox_name(name))
    except InvalidMailboxName:
        return None


async def get_mailbox_by_id(tx: Tx, mailbox_id: int) -> Mailbox | None:
    """A mailbox by id, or None."""
    row = await tx.one(f"{_SELECT} WHERE m.id = %s", (mailbox_id,))
    return _mailbox(row) if row else None


async def insert_mailbox(tx: Tx, user_id: int, name: str, *, special_use: str | None) -> int:
    """Insert a mailbox row with a fresh uidvalidity (name already normalized)."""
    row = await tx.one(
        "INSERT INTO mailboxes (user_id, name, special_use, uidvalidity)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, name) DO NOTHING RETURNING id",
        (user_id, name, special_use, await next_uidvalidity(tx)))
    if row is None:
        raise MailboxExists(f"mailbox {name!r} exists")
    return int(row[0])


async def _create_parents(tx: Tx, user_id: int, name: str) -> list[MailboxChange]:
    """Create missing superior names (RFC 9051 6.3.4)."""
    created: list[MailboxChange] = []
    for parent in parent_names(name):
        if await _find(tx, user_id, parent) is None:
            await insert_mailbox(tx, user_id, parent, special_use=None)
            created.append(MailboxChange(BOX_CREATED, parent))
    return created


async def create_mailbox(tx: Tx, user_id: int, name: str, *, special_use: str | None,
                         origin: object) -> Mailbox:
    """CREATE (MailboxExists, InvalidMailboxName)."""
    name = normalize_mailbox_name(name)
    await _require_user(tx, user_id)
    if await _find(tx, user_id, name) is not None:
        raise MailboxExists(f"mailbox {name!r} exists")
    changes = await _create_parents(tx, user_id, name)
    mailbox_id = await insert_mailbox(tx, user_id, name, special_use=special_use)
    changes.append(MailboxChange(BOX_CREATED, name))
    tx.events.append(MailboxListChanged(user_id, origin, tuple(changes)))
    created = await get_mailbox_by_id(tx, mailbox_id)
    assert created is not None
    return created


async def drop_mailbox(tx: Tx, mailbox_id: int) -> None:
    """Delete a mailbox row with its messages and METADATA entries (no checks, no events)."""
    row = await tx.one("SELECT user_id, uidvalidity FROM mailboxes WHERE id = %s FOR UPDATE",
                       (mailbox_id,))
    assert row is not None
    await messages.purge_mailbox(tx, PgMailboxKey(mailbox_id, row[0], row[1]))
    await metadata.drop_mailbox_metadata(tx, mailbox_id)
    await tx.run("DELETE FROM mailboxes WHERE id = %s", (mailbox_id,))


async def delete_mailbox(tx: Tx, user_id: int, name: str, *, origin: object) -> None:
    """DELETE: the mailbox and its messages go; inferior names stay (RFC 9051 6.3.5)."""
    found = await get_mailbox(tx, user_id, name)
    if found is None:
        raise NoSuchMailbox(f"no mailbox {name!r}")
    if is_inbox(found.name):
        raise MailboxNotDeletable("INBOX cannot be deleted")
    await drop_mailbox(tx, found.id)
    tx.events.append(MailboxListChanged(user_id, origin, (MailboxChange(BOX_DELETED,
                                                                        found.name),)))


async def rename_mailbox(tx: Tx, user_id: int, old: str, new: str, *, origin: object) -> None:
    """RENAME, with inferior names (RFC 9051 6.3.6)."""
    source = await get_mailbox(tx, user_id, old)
    if source is None:
        raise NoSuchMailbox(f"no mailbox {old!r}")
    new = normalize_mailbox_name(new)
    if await _find(tx, user_id, new) is not None:
        raise MailboxExists(f"mailbox {new!r} exists")
    if is_inbox(source.name):
        changes = await _rename_inbox(tx, source, new, origin=origin)
    else:
        changes = await _rename_tree(tx, user_id, source.name, new)
        changes += await _create_parents(tx, user_id, new)
    tx.events.append(MailboxListChanged(user_id, origin, tuple(changes)))


async def _rename_tree(tx: Tx, user_id: int, old: str, new: str) -> list[MailboxChange]:
    rows = await tx.all(
        "SELECT id, name FROM mailboxes WHERE user_id = %s"
        " AND (name = %s OR left(name, %s) = %s) ORDER BY id FOR UPDATE",
        (user_id, old, len(old) + 1, old + "/"))
    moves = [(mailbox_id, name, normalize_mailbox_name(renamed(name, old, new)))
             for mailbox_id, name in rows]
    for _id, _name, target in moves:
        if await _find(tx, user_id, target) is not None:
            raise MailboxExists(f"mailbox {target!r} exists")
    for mailbox_id, name, target in moves:
        await tx.run("UPDATE mailboxes SET name = %s WHERE id = %s", (target, mailbox_id))
        await _move_subscription(tx, user_id, name, target)
    return [MailboxChange(BOX_RENAMED, target, name) for _id, name, target in moves]


async def _move_subscription(tx: Tx, user_id: int, old: str, new: str) -> None:
    if await tx.run("DELETE FROM subscriptions WHERE user_id = %s AND name = %s",
                    (user_id, old)):
        await subscribe(tx, user_id, new)


async def _rename_inbox(tx: Tx, inbox: Mailbox, new: str, *,
                        origin: object) -> list[MailboxChange]:
    """Renaming INBOX moves its messages to a new mailbox; INBOX stays, empty (RFC 9051
    6.3.6); its METADATA entries are copied."""
    changes = await _create_parents(tx, inbox.user_id, new)
    target = await insert_mailbox(tx, inbox.user_id, new, special_use=None)
    changes.append(MailboxChange(BOX_CREATED, new))
    await metadata.copy_mailbox_metadata(tx, inbox.id, target)
    uids = [row[0] for row in await tx.all(
        "SELECT uid FROM messages WHERE mailbox_id = %s ORDER BY uid", (inbox.id,))]
    if uids:
        await messages.copy(tx, inbox.id, uids, target, move=True, origin=origin)
    return changes


async def subscribe(tx: Tx, user_id: int, name: str) -> None:
    """Add a subscription (idempotent)."""
    await tx.run("INSERT INTO subscriptions (user_id, name) VALUES (%s, %s)"
                 " ON CONFLICT DO NOTHING", (user_id, name))


async def set_subscribed(tx: Tx, user_id: int, name: str, subscribed: bool, *,
                         origin: object) -> None:
    """SUBSCRIBE / UNSUBSCRIBE any valid name, existing or not (RFC 9051 6.3.7)."""
    name = normalize_mailbox_name(name)
    await _require_user(tx, user_id)
    if subscribed:
        await subscribe(tx, user_id, name)
    else:
        await tx.run("DELETE FROM subscriptions WHERE user_id = %s AND name = %s",
                     (user_id, name))
    change = MailboxChange(SUBSCRIBED if subscribed else UNSUBSCRIBED, name)
    tx.events.append(MailboxListChanged(user_id, origin, (change,)))


async def list_subscriptions(tx: Tx, user_id: int) -> list[str]:
    """Subscribed names, sorted."""
    rows = await tx.all("SELECT name FROM subscriptions WHERE user_id = %s"
                        " ORDER BY name COLLATE \"C\"", (user_id,))
    return [row[0] for row in rows]


async def mailbox_counts(tx: Tx, mailbox_id: int) -> MailboxCounts:
    """STATUS / STAT figures (NoSuchMailbox)."""
    box = await tx.one("SELECT uidnext, uidvalidity, highestmodseq, recent_mark"
                       " FROM mailboxes WHERE id = %s", (mailbox_id,))
    if box is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    row = await tx.one(
        "SELECT count(*), count(*) FILTER (WHERE strpos(' ' || flags || ' ', %s) = 0),"
        " count(*) FILTER (WHERE strpos(' ' || flags || ' ', %s) > 0),"
        " coalesce(sum(size), 0), count(*) FILTER (WHERE uid > %s)"
        " FROM messages WHERE mailbox_id = %s",
        (f" {SEEN} ", f" {DELETED} ", box[3], mailbox_id))
    assert row is not None
    return MailboxCounts(messages=row[0], unseen=row[1], deleted=row[2], size=int(row[3]),
                         uidnext=box[0], uidvalidity=box[1], highestmodseq=box[2],
                         recent=row[4])


async def claim_recent(tx: Tx, mailbox_id: int) -> int:
    """Move the \\Recent mark to uidnext - 1 and return where it was (RFC 3501 2.3.2)."""
    row = await tx.one("SELECT recent_mark FROM mailboxes WHERE id = %s FOR UPDATE",
                       (mailbox_id,))
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    await tx.run("UPDATE mailboxes SET recent_mark = uidnext - 1 WHERE id = %s", (mailbox_id,))
    return int(row[0])
