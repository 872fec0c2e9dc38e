"""Domains, users, aliases and catch-alls. Addresses are lower-cased on the way in."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from posthouse.message.address import split_address
from posthouse.store.errors import AlreadyExists, NotFound, StoreError
from posthouse.store.events import MailboxListChanged
from posthouse.store.models import DEFAULT_MAILBOXES, ROLES, Alias, User
from posthouse.store.sqlite import mailboxes, metadata
from posthouse.store.sqlite.writer import WriteContext

_SELECT_USER = (
    "SELECT id, address, password_hash, quota_bytes, pop3_keep, scram_secrets, role, disabled"
    " FROM users"
)


def normalize_address(address: str) -> str:
    """Addresses match case-insensitively; they are stored lower-cased."""
    return address.strip().lower()


def _domain_column(address: str) -> str:
    """The domain of a normalized address; "" without a local part or "@" (no such domain
    exists, so _require_domain refuses the address)."""
    local, domain = split_address(address)
    return domain if local else ""


def _user(row: Sequence[Any]) -> User:
    return User(
        id=row[0], address=row[1], password_hash=row[2], quota_bytes=row[3],
        pop3_keep=bool(row[4]), scram_secrets=row[5], role=row[6], disabled=bool(row[7]),
    )


def _require_domain(conn: sqlite3.Connection, domain: str) -> None:
    if not domain or conn.execute(
        "SELECT 1 FROM domains WHERE name = ?", (domain,)
    ).fetchone() is None:
        raise NotFound(f"no local domain {domain!r}")


def _user_id(conn: sqlite3.Connection, address: str) -> int:
    row = conn.execute(
        "SELECT id FROM users WHERE address = ?", (normalize_address(address),)
    ).fetchone()
    if row is None:
        raise NotFound(f"no user {address!r}")
    return int(row[0])


# --- domains ----------------------------------------------------------------------------------


def add_domain(ctx: WriteContext, name: str) -> None:
    """Add a local domain (AlreadyExists)."""
    name = normalize_address(name)
    if not name or "@" in name:
        raise StoreError(f"invalid domain name {name!r}")
    cur = ctx.conn.execute(
        "INSERT INTO domains (name) VALUES (?) ON CONFLICT DO NOTHING", (name,)
    )
    if not cur.rowcount:
        raise AlreadyExists(f"domain {name!r} exists")


def remove_domain(ctx: WriteContext, name: str) -> None:
    """Remove a domain, its users (with their mail) and its aliases (NotFound)."""
    name = normalize_address(name)
    _require_domain(ctx.conn, name)
    users = ctx.conn.execute("SELECT id FROM users WHERE domain = ?", (name,)).fetchall()
    for (user_id,) in users:
        _remove_user_id(ctx, user_id)
    ctx.conn.execute("DELETE FROM aliases WHERE domain = ?", (name,))
    ctx.conn.execute("DELETE FROM domains WHERE name = ?", (name,))


def list_domains(conn: sqlite3.Connection) -> list[str]:
    """All domains, sorted."""
    return [row[0] for row in conn.execute("SELECT name FROM domains ORDER BY name")]


def is_local_domain(conn: sqlite3.Connection, name: str) -> bool:
    """Whether a domain is ours."""
    row = conn.execute(
        "SELECT 1 FROM domains WHERE name = ?", (normalize_address(name),)
    ).fetchone()
    return row is not None


# --- users ------------------------------------------------------------------------------------


def add_user(
    ctx: WriteContext, address: str, password_hash: str, *, quota_bytes: int,
    scram_secrets: str | None,
) -> User:
    """Create a user with the default mailboxes, all subscribed."""
    address = normalize_address(address)
    _require_domain(ctx.conn, _domain_column(address))
    row = ctx.conn.execute(
        "INSERT INTO users (address, domain, password_hash, quota_bytes, scram_secrets)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (address) DO NOTHING RETURNING id",
        (address, _domain_column(address), password_hash, quota_bytes, scram_secrets),
    ).fetchone()
    if row is None:
        raise AlreadyExists(f"user {address!r} exists")
    user_id = int(row[0])
    for name, special_use in DEFAULT_MAILBOXES:
        mailboxes.insert_mailbox(ctx, user_id, name, special_use=special_use)
        mailboxes.subscribe(ctx, user_id, name)
    return User(user_id, address, password_hash, quota_bytes, False, scram_secrets)


def get_user(conn: sqlite3.Connection, address: str) -> User | None:
    """A user by address, or None."""
    row = conn.execute(
        f"{_SELECT_USER} WHERE address = ?", (normalize_address(address),)
    ).fetchone()
    return _user(row) if row else None


def get_user_by_id(conn: sqlite3.Connection, user_id: int) -> User | None:
    """A user by id, or None."""
    row = conn.execute(f"{_SELECT_USER} WHERE id = ?", (user_id,)).fetchone()
    return _user(row) if row else None


def list_users(conn: sqlite3.Connection, domain: str | None) -> list[User]:
    """Users (of one domain), sorted by address."""
    if domain is None:
        rows = conn.execute(f"{_SELECT_USER} ORDER BY address")
    else:
        rows = conn.execute(
            f"{_SELECT_USER} WHERE domain = ? ORDER BY address",
            (normalize_address(domain),),
        )
    return [_user(row) for row in rows]


def set_password(
    ctx: WriteContext, address: str, password_hash: str, *, scram_secrets: str | None
) -> None:
    """Replace a password hash and the SCRAM secrets that go with it (NotFound)."""
    user_id = _user_id(ctx.conn, address)
    ctx.conn.execute(
        "UPDATE users SET password_hash = ?, scram_secrets = ? WHERE id = ?",
        (password_hash, scram_secrets, user_id),
    )


def fill_scram_secrets(
    ctx: WriteContext, user_id: int, scram_secrets: str, *, password_hash: str
) -> bool:
    """Store SCRAM secrets for an account that has none, if its password is still the one
    they were derived from; False if not (changed meanwhile, already filled, or gone)."""
    cur = ctx.conn.execute(
        "UPDATE users SET scram_secrets = ?"
        " WHERE id = ? AND scram_secrets IS NULL AND password_hash = ?",
        (scram_secrets, user_id, password_hash),
    )
    return bool(cur.rowcount)


def set_user_options(
    ctx: WriteContext, address: str, *, quota_bytes: int | None, pop3_keep: bool | None,
    role: str | None = None, disabled: bool | None = None,
) -> User:
    """Change quota, POP3 behaviour, role and the disabled flag; None keeps a value."""
    if role is not None and role not in ROLES:
        raise StoreError(f"unknown role {role!r}")
    user_id = _user_id(ctx.conn, address)
    ctx.conn.execute(
        "UPDATE users SET quota_bytes = coalesce(?, quota_bytes),"
        " pop3_keep = coalesce(?, pop3_keep), role = coalesce(?, role),"
        " disabled = coalesce(?, disabled) WHERE id = ?",
        (quota_bytes, None if pop3_keep is None else int(pop3_keep), role,
         None if disabled is None else int(disabled), user_id),
    )
    user = get_user_by_id(ctx.conn, user_id)
    assert user is not None
    return user


def remove_user(ctx: WriteContext, address: str) -> None:
    """Remove a user with all their mail (NotFound)."""
    _remove_user_id(ctx, _user_id(ctx.conn, address))


def _remove_user_id(ctx: WriteContext, user_id: int) -> None:
    conn = ctx.conn
    address = conn.execute("SELECT address FROM users WHERE id = ?", (user_id,)).fetchone()[0]
    for (mailbox_id,) in conn.execute(
        "SELECT id FROM mailboxes WHERE user_id = ?", (user_id,)
    ).fetchall():
        mailboxes.drop_mailbox(ctx, mailbox_id)
    conn.execute("DELETE FROM subscriptions WHERE user_id = ?", (user_id,))
    metadata.drop_user_metadata(ctx, user_id)
    _forget_target(ctx, address)
    conn.execute("UPDATE queue SET sender_user_id = NULL WHERE sender_user_id = ?", (user_id,))
    conn.execute("DELETE FROM users WHERE id = ?", (user_id,))
    ctx.events.append(MailboxListChanged(user_id))


def _forget_target(ctx: WriteContext, address: str) -> None:
    """Take a removed user out of alias targets and catch-alls."""
    conn = ctx.conn
    rows = conn.execute(
        "SELECT address, targets FROM aliases WHERE EXISTS"
        " (SELECT 1 FROM json_each(aliases.targets) WHERE value = ?)",
        (address,),
    ).fetchall()
    for alias, targets_json in rows:
        targets = [t for t in json.loads(targets_json) if t != address]
        if targets:
            conn.execute(
                "UPDATE aliases SET targets = ? WHERE address = ?", (json.dumps(targets), alias)
            )
        else:
            conn.execute("DELETE FROM aliases WHERE address = ?", (alias,))
    conn.execute("UPDATE domains SET catchall = NULL WHERE catchall = ?", (address,))


# --- aliases and catch-alls ------------------------------------------------------------------


def add_alias(ctx: WriteContext, address: str, targets: Sequence[str]) -> None:
    """Create or replace an alias of a local domain."""
    address = normalize_address(address)
    domain = _domain_column(address)
    _require_domain(ctx.conn, domain)
    clean = [normalize_address(t) for t in targets]
    ctx.conn.execute(
        "INSERT INTO aliases (address, domain, targets) VALUES (?, ?, ?)"
        " ON CONFLICT (address) DO UPDATE SET targets = excluded.targets",
        (address, domain, json.dumps(clean)),
    )


def get_alias(conn: sqlite3.Connection, address: str) -> Alias | None:
    """An alias, or None."""
    row = conn.execute(
        "SELECT address, targets FROM aliases WHERE address = ?", (normalize_address(address),)
    ).fetchone()
    return Alias(row[0], tuple(json.loads(row[1]))) if row else None


def list_aliases(conn: sqlite3.Connection, domain: str | None) -> list[Alias]:
    """Aliases (of one domain), sorted by address."""
    if domain is None:
        rows = conn.execute("SELECT address, targets FROM aliases ORDER BY address")
    else:
        rows = conn.execute(
            "SELECT address, targets FROM aliases WHERE domain = ? ORDER BY address",
            (normalize_address(domain),),
        )
    return [Alias(row[0], tuple(json.loads(row[1]))) for row in rows]


def remove_alias(ctx: WriteContext, address: str) -> None:
    """Remove an alias (NotFound)."""
    cur = ctx.conn.execute(
        "DELETE FROM aliases WHERE address = ?", (normalize_address(address),)
    )
    if not cur.rowcount:
        raise NotFound(f"no alias {address!r}")


def set_catchall(ctx: WriteContext, domain: str, target: str | None) -> None:
    """Set or clear a domain's catch-all target."""
    domain = normalize_address(domain)
    _require_domain(ctx.conn, domain)
    value = normalize_address(target) if target is not None else None
    ctx.conn.execute("UPDATE domains SET catchall = ? WHERE name = ?", (value, domain))


def get_catchall(conn: sqlite3.Connection, domain: str) -> str | None:
    """A domain's catch-all target, or None."""
    row = conn.execute(
        "SELECT catchall FROM domains WHERE name = ?", (normalize_address(domain),)
    ).fetchone()
    return row[0] if row else None
