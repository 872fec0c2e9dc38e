"""The accounts part of SqliteStore's async facade."""

from __future__ import annotations

from collections.abc import Sequence

from posthouse.store.models import Alias, User
from posthouse.store.sqlite import accounts
from posthouse.store.sqlite.core import StoreCore


class AccountsFacade(StoreCore):
    """Domains, users, aliases and catch-alls."""

    async def add_domain(self, name: str) -> None:
        """Add a local domain (AlreadyExists if present)."""
        await self._write(lambda ctx: accounts.add_domain(ctx, name))

    async def remove_domain(self, name: str) -> None:
        """Remove a domain with its users and aliases (NotFound if absent)."""
        await self._write(lambda ctx: accounts.remove_domain(ctx, name))

    async def list_domains(self) -> list[str]:
        """All local domains, sorted."""
        return await self._read(accounts.list_domains)

    async def is_local_domain(self, name: str) -> bool:
        """Whether mail for this domain is delivered here."""
        return await self._lookup(lambda conn: accounts.is_local_domain(conn, name))

    async def add_user(
        self, address: str, password_hash: str, *, quota_bytes: int = 0,
        scram_secrets: str | None = None,
    ) -> User:
        """Create a user with the default mailboxes (its domain must exist)."""
        return await self._write(
            lambda ctx: accounts.add_user(
                ctx, address, password_hash, quota_bytes=quota_bytes, scram_secrets=scram_secrets
            )
        )

    async def get_user(self, address: str) -> User | None:
        """The user with this address (case-insensitive), or None."""
        return await self._lookup(lambda conn: accounts.get_user(conn, address))

    async def get_user_by_id(self, user_id: int) -> User | None:
        """The user with this id, or None."""
        return await self._lookup(lambda conn: accounts.get_user_by_id(conn, user_id))

    async def list_users(self, domain: str | None = None) -> list[User]:
        """Users, optionally of one domain, sorted by address."""
        return await self._read(lambda conn: accounts.list_users(conn, domain))

    async def set_password(
        self, address: str, password_hash: str, *, scram_secrets: str | None = None
    ) -> None:
        """Replace a user's password hash and SCRAM secrets (NotFound if absent)."""
        await self._write(
            lambda ctx: accounts.set_password(
                ctx, address, password_hash, scram_secrets=scram_secrets
            )
        )

    async def fill_scram_secrets(
        self, user_id: int, scram_secrets: str, *, password_hash: str
    ) -> bool:
        """Give SCRAM secrets to an account without, if its password hash is unchanged."""
        return await self._write(
            lambda ctx: accounts.fill_scram_secrets(
                ctx, user_id, scram_secrets, password_hash=password_hash
            )
        )

    async def set_user_options(
        self, address: str, *, quota_bytes: int | None = None, pop3_keep: bool | None = None,
        role: str | None = None, disabled: bool | None = None,
    ) -> User:
        """Change per-account options (``role``: one of models.ROLES; ``disabled``: no
        login of any kind); None leaves an option as it is."""
        return await self._write(
            lambda ctx: accounts.set_user_options(
                ctx, address, quota_bytes=quota_bytes, pop3_keep=pop3_keep, role=role,
                disabled=disabled,
            )
        )

    async def remove_user(self, address: str) -> None:
        """Remove a user and all their mail (NotFound if absent)."""
        await self._write(lambda ctx: accounts.remove_user(ctx, address))

    async def add_alias(self, address: str, targets: Sequence[str]) -> None:
        """Create or replace an alias; its domain must be local."""
        await self._write(lambda ctx: accounts.add_alias(ctx, address, targets))

    async def get_alias(self, address: str) -> Alias | None:
        """The alias with this address, or None."""
        return await self._lookup(lambda conn: accounts.get_alias(conn, address))

    async def list_aliases(self, domain: str | None = None) -> list[Alias]:
        """Aliases, optionally of one domain."""
        return await self._read(lambda conn: accounts.list_aliases(conn, domain))

    async def remove_alias(self, address: str) -> None:
        """Remove an alias (NotFound if absent)."""
        await self._write(lambda ctx: accounts.remove_alias(ctx, address))

    async def set_catchall(self, domain: str, target: str | None) -> None:
        """Set (or clear with None) the catch-all address of a domain."""
        await self._write(lambda ctx: accounts.set_catchall(ctx, domain, target))

    async def get_catchall(self, domain: str) -> str | None:
        """The catch-all target of a domain, or None."""
        return await self._lookup(lambda conn: accounts.get_catchall(conn, domain))
