"""The administrative operations, one function each, shared by the CLI and the web admin.

Each takes the store (and the hasher or config it needs), checks and normalizes its input
the way mail lookups expect it (domains as lower-case A-labels, addresses canonical), and
raises ``AdminError`` with one line for the operator when the input is not acceptable. Store
failures (``NotFound``, ``AlreadyExists``) pass through. Never prints, never opens a store.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from posthouse.auth.passwords import PasswordHasher, scram_secrets_for
from posthouse.config import Config, dkim_key_path
from posthouse.dns.idn import canonical_address, canonical_domain, to_alabel
from posthouse.imap.parser.metadata import check_entry
from posthouse.imap.replies import ParseError
from posthouse.mailauth.dkim import ED25519_SUFFIX, DkimKeyError, ed25519_public_record, load_keys
from posthouse.message.address import split_address
from posthouse.provision import (
    dkim_public_record,
    dns_records,
    ensure_dkim_key,
    transport_security_records,
)
from posthouse.store.api import Store
from posthouse.store.models import Alias, QueuedMessage, User

MIB = 1024 * 1024
MIN_PASSWORD = 8
QUEUE_ACTIONS = ("retry", "delete", "hold", "release")
SCRAM_NOTE = "this password cannot be used with SCRAM-SHA-256 (SASLprep refuses it)"


class AdminError(Exception):
    """Input an operation refuses; the message is one line for the operator."""


# --- input --------------------------------------------------------------------------------


def domain_name(text: str) -> str:
    """The domain as stored: lower-case A-labels (IDNA 2008), so mail to either form of an
    internationalized domain finds it."""
    try:
        return to_alabel(text.strip())
    except ValueError as exc:
        raise AdminError(str(exc)) from None


def address(text: str) -> str:
    """An address (local@domain) in the canonical form of the router's lookups."""
    text = text.strip()
    local, domain = split_address(text)
    if not local or not domain or text.startswith("@"):
        raise AdminError(f"'{text}' is not an address (local@domain)")
    try:
        return canonical_address(text)
    except ValueError as exc:
        raise AdminError(str(exc)) from None


def check_new_password(password: str) -> str:
    """A new password as given, or AdminError when it is too short."""
    if len(password) < MIN_PASSWORD:
        raise AdminError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


async def password_secrets(hasher: PasswordHasher, password: str) -> tuple[str, str | None]:
    """The argon2 hash and the SCRAM-SHA-256 secrets of a new password (None when SASLprep
    refuses it: SCRAM_NOTE); both computed in a worker thread."""
    check_new_password(password)
    pw_hash = await asyncio.to_thread(hasher.hash, password)
    return pw_hash, await asyncio.to_thread(scram_secrets_for, password)


# --- domains ------------------------------------------------------------------------------


async def add_domain(store: Store, text: str) -> str:
    """Make a domain local; returns its stored name."""
    name = domain_name(text)
    await store.add_domain(name)
    return name


async def remove_domain(store: Store, text: str) -> str:
    """Remove a domain with its users, aliases and mail; returns its name."""
    name = domain_name(text)
    await store.remove_domain(name)
    return name


def domain_dns_records(cfg: Config, domain: str) -> list[str]:
    """What ``posthouse dns DOMAIN`` prints: the records to publish (zone-file lines) and
    the comments that go with them (lines starting with ";"). Makes the DKIM key if none."""
    domain = domain_name(domain)
    key = dkim_key_path(cfg)
    ensure_dkim_key(key)
    lines = dns_records(domain=domain, hostname=cfg.server.hostname,
                        selector=cfg.dkim.selector, dkim_record=dkim_public_record(key))
    try:
        keys = load_keys(cfg)
    except DkimKeyError as exc:
        raise AdminError(str(exc)) from None
    if keys is not None and keys.ed25519 is not None:  # RFC 8463: a second selector
        lines.append(f"{cfg.dkim.selector}{ED25519_SUFFIX}._domainkey.{domain}. TXT "
                     f'"{ed25519_public_record(keys.ed25519)}"')
    lines += transport_security_records(domain=domain, hostname=cfg.server.hostname,
                                        mode=cfg.http.mta_sts_mode,
                                        max_age=cfg.http.mta_sts_max_age)
    return lines


# --- accounts -----------------------------------------------------------------------------


async def add_user(store: Store, hasher: PasswordHasher, text: str, password: str, *,
                   quota_mib: int = 0, admin: bool = False) -> tuple[User, bool]:
    """Create an account (its domain must be local); returns it and whether the password
    can be used with SCRAM-SHA-256."""
    addr = address(text)
    if quota_mib < 0:
        raise AdminError("the quota cannot be negative")
    pw_hash, scram = await password_secrets(hasher, password)
    user = await store.add_user(addr, pw_hash, quota_bytes=quota_mib * MIB, scram_secrets=scram)
    if admin:
        user = await store.set_user_options(addr, role="admin")
    return user, scram is not None


async def set_password(store: Store, hasher: PasswordHasher, text: str,
                       password: str) -> tuple[str, bool]:
    """Replace an account's password (and its SCRAM secrets); returns the address and
    whether the password can be used with SCRAM-SHA-256."""
    addr = address(text)
    pw_hash, scram = await password_secrets(hasher, password)
    await store.set_password(addr, pw_hash, scram_secrets=scram)
    return addr, scram is not None


async def set_user_options(store: Store, text: str, *, quota_mib: int | None = None,
                           pop3_keep: bool | None = None, role: str | None = None,
                           disabled: bool | None = None) -> User:
    """Change an account's quota (MiB, 0: none), POP3 keep, role and disabled flag; None
    leaves an option as it is."""
    if quota_mib is not None and quota_mib < 0:
        raise AdminError("the quota cannot be negative")
    return await store.set_user_options(
        address(text), quota_bytes=None if quota_mib is None else quota_mib * MIB,
        pop3_keep=pop3_keep, role=role, disabled=disabled)


