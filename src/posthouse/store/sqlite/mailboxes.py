"""Mailboxes of a user: create, delete, rename, subscriptions, counts, \\Recent."""

from __future__ import annotations

import sqlite3
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
from posthouse.store.models import Mailbox, MailboxCounts
from posthouse.store.names import is_inbox, normalize_mailbox_name, parent_names, renamed
from posthouse.store.sqlite import messages, metadata
from posthouse.store.sqlite.counters import MailboxKey, next_uidvalidity
from posthouse.store.sqlite.writer import WriteContext

_SELECT = (
    "SELECT m.id, m.user_id, m.name, m.special_use, m.uidvalidity, m.uidnext,"
    " m.highestmodseq, EXISTS (SELECT 1 FROM subscriptions s"
    " WHERE s.user_id = m.user_id AND s.name = m.name), m.recent_mark FROM mailboxes m"
)


def _mailbox(row: Sequence[Any]) -> Mailbox:
    return Mailbox(
        id=row[0], user_id=row[1], name=row[2], special_use=row[3], uidvalidity=row[4],
        uidnext=row[5], highestmodseq=row[6], subscribed=bool(row[7]), recent_mark=row[8],
    )


def _require_user(conn: sqlite3.Connection, user_id: int) -> None:
    if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
        raise NotFound(f"no user with id {user_id}")


def _find(conn: sqlite3.Connection, user_id: int, name: str) -> Mailbox | None:
    row = conn.execute(f"{_SELECT} WHERE m.user_id = ? AND m.name = ?", (user_id, name))
    found = row.fetchone()
    return _mailbox(found) if found else None


def list_mailboxes(conn: sqlite3.Connection, user_id: int) -> list[Mailbox]:
    """A user's mailboxes, sorted by name."""
    rows = conn.execute(f"{_SELECT} WHERE m.user_id = ? ORDER BY m.name", (user_id,))
    return [_mailbox(row) for row in rows]


def get_mailbox(conn: sqlite3.Connection, user_id: int, name: str) -> Mailbox | None:
    """A mailbox by name; None also for a name that is not valid."""
    try:
        return _find(conn, user_id, normalize_mailbox_name(name))
    except InvalidMailboxName:
        return None


def get_mailbox_by_id(conn: sqlite3.Connection, mailbox_id: int) -> Mailbox | None:
    """A mailbox by id, or None."""
    row = conn.execute(f"{_SELECT} WHERE m.id = ?", (mailbox_id,)).fetchone()
    return _mailbox(row) if row else None


def insert_mailbox(
    ctx: WriteContext, user_id: int, name: str, *, special_use: str | None
) -> int:
    """Insert a mailbox row with a fresh uidvalidity (name already normalized)."""
    row = ctx.conn.execute(
        "INSERT INTO mailboxes (user_id, name, special_use, uidvalidity) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (user_id, name) DO NOTHING RETURNING id",
        (user_id, name, special_use, next_uidvalidity(ctx)),
    ).fetchone()
    if row is None:
        raise MailboxExists(f"mailbox {name!r} exists")
    return int(row[0])


def _create_parents(ctx: WriteContext, user_id: int, name: str) -> list[MailboxChange]:
    """Create missing superior names (RFC 9051 6.3.4: the server SHOULD create them)."""
    created: list[MailboxChange] = []
    for parent in parent_names(name):
        if _find(ctx.conn, user_id, parent) is None:
            insert_mailbox(ctx, user_id, parent, special_use=None)
            created.append(MailboxChange(BOX_CREATED, parent))
    return created


