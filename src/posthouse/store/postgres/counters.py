"""Per-mailbox and per-user counters on PostgreSQL, changed only inside write transactions.

uidnext and highestmodseq are taken with ``UPDATE mailboxes ... RETURNING`` in the
transaction that files the messages: the row lock makes allocation race-free across
connections and nodes (a second writer waits for the first's COMMIT, then sees its values).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from posthouse.store.errors import NoSuchMailbox, QuotaExceeded, UidNotAvailable
from posthouse.store.postgres.pool import Tx
from posthouse.store.quota import fits_quota

_MAX_UIDVALIDITY = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class PgMailboxKey:
    """The identity of a mailbox a write is about."""

    id: int
    user_id: int
    uidvalidity: int


async def mailbox_key(tx: Tx, mailbox_id: int) -> PgMailboxKey:
    """The mailbox's owner and uidvalidity (NoSuchMailbox)."""
    row = await tx.one("SELECT user_id, uidvalidity FROM mailboxes WHERE id = %s", (mailbox_id,))
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    return PgMailboxKey(mailbox_id, row[0], row[1])


async def bump_modseq(tx: Tx, mailbox_id: int) -> int:
    """Give a change its own mod-sequence: highestmodseq + 1 (RFC 7162 3.1.1)."""
    row = await tx.one("UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = %s"
                       " RETURNING highestmodseq", (mailbox_id,))
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    return int(row[0])


async def take_uids(tx: Tx, mailbox_id: int, count: int) -> tuple[int, int]:
    """Reserve ``count`` uids and one new mod-sequence; (first uid, modseq)."""
    row = await tx.one(
        "UPDATE mailboxes SET uidnext = uidnext + %s, highestmodseq = highestmodseq + 1"
        " WHERE id = %s RETURNING uidnext, highestmodseq", (count, mailbox_id))
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    return int(row[0]) - count, int(row[1])


async def take_uid_at(tx: Tx, mailbox_id: int, uid: int) -> int:
    """Reserve exactly ``uid`` (an import keeps it) and a new mod-sequence."""
    if not 0 < uid < _MAX_UIDVALIDITY:
        raise UidNotAvailable(f"uid {uid} is out of range")
    row = await tx.one(
        "UPDATE mailboxes SET uidnext = %s + 1, highestmodseq = highestmodseq + 1"
        " WHERE id = %s AND uidnext <= %s RETURNING highestmodseq", (uid, mailbox_id, uid))
    if row is None:
        await mailbox_key(tx, mailbox_id)
        raise UidNotAvailable(f"uid {uid} is below the mailbox's uidnext")
    return int(row[0])


async def adopt_uidvalidity(tx: Tx, mailbox_id: int, uidvalidity: int) -> None:
    """Take another store's UIDVALIDITY while no uid was given out (RFC 9051 2.3.1.1)."""
    if not 0 < uidvalidity <= _MAX_UIDVALIDITY:
        raise UidNotAvailable(f"UIDVALIDITY {uidvalidity} is out of range")
    row = await tx.one("SELECT uidvalidity, uidnext FROM mailboxes WHERE id = %s FOR UPDATE",
                       (mailbox_id,))
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")
    if row[0] == uidvalidity:
        return
    if row[1] != 1:
        raise UidNotAvailable(
            f"the mailbox has held messages under UIDVALIDITY {row[0]}; cannot take {uidvalidity}")
    await tx.run("UPDATE mailboxes SET uidvalidity = %s WHERE id = %s", (uidvalidity, mailbox_id))
    await tx.run("UPDATE meta SET value = greatest(value, %s) WHERE key = 'uidvalidity'",
                 (uidvalidity,))


async def reserve_uids(tx: Tx, mailbox_id: int, uidnext: int) -> None:
    """Raise uidnext to at least ``uidnext``."""
    if not 0 < uidnext <= _MAX_UIDVALIDITY:
        raise UidNotAvailable(f"uidnext {uidnext} is out of range")
    if not await tx.run("UPDATE mailboxes SET uidnext = greatest(uidnext, %s) WHERE id = %s",
                        (uidnext, mailbox_id)):
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")


async def next_uidvalidity(tx: Tx) -> int:
    """A fresh nonzero 32-bit UIDVALIDITY: the time in seconds, kept strictly increasing
    across nodes (the meta row is locked by the UPDATE)."""
    now = int(tx.now.timestamp()) & _MAX_UIDVALIDITY
    row = await tx.one(
        "UPDATE meta SET value = CASE WHEN greatest(%s, value + 1) > %s THEN 1"
        " ELSE greatest(%s, value + 1) END WHERE key = 'uidvalidity' RETURNING value",
        (now, _MAX_UIDVALIDITY, now))
    assert row is not None
    return int(row[0])


async def check_quota(tx: Tx, added: dict[int, int]) -> None:
    """QuotaExceeded if adding ``added[user_id]`` bytes exceeds a quota. The user rows are
    locked (in id order) so concurrent deliveries cannot both squeeze under the quota."""
    for user_id in sorted(added):
        row = await tx.one("SELECT quota_bytes, used_bytes FROM users WHERE id = %s FOR UPDATE",
                           (user_id,))
        if row is not None and not fits_quota(row[1], added[user_id], max(row[0], 0)):
            raise QuotaExceeded(f"quota of {row[0]} bytes exceeded")


async def adjust_usage(tx: Tx, user_id: int, *, size: int, count: int) -> None:
    """Add (or remove) bytes and messages to a user's usage counter."""
    if size or count:
        await tx.run("UPDATE users SET used_bytes = used_bytes + %s,"
                     " used_count = used_count + %s WHERE id = %s", (size, count, user_id))


def sum_sizes(rows: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Group (user_id, size) pairs into bytes per user."""
    out: dict[int, int] = {}
    for user_id, size in rows:
        out[user_id] = out.get(user_id, 0) + size
    return out
