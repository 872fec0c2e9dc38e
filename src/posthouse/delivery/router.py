"""Recipient routing: address -> local users and/or remote addresses.

Order for a local domain: exact user, alias, plus-address (``user+tag@``), catch-all.
Aliases expand recursively (bounded depth, loops cut); their targets may be remote.
"""

from __future__ import annotations

from dataclasses import dataclass

from posthouse.clock import Clock, SystemClock
from posthouse.dns.idn import canonical_address, canonical_domain
from posthouse.message.address import split_address
from posthouse.store.api import AccountStore
from posthouse.store.models import User

MAX_ALIAS_DEPTH = 8
# Local domains change rarely (an admin command); answers are reused this long, so a domain
# added or removed with the CLI takes effect within seconds without a lookup per RCPT.
DOMAIN_CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class RoutedUser:
    """A local account as read while routing: enough to check its quota without looking it
    up again (and nothing secret, unlike User)."""

    id: int
    quota_bytes: int = 0  # 0 means no quota

    @classmethod
    def of(cls, user: User) -> RoutedUser:
        """The routing view of an account."""
        return cls(user.id, user.quota_bytes)


@dataclass(frozen=True, slots=True)
class Route:
    """Where mail for one envelope recipient goes."""

    local_users: tuple[RoutedUser, ...] = ()
    remote: tuple[str, ...] = ()

    @property
    def local_user_ids(self) -> tuple[int, ...]:
        """The ids of the local users, in routing order."""
        return tuple(u.id for u in self.local_users)

    @property
    def empty(self) -> bool:
        """No destination at all (unknown user)."""
        return not self.local_users and not self.remote


class Router:
    """Resolves recipients and sender rights against the account store."""

    def __init__(self, accounts: AccountStore, *, default_domain: str = "",
                 clock: Clock | None = None) -> None:
        self.accounts = accounts
        self.default_domain = default_domain.lower()
        self._clock = clock or SystemClock()
        self._domains: dict[str, tuple[bool, float]] = {}

    async def is_local_domain(self, domain: str) -> bool:
        """Whether the domain is served here (cached for DOMAIN_CACHE_SECONDS)."""
        key = canonical_domain(domain)
        now = self._clock.monotonic()
        hit = self._domains.get(key)
        if hit is not None and now - hit[1] < DOMAIN_CACHE_SECONDS:
            return hit[0]
        local = await self.accounts.is_local_domain(key)
        if len(self._domains) > 10000:  # bounded: remote domains are many
            self._domains.clear()
        self._domains[key] = (local, now)
        return local

    async def resolve(self, address: str) -> Route:
        """The destinations of one recipient; Route() when a local address is unknown."""
        users: dict[int, RoutedUser] = {}
        remote: dict[str, None] = {}
        await self._expand(address, users, remote, depth=0, seen=set())
        route = Route(tuple(users.values()), tuple(remote))
        local, domain = split_address(address)
        if route.empty and local.lower() == "postmaster":
            return await self._postmaster(domain.lower())
        return route

    async def _postmaster(self, domain: str) -> Route:
        """RFC 5321 4.5.1: every domain must accept mail for postmaster. Without an account
        or alias of that name it goes to postmaster of the default domain, else to the
        domain's first account, else to the first account of the server."""
        if self.default_domain and domain != self.default_domain:
            route = await self.resolve(f"postmaster@{self.default_domain}")
            if not route.empty:
                return route
        for scope in (domain, None):
            users = await self.accounts.list_users(scope)
            if users:
                return Route((RoutedUser.of(users[0]),))
        return Route()

    async def _expand(self, address: str, users: dict[int, RoutedUser],
                      remote: dict[str, None], *, depth: int, seen: set[str]) -> None:
        key = canonical_address(address)
        if key in seen or depth > MAX_ALIAS_DEPTH:
            return
        seen.add(key)
        local, domain = split_address(key)
        if not local or not await self.is_local_domain(domain):
            remote[address] = None
            return
        user = await self.accounts.get_user(key)
        if user is not None:
            users[user.id] = RoutedUser.of(user)
            return
        alias = await self.accounts.get_alias(key)
        if alias is None and "+" in local:
            base = f"{local.split('+', 1)[0]}@{domain}"
            user = await self.accounts.get_user(base)
            if user is not None:
                users[user.id] = RoutedUser.of(user)
                return
            alias = await self.accounts.get_alias(base)
        if alias is None:
            catchall = await self.accounts.get_catchall(domain)
            if catchall is None or catchall.lower() in seen:
                return
            await self._expand(catchall, users, remote, depth=depth + 1, seen=seen)
            return
        for target in alias.targets:
            await self._expand(target, users, remote, depth=depth + 1, seen=seen)

    async def may_send_as(self, user: User, address: str) -> bool:
        """Whether an authenticated user may use ``address`` as envelope/header sender:
        their own address (also with a +tag), or an alias that delivers to them."""
        key = address.lower()
        local, domain = split_address(key)
        if key == user.address:
            return True
        if "+" in local and f"{local.split('+', 1)[0]}@{domain}" == user.address:
            return True
        alias = await self.accounts.get_alias(key)
        if alias is None:
            return False
        route = await self.resolve(key)
        return user.id in route.local_user_ids
