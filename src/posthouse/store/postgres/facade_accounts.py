"""The accounts part of PostgresStore's async facade."""

from __future__ import annotations

from collections.abc import Sequence

from posthouse.store.models import Alias, User
from posthouse.store.postgres import accounts
from posthouse.store.postgres.core import PgCore


class PgAccountsFacade(PgCore):
    """Domains, users, aliases and catch-alls."""

    async def add_domain(self, name: str) -> None:
        """Add a local domain (AlreadyExists)."""
        await self._write(lambda tx: accounts.add_domain(tx, name))

    async def remove_domain(self, name: str) -> None:
        """Remove a domain with its users and aliases (NotFound)."""
        await self._write(lambda tx: accounts.remove_domain(tx, name))

    async def list_domains(self) -> list[str]:
        """All local domains, sorted."""
        return await self._read(accounts.list_domains)

    async def is_local_domain(self, name: str) -> bool:
        """Whether mail for this domain is delivered here."""
        return await self._read(lambda tx: accounts.is_local_domain(tx, name))

    async def add_user(self, address: str, password_hash: str, *, quota_bytes: int = 0,
                       scram_secrets: str | None = None) -> User:
        """Create a user with the default mailboxes."""
        return await self._write(lambda tx: accounts.add_user(
            tx, address, password_hash, quota_bytes=quota_bytes, scram_secrets=scram_secrets))

    async def get_user(self, address: str) -> User | None:
        """The user with this address, or None."""
        return await self._read(lambda tx: accounts.get_user(tx, address))

    async def get_user_by_id(self, user_id: int) -> User | None:
        """The user with this id, or None."""
        return await self._read(lambda tx: accounts.get_user_by_id(tx, user_id))

    async def list_users(self, domain: str | None = None) -> list[User]:
        """Users, optionally of one domain, sorted by address."""
        return await self._read(lambda tx: accounts.list_users(tx, domain))

    async def set_password(self, address: str, password_hash: str, *,
                           scram_secrets: str | None = None) -> None:
        """Replace a password hash and its SCRAM secrets (NotFound)."""
        await self._write(lambda tx: accounts.set_password(
            tx, address, password_hash, scram_secrets=scram_secrets))

    async def fill_scram_secrets(self, user_id: int, scram_secrets: str, *,
                                 password_hash: str) -> bool:
        """Store SCRAM secrets for an account that has none (see the port)."""
        return await self._write(lambda tx: accounts.fill_scram_secrets(
            tx, user_id, scram_secrets, password_hash=password_hash))

    async def set_user_options(self, address: str, *, quota_bytes: int | None = None,
                               pop3_keep: bool | None = None, role: str | None = None,
                               disabled: bool | None = None) -> User:
        """Change per-account options (role, disabled: see the port); None keeps one."""
        return await self._write(lambda tx: accounts.set_user_options(
            tx, address, quota_bytes=quota_bytes, pop3_keep=pop3_keep, role=role,
            disabled=disabled))

    async def remove_user(self, address: str) -> None:
        """Remove a user and all their mail (NotFound)."""
        await self._write(lambda tx: accounts.remove_user(tx, address))

    async def add_alias(self, address: str, targets: Sequence[str]) -> None:
        """Create or replace an alias."""
        chosen = tuple(targets)
        await self._write(lambda tx: accounts.add_alias(tx, address, chosen))

    async def get_alias(self, address: str) -> Alias | None:
        """The alias with this address, or None."""
        return await self._read(lambda tx: accounts.get_alias(tx, address))

    async def list_aliases(self, domain: str | None = None) -> list[Alias]:
        """Aliases, optionally of one domain."""
        return await self._read(lambda tx: accounts.list_aliases(tx, domain))

    async def remove_alias(self, address: str) -> None:
        """Remove an alias (NotFound)."""
        await self._write(lambda tx: accounts.remove_alias(tx, address))

    async def set_catchall(self, domain: str, target: str | None) -> None:
        """Set (or clear) a domain's catch-all address."""
        await self._write(lambda tx: accounts.set_catchall(tx, domain, target))

    async def get_catchall(self, domain: str) -> str | None:
        """The catch-all target of a domain, or None."""
        return await self._read(lambda tx: accounts.get_catchall(tx, domain))
