"""Domains, users, aliases and catch-alls on PostgreSQL. Addresses are lower-cased."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from posthouse.message.address import split_address
from posthouse.store.errors import AlreadyExists, NotFound, StoreError
from posthouse.store.events import MailboxListChanged
from posthouse.store.models import DEFAULT_MAILBOXES, ROLES, Alias, User
from posthouse.store.postgres import mailboxes, metadata
from posthouse.store.postgres.pool import Tx

_SELECT_USER = (
    "SELECT id, address, password_hash, quota_bytes, pop3_keep, scram_secrets, role, disabled"
    " FROM users"
)


def normalize_address(address: str) -> str:
    """Addresses match case-insensitively; they are stored lower-cased."""
    return address.strip().lower()


def _domain_column(address: str) -> str:
    local, domain = split_address(address)
    return domain if local else ""


def _user(row: Sequence[Any]) -> User:
    return User(id=row[0], address=row[1], password_hash=row[2], quota_bytes=row[3],
                pop3_keep=bool(row[4]), scram_secrets=row[5], role=row[6],
                disabled=bool(row[7]))


async def _require_domain(tx: Tx, domain: str) -> None:
    if not domain or await tx.one("SELECT 1 FROM domains WHERE name = %s", (domain,)) is None:
        raise NotFound(f"no local domain {domain!r}")


async def _user_id(tx: Tx, address: str) -> int:
    row = await tx.one("SELECT id FROM users WHERE address = %s", (normalize_address(address),))
    if row is None:
        raise NotFound(f"no user {address!r}")
    return int(row[0])


async def add_domain(tx: Tx, name: str) -> None:
    """Add a local domain (AlreadyExists)."""
    name = normalize_address(name)
    if not name or "@" in name:
        raise StoreError(f"invalid domain name {name!r}")
    if not await tx.run("INSERT INTO domains (name) VALUES (%s) ON CONFLICT DO NOTHING", (name,)):
        raise AlreadyExists(f"domain {name!r} exists")


async def remove_domain(tx: Tx, name: str) -> None:
    """Remove a domain, its users (with their mail) and its aliases (NotFound)."""
    name = normalize_address(name)
    await _require_domain(tx, name)
    for (user_id,) in await tx.all("SELECT id FROM users WHERE domain = %s ORDER BY id",
                                   (name,)):
        await _remove_user_id(tx, user_id)
    await tx.run("DELETE FROM aliases WHERE domain = %s", (name,))
    await tx.run("DELETE FROM domains WHERE name = %s", (name,))


async def list_domains(tx: Tx) -> list[str]:
    """All domains, sorted."""
    return [row[0] for row in await tx.all("SELECT name FROM domains ORDER BY name COLLATE \"C\"")]


async def is_local_domain(tx: Tx, name: str) -> bool:
    """Whether a domain is ours."""
    found = await tx.one("SELECT 1 FROM domains WHERE name = %s", (normalize_address(name),))
    return found is not None


async def add_user(tx: Tx, address: str, password_hash: str, *, quota_bytes: int,
                   scram_secrets: str | None) -> User:
    """Create a user with the default mailboxes, all subscribed."""
    address = normalize_address(address)
    domain = _domain_column(address)
    await _require_domain(tx, domain)
    row = await tx.one(
        "INSERT INTO users (address, domain, password_hash, quota_bytes, scram_secrets)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (address) DO NOTHING RETURNING id",
        (address, domain, password_hash, quota_bytes, scram_secrets))
    if row is None:
        raise AlreadyExists(f"user {address!r} exists")
    user_id = int(row[0])
    for name, special_use in DEFAULT_MAILBOXES:
        await mailboxes.insert_mailbox(tx, user_id, name, special_use=special_use)
        await mailboxes.subscribe(tx, user_id, name)
    return User(user_id, address, password_hash, quota_bytes, False, scram_secrets)


async def get_user(tx: Tx, address: str) -> User | None:
    """A user by address, or None."""
    row = await tx.one(f"{_SELECT_USER} WHERE address = %s", (normalize_address(address),))
    return _user(row) if row else None


async def get_user_by_id(tx: Tx, user_id: int) -> User | None:
    """A user by id, or None."""
    row = await tx.one(f"{_SELECT_USER} WHERE id = %s", (user_id,))
    return _user(row) if row else None


async def list_users(tx: Tx, domain: str | None) -> list[User]:
    """Users (of one domain), sorted by address."""
    if domain is None:
        rows = await tx.all(f"{_SELECT_USER} ORDER BY address COLLATE \"C\"")
    else:
        rows = await tx.all(f"{_SELECT_USER} WHERE domain = %s ORDER BY address COLLATE \"C\"",
                            (normalize_address(domain),))
    return [_user(row) for row in rows]


async def set_password(tx: Tx, address: str, password_hash: str, *,
                       scram_secrets: str | None) -> None:
    """Replace a password hash and its SCRAM secrets (NotFound)."""
    user_id = await _user_id(tx, address)
    await tx.run("UPDATE users SET password_hash = %s, scram_secrets = %s WHERE id = %s",
                 (password_hash, scram_secrets, user_id))


async def fill_scram_secrets(tx: Tx, user_id: int, scram_secrets: str, *,
                             password_hash: str) -> bool:
    """Store SCRAM secrets for an account that has none, while its password is unchanged."""
    return bool(await tx.run(
        "UPDATE users SET scram_secrets = %s"
        " WHERE id = %s AND scram_secrets IS NULL AND password_hash = %s",
        (scram_secrets, user_id, password_hash)))


async def set_user_options(tx: Tx, address: str, *, quota_bytes: int | None,
                           pop3_keep: bool | None, role: str | None = None,
                           disabled: bool | None = None) -> User:
    """Change quota, POP3 behaviour, role and the disabled flag; None keeps a value."""
    if role is not None and role not in ROLES:
        raise StoreError(f"unknown role {role!r}")
    user_id = await _user_id(tx, address)
    await tx.run("UPDATE users SET quota_bytes = coalesce(%s, quota_bytes),"
                 " pop3_keep = coalesce(%s, pop3_keep), role = coalesce(%s, role),"
                 " disabled = coalesce(%s, disabled) WHERE id = %s",
                 (quota_bytes, pop3_keep, role, disabled, user_id))
    user = await get_user_by_id(tx, user_id)
    assert user is not None
    return user


async def remove_user(tx: Tx, address: str) -> None:
    """Remove a user with all their mail (NotFound)."""
    await _remove_user_id(tx, await _user_id(tx, address))


async def _remove_user_id(tx: Tx, user_id: int) -> None:
    row = await tx.one("SELECT address FROM users WHERE id = %s FOR UPDATE", (user_id,))
    assert row is not None
    address = row[0]
    for (mailbox_id,) in await tx.all("SELECT id FROM mailboxes WHERE user_id = %s ORDER BY id",
                                      (user_id,)):
        await mailboxes.drop_mailbox(tx, mailbox_id)
    await tx.run("DELETE FROM subscriptions WHERE user_id = %s", (user_id,))
    await metadata.drop_user_metadata(tx, user_id)
    await _forget_target(tx, address)
    await tx.run("UPDATE queue SET sender_user_id = NULL WHERE sender_user_id = %s", (user_id,))
    await tx.run("DELETE FROM users WHERE id = %s", (user_id,))
    tx.events.append(MailboxListChanged(user_id))


async def _forget_target(tx: Tx, address: str) -> None:
    """Take a removed user out of alias targets and catch-alls."""
    await tx.run("UPDATE aliases SET targets = array_remove(targets, %s)"
                 " WHERE %s = ANY (targets)", (address, address))
    await tx.run("DELETE FROM aliases WHERE cardinality(targets) = 0")
    await tx.run("UPDATE domains SET catchall = NULL WHERE catchall = %s", (address,))


async def add_alias(tx: Tx, address: str, targets: Sequence[str]) -> None:
    """Create or replace an alias of a local domain."""
    address = normalize_address(address)
    domain = _domain_column(address)
    await _require_domain(tx, domain)
    clean = [normalize_address(t) for t in targets]
    await tx.run("INSERT INTO aliases (address, domain, targets) VALUES (%s, %s, %s)"
                 " ON CONFLICT (address) DO UPDATE SET targets = excluded.targets",
                 (address, domain, clean))


async def get_alias(tx: Tx, address: str) -> Alias | None:
    """An alias, or None."""
    row = await tx.one("SELECT address, targets FROM aliases WHERE address = %s",
                       (normalize_address(address),))
    return Alias(row[0], tuple(row[1])) if row else None


async def list_aliases(tx: Tx, domain: str | None) -> list[Alias]:
    """Aliases (of one domain), sorted by address."""
    if domain is None:
        rows = await tx.all("SELECT address, targets FROM aliases ORDER BY address COLLATE \"C\"")
    else:
        rows = await tx.all("SELECT address, targets FROM aliases WHERE domain = %s"
                            " ORDER BY address COLLATE \"C\"", (normalize_address(domain),))
    return [Alias(row[0], tuple(row[1])) for row in rows]


async def remove_alias(tx: Tx, address: str) -> None:
    """Remove an alias (NotFound)."""
    if not await tx.run("DELETE FROM aliases WHERE address = %s", (normalize_address(address),)):
        raise NotFound(f"no alias {address!r}")


async def set_catchall(tx: Tx, domain: str, target: str | None) -> None:
    """Set or clear a domain's catch-all target."""
    domain = normalize_address(domain)
    await _require_domain(tx, domain)
    value = normalize_address(target) if target is not None else None
    await tx.run("UPDATE domains SET catchall = %s WHERE name = %s", (value, domain))


async def get_catchall(tx: Tx, domain: str) -> str | None:
    """A domain's catch-all target, or None."""
    row = await tx.one("SELECT catchall FROM domains WHERE name = %s",
                       (normalize_address(domain),))
    return row[0] if row else None
