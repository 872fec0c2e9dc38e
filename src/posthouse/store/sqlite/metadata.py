"""METADATA entries (RFC 5464) of mailboxes and of the server: read, set, delete.

Owns the ``metadata`` table (schema v6). Names arrive validated and lower-cased (the IMAP
parser's job); this module only stores them. mailbox_id 0 means the server; the server's
/shared/ entries belong to user 0 and are read-only here (MetadataReadOnly).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from posthouse.store.errors import MetadataReadOnly, MetadataTooMany, NoSuchMailbox
from posthouse.store.events import SERVER_WIDE, MetadataChanged
from posthouse.store.sqlite.writer import WriteContext

SERVER = 0  # the mailbox_id of server entries


def _owner(user_id: int, mailbox_id: int, name: str) -> int:
    """Whose entry this is: the server's /shared/ entries are nobody's (user 0)."""
    shared = name == "/shared" or name.startswith("/shared/")
    return 0 if mailbox_id == SERVER and shared else user_id


def _check_mailbox(conn: sqlite3.Connection, user_id: int, mailbox_id: int) -> None:
    if mailbox_id == SERVER:
        return
    row = conn.execute("SELECT 1 FROM mailboxes WHERE id = ? AND user_id = ?",
                       (mailbox_id, user_id)).fetchone()
    if row is None:
        raise NoSuchMailbox(f"no mailbox with id {mailbox_id}")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_metadata(
    conn: sqlite3.Connection, user_id: int, mailbox_id: int, names: Sequence[str],
    depth: int | None,
) -> list[tuple[str, bytes]]:
    """The entries named and, by ``depth`` (0, 1, None for infinity), those below them;
    sorted by name, each once."""
    _check_mailbox(conn, user_id, mailbox_id)
    found: dict[str, bytes] = {}
    for name in names:
        owner = _owner(user_id, mailbox_id, name)
        if depth == 0:
            rows = conn.execute(
                "SELECT name, value FROM metadata WHERE user_id = ? AND mailbox_id = ?"
                " AND name = ?", (owner, mailbox_id, name)).fetchall()
        else:
            rows = conn.execute(
                "SELECT name, value FROM metadata WHERE user_id = ? AND mailbox_id = ?"
                " AND (name = ? OR name LIKE ? ESCAPE '\\')",
                (owner, mailbox_id, name, _escape_like(name) + "/%")).fetchall()
        base = name.count("/")
        for entry, value in rows:
            if depth is None or entry.count("/") - base <= depth:
                found[entry] = bytes(value)
    return sorted(found.items())


def set_metadata(
    ctx: WriteContext, user_id: int, mailbox_id: int,
    entries: Sequence[tuple[str, bytes | None]], *, max_entries: int,
    origin: object | None = None,
) -> None:
    """Set (None: delete) every entry, all or none (RFC 5464 4.3); MetadataTooMany when the
    user would own more than ``max_entries``. Publishes a MetadataChanged."""
    conn = ctx.conn
    _check_mailbox(conn, user_id, mailbox_id)
    for name, _ in entries:
        if _owner(user_id, mailbox_id, name) != user_id:
            raise MetadataReadOnly(f"{name} is a server entry")
    before = _count(conn, user_id)
    for name, value in entries:
        if value is None:
            conn.execute("DELETE FROM metadata WHERE user_id = ? AND mailbox_id = ? AND name = ?",
                         (user_id, mailbox_id, name))
        else:
            conn.execute("INSERT OR REPLACE INTO metadata (user_id, mailbox_id, name, value)"
                         " VALUES (?, ?, ?, ?)", (user_id, mailbox_id, name, value))
    after = _count(conn, user_id)
    if after > max_entries and after > before:  # deleting is always allowed
        raise MetadataTooMany(f"more than {max_entries} metadata entries")
    names = tuple(dict.fromkeys(name for name, _ in entries))
    ctx.events.append(MetadataChanged(user_id, mailbox_id, names, origin))


def _count(conn: sqlite3.Connection, user_id: int) -> int:
    return int(conn.execute("SELECT count(*) FROM metadata WHERE user_id = ?",
                            (user_id,)).fetchone()[0])


def set_server_metadata(ctx: WriteContext, name: str, value: bytes | None) -> None:
    """The operator's write of a server /shared/ entry (None: delete)."""
    if value is None:
        ctx.conn.execute("DELETE FROM metadata WHERE user_id = 0 AND mailbox_id = 0"
                         " AND name = ?", (name,))
    else:
        ctx.conn.execute("INSERT OR REPLACE INTO metadata (user_id, mailbox_id, name, value)"
                         " VALUES (0, 0, ?, ?)", (name, value))
    ctx.events.append(MetadataChanged(SERVER_WIDE, SERVER, (name,)))


def copy_mailbox_metadata(ctx: WriteContext, source: int, target: int) -> None:
    """RENAME INBOX: the new mailbox gets a copy of INBOX's entries (RFC 5464 4.1)."""
    ctx.conn.execute("INSERT INTO metadata (user_id, mailbox_id, name, value)"
                     " SELECT user_id, ?, name, value FROM metadata WHERE mailbox_id = ?",
                     (target, source))


def drop_mailbox_metadata(ctx: WriteContext, mailbox_id: int) -> None:
    """A deleted mailbox's entries go with it."""
    ctx.conn.execute("DELETE FROM metadata WHERE mailbox_id = ?", (mailbox_id,))


def drop_user_metadata(ctx: WriteContext, user_id: int) -> None:
    """A removed user's entries go with them (never the server's)."""
    if user_id != 0:
        ctx.conn.execute("DELETE FROM metadata WHERE user_id = ?", (user_id,))
