"""Per-mailbox and per-user counters, changed only inside write transactions.

uidnext, highestmodseq, uidvalidity and the quota usage are read and bumped by the same
transaction that changes the messages, so they can never drift apart.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from posthouse.store.errors import NoSuchMailbox, QuotaExceeded, UidNotAvailable
from posthouse.store.quota import fits_quota
from posthouse.store.sqlite.writer import WriteContext

_MAX_UIDVALIDITY = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class MailboxKey:
    """The identity of a mailbox a write is about."""

    id: int
    user_id: int
    uidvalidity: int


def mailbox_key(conn: sqlite3.Connection, mailbox_id: int) -> MailboxKey:
    """The mailbox's owner and uidvalidity (NoSuchMailbox)."""
    row = conn.execute(
        "SELECT user_id, uidvalidity FROM mailboxes WHERE id = ?", (mailbox_id,)
    ).fetchone()
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    return MailboxKey(mailbox_id, row[0], row[1])


def bump_modseq(ctx: WriteContext, mailbox_id: int) -> int:
    """Give a change its own mod-sequence: highestmodseq + 1 (RFC 7162 3.1.1)."""
    row = ctx.conn.execute(
        "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?"
        " RETURNING highestmodseq",
        (mailbox_id,),
    ).fetchone()
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    return int(row[0])


def take_uids(ctx: WriteContext, mailbox_id: int, count: int) -> tuple[int, int]:
    """Reserve ``count`` uids and a new mod-sequence for adding them, in one UPDATE; returns
    (first uid, modseq). Uids are never reused (RFC 9051 2.3.1.1)."""
    row = ctx.conn.execute(
        "UPDATE mailboxes SET uidnext = uidnext + ?, highestmodseq = highestmodseq + 1"
        " WHERE id = ? RETURNING uidnext, highestmodseq",
        (count, mailbox_id),
    ).fetchone()
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    return int(row[0]) - count, int(row[1])


def take_uid_at(ctx: WriteContext, mailbox_id: int, uid: int) -> int:
    """Reserve exactly ``uid`` (an imported message keeps its uid) and a new mod-sequence;
    uidnext moves past it. Uids only grow: one below uidnext is UidNotAvailable."""
    if not 0 < uid < _MAX_UIDVALIDITY:
        raise UidNotAvailable(f"uid {uid} is out of range")
    row = ctx.conn.execute(
        "UPDATE mailboxes SET uidnext = ? + 1, highestmodseq = highestmodseq + 1"
        " WHERE id = ? AND uidnext <= ? RETURNING highestmodseq",
        (uid, mailbox_id, uid),
    ).fetchone()
    if row is None:
        mailbox_key(ctx.conn, mailbox_id)  # NoSuchMailbox first
        raise UidNotAvailable(f"uid {uid} is below the mailbox's uidnext")
    return int(row[0])


def adopt_uidvalidity(ctx: WriteContext, mailbox_id: int, uidvalidity: int) -> None:
    """Set a mailbox's UIDVALIDITY to one from another store, while no uid was ever given
    out under the current one (RFC 9051 2.3.1.1: a client must never see the same
    UIDVALIDITY with other messages). The meta counter moves up to it, so later fresh
    values stay above it."""
    if not 0 < uidvalidity <= _MAX_UIDVALIDITY:
        raise UidNotAvailable(f"UIDVALIDITY {uidvalidity} is out of range")
    row = ctx.conn.execute(
        "SELECT uidvalidity, uidnext FROM mailboxes WHERE id = ?", (mailbox_id,)
    ).fetchone()
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    if row[0] == uidvalidity:
        return
    if row[1] != 1:
        raise UidNotAvailable(
            f"the mailbox has held messages under UIDVALIDITY {row[0]}; cannot take {uidvalidity}"
        )
    ctx.conn.execute("UPDATE mailboxes SET uidvalidity = ? WHERE id = ?", (uidvalidity, mailbox_id))
    ctx.conn.execute(
        "INSERT INTO meta (key, value) VALUES ('uidvalidity', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
        (uidvalidity,),
    )


def reserve_uids(ctx: WriteContext, mailbox_id: int, uidnext: int) -> None:
    """Raise uidnext to at least ``uidnext``: uids another store gave out stay unused."""
    if not 0 < uidnext <= _MAX_UIDVALIDITY:
        raise UidNotAvailable(f"uidnext {uidnext} is out of range")
    mailbox_key(ctx.conn, mailbox_id)
    ctx.conn.execute(
        "UPDATE mailboxes SET uidnext = max(uidnext, ?) WHERE id = ?", (uidnext, mailbox_id)
    )


def next_uidvalidity(ctx: WriteContext) -> int:
    """A fresh nonzero 32-bit UIDVALIDITY: the time in seconds, kept strictly increasing.

    A name that is deleted and created again thus never shows a client the same
    UIDVALIDITY with other messages (RFC 9051 2.3.1.1).
    """
    row = ctx.conn.execute("SELECT value FROM meta WHERE key = 'uidvalidity'").fetchone()
    last = int(row[0]) if row else 0
    value = max(int(ctx.now.timestamp()) & _MAX_UIDVALIDITY, last + 1)
    if value > _MAX_UIDVALIDITY:
        value = 1
    ctx.conn.execute(
        "INSERT INTO meta (key, value) VALUES ('uidvalidity', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (value,),
    )
    return value


def check_quota(ctx: WriteContext, added: dict[int, int]) -> None:
    """Raise QuotaExceeded if adding ``added[user_id]`` bytes would exceed a user's quota."""
    for user_id, size in added.items():
        row = ctx.conn.execute(
            "SELECT quota_bytes, used_bytes FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        # max(): here a negative quota (only the CLI can set one) has always meant none.
        if row is not None and not fits_quota(row[1], size, max(row[0], 0)):
            raise QuotaExceeded(f"quota of {row[0]} bytes exceeded")


def adjust_usage(ctx: WriteContext, user_id: int, *, size: int, count: int) -> None:
    """Add (or with negatives, remove) bytes and messages to a user's usage counter."""
    if size or count:
        ctx.conn.execute(
            "UPDATE users SET used_bytes = used_bytes + ?, used_count = used_count + ?"
            " WHERE id = ?",
            (size, count, user_id),
        )


def sum_sizes(rows: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Group (user_id, size) pairs into bytes per user."""
    out: dict[int, int] = {}
    for user_id, size in rows:
        out[user_id] = out.get(user_id, 0) + size
    return out
