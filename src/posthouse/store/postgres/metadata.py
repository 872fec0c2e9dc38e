"""METADATA entries (RFC 5464) of mailboxes and of the server, on PostgreSQL.

mailbox_id 0 means the server; the server's /shared/ entries belong to user 0 and are
read-only to users (MetadataReadOnly). Names arrive validated and lower-cased.
"""

from __future__ import annotations

from collections.abc import Sequence

from posthouse.store.errors import MetadataReadOnly, MetadataTooMany, NoSuchMailbox
from posthouse.store.events import SERVER_WIDE, MetadataChanged
from posthouse.store.postgres.pool import Tx

SERVER = 0  # the mailbox_id of server entries
_UPSERT = ("INSERT INTO metadata (user_id, mailbox_id, name, value) VALUES (%s, %s, %s, %s)"
           " ON CONFLICT (user_id, mailbox_id, name) DO UPDATE SET value = excluded.value")


def _owner(user_id: int, mailbox_id: int, name: str) -> int:
    shared = name == "/shared" or name.startswith("/shared/")
    return 0 if mailbox_id == SERVER and shared else user_id


async def _check_mailbox(tx: Tx, user_id: int, mailbox_id: int) -> None:
    if mailbox_id != SERVER and await tx.one(
        "SELECT 1 FROM mailboxes WHERE id = %s AND user_id = %s", (mailbox_id, user_id)
    ) is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def get_metadata(tx: Tx, user_id: int, mailbox_id: int, names: Sequence[str],
                       depth: int | None) -> list[tuple[str, bytes]]:
    """The entries named and, by ``depth``, those below them; sorted by name."""
    await _check_mailbox(tx, user_id, mailbox_id)
    found: dict[str, bytes] = {}
    for name in names:
        owner = _owner(user_id, mailbox_id, name)
        if depth == 0:
            rows = await tx.all("SELECT name, value FROM metadata WHERE user_id = %s"
                                " AND mailbox_id = %s AND name = %s", (owner, mailbox_id, name))
        else:
            rows = await tx.all("SELECT name, value FROM metadata WHERE user_id = %s"
                                " AND mailbox_id = %s AND (name = %s OR name LIKE %s)",
                                (owner, mailbox_id, name, _escape_like(name) + "/%"))
        base = name.count("/")
        for entry, value in rows:
            if depth is None or entry.count("/") - base <= depth:
                found[entry] = bytes(value)
    return sorted(found.items())


async def set_metadata(tx: Tx, user_id: int, mailbox_id: int,
                       entries: Sequence[tuple[str, bytes | None]], *, max_entries: int,
                       origin: object | None = None) -> None:
    """Set (None: delete) every entry, all or none (RFC 5464 4.3)."""
    await _check_mailbox(tx, user_id, mailbox_id)
    for name, _ in entries:
        if _owner(user_id, mailbox_id, name) != user_id:
            raise MetadataReadOnly(f"{name} is a server entry")
    await tx.one("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (user_id,))  # count races
    before = await _count(tx, user_id)
    for name, value in entries:
        if value is None:
            await tx.run("DELETE FROM metadata WHERE user_id = %s AND mailbox_id = %s"
                         " AND name = %s", (user_id, mailbox_id, name))
        else:
            await tx.run(_UPSERT, (user_id, mailbox_id, name, value))
    after = await _count(tx, user_id)
    if after > max_entries and after > before:
        raise MetadataTooMany(f"more than {max_entries} metadata entries")
    names = tuple(dict.fromkeys(name for name, _ in entries))
    tx.events.append(MetadataChanged(user_id, mailbox_id, names, origin))


async def _count(tx: Tx, user_id: int) -> int:
    row = await tx.one("SELECT count(*) FROM metadata WHERE user_id = %s", (user_id,))
    return int(row[0]) if row else 0


async def set_server_metadata(tx: Tx, name: str, value: bytes | None) -> None:
    """The operator's write of a server /shared/ entry (None: delete)."""
    if value is None:
        await tx.run("DELETE FROM metadata WHERE user_id = 0 AND mailbox_id = 0 AND name = %s",
                     (name,))
    else:
        await tx.run(_UPSERT, (0, 0, name, value))
    tx.events.append(MetadataChanged(SERVER_WIDE, SERVER, (name,)))


async def copy_mailbox_metadata(tx: Tx, source: int, target: int) -> None:
    """RENAME INBOX: the new mailbox gets a copy of INBOX's entries (RFC 5464 4.1)."""
    await tx.run("INSERT INTO metadata (user_id, mailbox_id, name, value)"
                 " SELECT user_id, %s, name, value FROM metadata WHERE mailbox_id = %s",
                 (target, source))


async def drop_mailbox_metadata(tx: Tx, mailbox_id: int) -> None:
    """A deleted mailbox's entries go with it."""
    await tx.run("DELETE FROM metadata WHERE mailbox_id = %s", (mailbox_id,))


async def drop_user_metadata(tx: Tx, user_id: int) -> None:
    """A removed user's entries go with them (never the server's)."""
    if user_id != 0:
        await tx.run("DELETE FROM metadata WHERE user_id = %s", (user_id,))