async def remove_user(store: Store, text: str) -> str:
    """Delete an account and all its mail; returns its address."""
    addr = address(text)
    await store.remove_user(addr)
    return addr


@dataclass(frozen=True)
class AccountRow:
    """An account with its usage, as the lists show it."""

    user: User
    used_bytes: int
    messages: int


async def account(store: Store, text: str) -> AccountRow:
    """One account with its usage, or AdminError."""
    user = await store.get_user(address(text))
    if user is None:
        raise AdminError(f"no account {text.strip()}")
    used, count = await store.quota_usage(user.id)
    return AccountRow(user, used, count)


async def list_accounts(store: Store, domain: str | None = None) -> list[AccountRow]:
    """Accounts (of one domain) with their usage, by address."""
    rows = []
    for u in await store.list_users(domain):
        used, count = await store.quota_usage(u.id)
        rows.append(AccountRow(u, used, count))
    return rows


# --- aliases ------------------------------------------------------------------------------


async def add_alias(store: Store, text: str, targets: list[str]) -> tuple[str, list[str]]:
    """Create or replace an alias; returns its address and targets."""
    addr = address(text)
    checked = [address(t) for t in targets if t.strip()]
    if not checked:
        raise AdminError("an alias needs at least one target")
    await store.add_alias(addr, checked)
    return addr, checked


async def remove_alias(store: Store, text: str) -> str:
    """Remove an alias; returns its address."""
    addr = address(text)
    await store.remove_alias(addr)
    return addr


async def set_catchall(store: Store, domain: str, target: str | None) -> tuple[str, str | None]:
    """Set (or with None or "" clear) where mail for a domain's unknown users goes."""
    checked = address(target) if target and target.strip() else None
    name = canonical_domain(domain.strip())
    await store.set_catchall(name, checked)
    return name, checked


async def list_aliases(store: Store,
                       domain: str | None = None) -> tuple[list[Alias], list[tuple[str, str]]]:
    """The aliases (of one domain) and the catch-alls as (domain, target)."""
    aliases = await store.list_aliases(domain)
    catchalls = []
    for d in await store.list_domains():
        if domain in (None, d) and (target := await store.get_catchall(d)):
            catchalls.append((d, target))
    return aliases, catchalls


# --- the outbound queue -------------------------------------------------------------------


def pending_recipients(q: QueuedMessage) -> list[str]:
    """The recipients still waiting for delivery."""
    return [r.address for r in q.recipients if r.state.value == "pending"]


async def queued(store: Store, queue_id: int) -> QueuedMessage:
    """One queued message, or AdminError."""
    q = await store.get_queued(queue_id)
    if q is None:
        raise AdminError(f"no queued message {queue_id}")
    return q


async def queue_action(store: Store, queue_id: int, action: str, now: datetime) -> str:
    """Retry now, delete (no bounce), hold or release a queued message; returns what was
    done, in words. A running server's worker must be woken after a retry."""
    if action not in QUEUE_ACTIONS:
        raise AdminError(f"unknown queue action {action!r}")
    q = await queued(store, queue_id)
    if action == "retry":
        await store.reschedule(q.id, now, error=q.last_error, count_attempt=False)
        return f"{q.id} scheduled now"
    if action == "delete":
        await store.remove_queued(q.id)
        return f"{q.id} deleted"
    await store.set_held(q.id, action == "hold")
    return f"{q.id} {'held' if action == 'hold' else 'released'}"


# --- the server's IMAP METADATA entries (RFC 5464 3.2) -------------------------------------

SERVER_OWNER = 0  # the store's mailbox_id and owner of the server's /shared/ entries


def server_entry_name(text: str) -> str:
    """A server entry name an operator may set: /shared/..., not /shared/admin (always the
    postmaster of [server] default_domain)."""
    try:
        name = check_entry(text.strip().encode("utf-8", "replace"), to_set=True)
    except ParseError as exc:
        raise AdminError(str(exc)) from None
    if not name.startswith("/shared/"):
        raise AdminError("server entries set here are /shared/ ones; /private/ are each user's")
    if name == "/shared/admin":
        raise AdminError("/shared/admin is always the postmaster of [server] default_domain")
    return name


async def set_server_entry(store: Store, text: str, value: str | None) -> str:
    """Set (None: delete) a server /shared/ entry every IMAP user can read; returns what
    was done, in words."""
    name = server_entry_name(text)
    data = None if value is None else value.encode("utf-8")
    await store.set_server_metadata(name, data)
    return f"{name} {'deleted' if data is None else 'set'}"


async def server_entries(store: Store) -> list[tuple[str, str]]:
    """The stored server /shared/ entries as (name, text)."""
    found = await store.get_metadata(SERVER_OWNER, SERVER_OWNER, ["/shared"], depth=None)
    return [(name, value.decode("utf-8", "replace")) for name, value in found]


# --- figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreFigures:
    """What ``posthouse status`` and the status page show of the store and queue."""

    domains: list[str]
    users: int
    messages: int
    message_bytes: int
    queued: int
    pending_recipients: int
    held: int


async def store_figures(store: Store) -> StoreFigures:
    """Domains, accounts, stored mail and the queue, counted now."""
    domains = await store.list_domains()
    accounts = await list_accounts(store)
    queue = await store.list_queue()
    return StoreFigures(
        domains=domains, users=len(accounts),
        messages=sum(a.messages for a in accounts),
        message_bytes=sum(a.used_bytes for a in accounts),
        queued=len(queue), pending_recipients=sum(len(pending_recipients(q)) for q in queue),
        held=sum(1 for q in queue if q.held))