def create_mailbox(
    ctx: WriteContext, user_id: int, name: str, *, special_use: str | None, origin: object
) -> Mailbox:
    """CREATE (MailboxExists, InvalidMailboxName)."""
    name = normalize_mailbox_name(name)
    _require_user(ctx.conn, user_id)
    if _find(ctx.conn, user_id, name) is not None:
        raise MailboxExists(f"mailbox {name!r} exists")
    changes = _create_parents(ctx, user_id, name)
    mailbox_id = insert_mailbox(ctx, user_id, name, special_use=special_use)
    changes.append(MailboxChange(BOX_CREATED, name))
    ctx.events.append(MailboxListChanged(user_id, origin, tuple(changes)))
    created = get_mailbox_by_id(ctx.conn, mailbox_id)
    assert created is not None
    return created


def drop_mailbox(ctx: WriteContext, mailbox_id: int) -> None:
    """Delete a mailbox row with its messages and METADATA entries (no checks, no
    events)."""
    row = ctx.conn.execute(
        "SELECT user_id, uidvalidity FROM mailboxes WHERE id = ?", (mailbox_id,)
    ).fetchone()
    messages.purge_mailbox(ctx, MailboxKey(mailbox_id, row[0], row[1]))
    metadata.drop_mailbox_metadata(ctx, mailbox_id)  # RFC 5464 3.1: they go with it
    ctx.conn.execute("DELETE FROM mailboxes WHERE id = ?", (mailbox_id,))


def delete_mailbox(ctx: WriteContext, user_id: int, name: str, *, origin: object) -> None:
    """DELETE: the mailbox and its messages go; inferior names stay (RFC 9051 6.3.5).

    Subscriptions are left alone: a name need not exist to be subscribed.
    """
    found = get_mailbox(ctx.conn, user_id, name)
    if found is None:
        raise NoSuchMailbox(f"no mailbox {name!r}")
    if is_inbox(found.name):
        raise MailboxNotDeletable("INBOX cannot be deleted")
    drop_mailbox(ctx, found.id)
    gone = MailboxChange(BOX_DELETED, found.name)
    ctx.events.append(MailboxListChanged(user_id, origin, (gone,)))


def rename_mailbox(ctx: WriteContext, user_id: int, old: str, new: str, *, origin: object) -> None:
    """RENAME, with inferior names (RFC 9051 6.3.6)."""
    source = get_mailbox(ctx.conn, user_id, old)
    if source is None:
        raise NoSuchMailbox(f"no mailbox {old!r}")
    new = normalize_mailbox_name(new)
    if _find(ctx.conn, user_id, new) is not None:
        raise MailboxExists(f"mailbox {new!r} exists")
    if is_inbox(source.name):
        changes = _rename_inbox(ctx, source, new, origin=origin)
    else:
        changes = _rename_tree(ctx, user_id, source.name, new)
        changes += _create_parents(ctx, user_id, new)
    ctx.events.append(MailboxListChanged(user_id, origin, tuple(changes)))


def _rename_tree(ctx: WriteContext, user_id: int, old: str, new: str) -> list[MailboxChange]:
    rows = ctx.conn.execute(
        "SELECT id, name FROM mailboxes WHERE user_id = ? AND (name = ? OR substr(name, 1, ?) = ?)",
        (user_id, old, len(old) + 1, old + "/"),
    ).fetchall()
    moves = [
        (mailbox_id, name, normalize_mailbox_name(renamed(name, old, new)))
        for mailbox_id, name in rows
    ]
    for _id, _name, target in moves:
        if _find(ctx.conn, user_id, target) is not None:
            raise MailboxExists(f"mailbox {target!r} exists")
    for mailbox_id, name, target in moves:
        ctx.conn.execute("UPDATE mailboxes SET name = ? WHERE id = ?", (target, mailbox_id))
        _move_subscription(ctx, user_id, name, target)
    return [MailboxChange(BOX_RENAMED, target, name) for _id, name, target in moves]


def _move_subscription(ctx: WriteContext, user_id: int, old: str, new: str) -> None:
    cur = ctx.conn.execute(
        "DELETE FROM subscriptions WHERE user_id = ? AND name = ?", (user_id, old)
    )
    if cur.rowcount:
        subscribe(ctx, user_id, new)


def _rename_inbox(
    ctx: WriteContext, inbox: Mailbox, new: str, *, origin: object
) -> list[MailboxChange]:
    """Renaming INBOX moves its messages to a new mailbox; INBOX stays, empty, and its
    inferior names do not move (RFC 9051 6.3.6). Its METADATA entries are copied. For the
    list of names this is a creation: INBOX is still there."""
    changes = _create_parents(ctx, inbox.user_id, new)
    target = insert_mailbox(ctx, inbox.user_id, new, special_use=None)
    changes.append(MailboxChange(BOX_CREATED, new))
    metadata.copy_mailbox_metadata(ctx, inbox.id, target)
    uids = [row[0] for row in ctx.conn.execute(
        "SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid", (inbox.id,)
    )]
    if uids:
        messages.copy(ctx, inbox.id, uids, target, move=True, origin=origin)
    return changes


def subscribe(ctx: WriteContext, user_id: int, name: str) -> None:
    """Add a subscription (idempotent)."""
    ctx.conn.execute(
        "INSERT INTO subscriptions (user_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (user_id, name),
    )


def set_subscribed(
    ctx: WriteContext, user_id: int, name: str, subscribed: bool, *, origin: object
) -> None:
    """SUBSCRIBE / UNSUBSCRIBE any valid name, existing or not (RFC 9051 6.3.7)."""
    name = normalize_mailbox_name(name)
    _require_user(ctx.conn, user_id)
    if subscribed:
        subscribe(ctx, user_id, name)
    else:
        ctx.conn.execute(
            "DELETE FROM subscriptions WHERE user_id = ? AND name = ?", (user_id, name)
        )
    change = MailboxChange(SUBSCRIBED if subscribed else UNSUBSCRIBED, name)
    ctx.events.append(MailboxListChanged(user_id, origin, (change,)))


def list_subscriptions(conn: sqlite3.Connection, user_id: int) -> list[str]:
    """Subscribed names, sorted."""
    rows = conn.execute(
        "SELECT name FROM subscriptions WHERE user_id = ? ORDER BY name", (user_id,)
    )
    return [row[0] for row in rows]


def mailbox_counts(conn: sqlite3.Connection, mailbox_id: int) -> MailboxCounts:
    """STATUS / STAT figures (NoSuchMailbox): one row, whatever the mailbox's size (the
    counters are kept by triggers in the same transaction as the rows, schema v9)."""
    row = conn.execute(
        "SELECT uidnext, uidvalidity, highestmodseq, msg_count, unseen_count, deleted_count,"
        " size_total, recent_count FROM mailboxes WHERE id = ?",
        (mailbox_id,),
    ).fetchone()
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    uidnext, uidvalidity, highestmodseq, total, unseen, deleted, size, recent = row
    return MailboxCounts(
        messages=total, unseen=unseen, deleted=deleted, size=size,
        uidnext=uidnext, uidvalidity=uidvalidity, highestmodseq=highestmodseq, recent=recent,
    )


def settled_recent_mark(conn: sqlite3.Connection, mailbox_id: int) -> int | None:
    """The \\Recent mark when no message is above it (a claim would write what is there
    already), else None (a missing mailbox too: the claim says NoSuchMailbox)."""
    row = conn.execute(
        "SELECT recent_mark FROM mailboxes WHERE id = ? AND recent_mark >= uidnext - 1"
        " AND recent_count = 0", (mailbox_id,)
    ).fetchone()
    return None if row is None else int(row[0])


def claim_recent(ctx: WriteContext, mailbox_id: int) -> int:
    """Move the \\Recent mark to uidnext - 1 and return where it was (RFC 3501 2.3.2)."""
    row = ctx.conn.execute(
        "SELECT recent_mark FROM mailboxes WHERE id = ?", (mailbox_id,)
    ).fetchone()
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    ctx.conn.execute(
        "UPDATE mailboxes SET recent_mark = uidnext - 1, recent_count = 0 WHERE id = ?",
        (mailbox_id,),
    )
    return int(row[0])

