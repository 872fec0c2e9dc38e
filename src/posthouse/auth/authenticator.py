"""Credentials -> Principal: store lookup, verification cache, argon2 through the hash
scheduler, throttling; the SCRAM-SHA-256 side (stored secrets, the verdict on a proof) under
the same throttle.

A login the verification cache knows never waits for a hash slot. A login that would have to
wait past the scheduler's bounds raises ``HashBusy`` (auth/scheduler.py) without hashing; it
is not counted as a failed guess: it cost no hash, and counting it would let a flood push a
real user's account (or shared address) into the throttle's delays. It is answered after
``busy_delay`` (a timer, no CPU), so a client retrying at once on the same connection cannot
spin the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from posthouse.auth.cache import VerificationCache
from posthouse.auth.passwords import PasswordHasher, scram_secrets_for
from posthouse.auth.scheduler import HashBusy, HashScheduler
from posthouse.auth.throttle import Throttle
from posthouse.clock import Clock, SystemClock
from posthouse.dns.idn import canonical_address
from posthouse.metrics import DISCARD, ServerMetrics
from posthouse.sasl import ScramSecrets
from posthouse.store.api import AccountStore
from posthouse.store.errors import StoreError
from posthouse.store.models import User

if TYPE_CHECKING:
    from posthouse.config import Config

log = logging.getLogger("posthouse.auth")

Sleep = Callable[[float], Awaitable[None]]

MAX_USERNAME = 320  # RFC 5321 4.5.3.1: 64-octet local part, "@", 255-octet domain
MAX_PASSWORD = 1024


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user."""

    user_id: int
    address: str
    role: str = "user"  # store.models.ROLES: "admin" may use the web admin


def _principal(user: User) -> Principal:
    """The Principal of a login; one address string for all of a user's sessions (issue
    15: memory per idle connection)."""
    return Principal(user_id=user.id, address=sys.intern(user.address), role=user.role)


class Authenticator:
    """Checks a user name and password; the one place logins are decided."""

    def __init__(
        self,
        accounts: AccountStore,
        *,
        hasher: PasswordHasher,
        cache: VerificationCache,
        throttle: Throttle,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        scheduler: HashScheduler | None = None,
        busy_delay: float = 1.0,
        metrics: ServerMetrics = DISCARD,
    ) -> None:
        self._accounts = accounts
        self._metrics = metrics  # logins ok/failed
        self._hasher = hasher
        self.cache = cache  # the verification cache (app.py links it across workers)
        self._throttle = throttle
        self._clock = clock or SystemClock()
        self._sleep = sleep
        # Each argon2 run takes memory_cost of RAM and a core: the scheduler bounds how many
        # run at once and how many may wait, per source and in all.
        self.scheduler = scheduler or HashScheduler(clock=self._clock)
        self._busy_delay = busy_delay

    def close(self) -> None:
        """Let the hashing threads end (at shutdown)."""
        self.scheduler.close()

    def refused_for(self, remote_ip: str) -> float:
        """Seconds this source is still refused (adapters may say so before asking)."""
        return self._throttle.refused_for(remote_ip)

    async def authenticate(
        self, username: str, password: str, *, remote_ip: str
    ) -> Principal | None:
        """The principal for these credentials, or None after the throttle delay.

        ``username`` is the full address (case-insensitive). Unknown users are verified
        against a dummy hash, so they take as long as a wrong password. Raises HashBusy when
        the hash queue is full (nothing verified, nothing counted).
        """
        address = login_name(username)
        if self._throttle.refused_for(remote_ip) > 0:
            await self._fail(remote_ip, address, "source refused")
            return None
        if not _plausible(address, password):
            await self._verify(self._hasher.dummy_hash, password[:MAX_PASSWORD], remote_ip)
            await self._fail(remote_ip, address, "malformed credentials")
            return None
        if not self.cache.may_hold(address, password) and self.scheduler.refuses_now(
                remote_ip):
            await self._busy(remote_ip)  # before the store lookup: a flood costs no read
        user = await self._accounts.get_user(address)
        if (user is not None and not user.disabled
                and self.cache.lookup(address, password, user.password_hash)):
            return await self._succeeded(user, password, remote_ip)
        stored = user.password_hash if user is not None else self._hasher.dummy_hash
        started = self._clock.monotonic()
        matched = await self._verify(stored, password, remote_ip)
        log.debug("auth: argon2 verification took %.3f s", self._clock.monotonic() - started)
        if user is None or not matched or user.disabled:
            # A disabled account fails like a wrong password, after the same hash.
            reason = "unknown user" if user is None else (
                "account disabled" if matched else "wrong password")
            await self._fail(remote_ip, address, reason)
            return None
        self.cache.store(address, password, user.password_hash)
        return await self._succeeded(user, password, remote_ip)

    async def scram_secrets(self, username: str, *, remote_ip: str) -> ScramSecrets | None:
        """The stored SCRAM secrets of ``username`` for a SCRAM exchange.

        None for an unknown user, an account without secrets yet and a source the throttle
        refuses: the mechanism then goes on with fake secrets, so the proof fails exactly like
        a wrong password and nothing tells which users exist (nor, when refused, whether a
        guess was right: the server signature is only sent after a valid proof).
        """
        address = login_name(username)
        if self._throttle.refused_for(remote_ip) > 0 or not _plausible_address(address):
            return None
        user = await self._accounts.get_user(address)
        if user is None or user.scram_secrets is None or user.disabled:
            return None
        try:
            return ScramSecrets.parse(user.scram_secrets)
        except ValueError:
            log.warning("auth: malformed SCRAM secrets stored for %s", address)
            return None

    async def scram_verified(self, username: str, *, remote_ip: str) -> Principal | None:
        """The principal after a SCRAM proof verified against ``scram_secrets``; None (after
        the throttle delay) if the account went away meanwhile or the source is refused."""
        address = login_name(username)
        user = await self._accounts.get_user(address)
        if user is None or user.disabled or self._throttle.refused_for(remote_ip) > 0:
            await self._fail(remote_ip, address, "account gone or disabled, or source refused")
            return None
        self._metrics.login(True)
        self._throttle.record_success(remote_ip, address)
        return _principal(user)

    async def scram_failed(self, username: str, *, remote_ip: str) -> None:
        """A SCRAM proof did not verify: a failed login like a wrong password."""
        await self._fail(remote_ip, login_name(username), "wrong SCRAM proof")

    async def _succeeded(self, user: User, password: str, remote_ip: str) -> Principal:
        self._metrics.login(True)
        self._throttle.record_success(remote_ip, user.address)
        if user.scram_secrets is None:  # an account older than SCRAM support: once only
            await self._add_scram_secrets(user, password)
        return _principal(user)

    async def _add_scram_secrets(self, user: User, password: str) -> None:
        """Derive the SCRAM secrets of a password just verified and store them (PBKDF2 runs
        in a worker thread). A failure here never fails the login."""
        text = await asyncio.to_thread(scram_secrets_for, password)
        if text is None:
            log.debug("auth: the password of %s cannot be used with SCRAM (SASLprep)",
                     user.address)
            return
        try:
            stored = await self._accounts.fill_scram_secrets(
                user.id, text, password_hash=user.password_hash)
        except StoreError:
            log.exception("auth: could not store SCRAM secrets for %s", user.address)
            return
        if stored:
            log.info("auth: SCRAM secrets added for %s", user.address)

    async def _verify(self, stored: str, password: str, remote_ip: str) -> bool:
        try:
            return await self.scheduler.run(
                remote_ip, lambda: self._hasher.verify(stored, password))
        except HashBusy:
            await self._busy(remote_ip)

    async def _busy(self, remote_ip: str) -> NoReturn:
        """Wait the busy delay, then raise HashBusy."""
        log.debug("auth: hash queue full, temporary refusal ip=%s", remote_ip)
        await self._sleep(self._busy_delay)
        raise HashBusy

    async def _fail(self, remote_ip: str, address: str, reason: str) -> None:
        self._metrics.login(False)
        # The reason is logged for the operator only; the client learns nothing from it.
        delay = self._throttle.record_failure(remote_ip, address, reason=reason)
        if delay > 0:
            await self._sleep(delay)


def login_name(username: str) -> str:
    """The account a login names: the address lower-cased, its domain in A-labels (IDNA
    2008), as accounts are stored; so either form of an internationalized domain works."""
    return canonical_address(username.strip())


def _plausible(address: str, password: str) -> bool:
    """Cheap sanity limits that need no store access."""
    if not password or len(password) > MAX_PASSWORD:
        return False
    return _plausible_address(address)


def _plausible_address(address: str) -> bool:
    if not address or len(address) > MAX_USERNAME or "@" not in address:
        return False
    return not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in address)


def build_authenticator(
    accounts: AccountStore, cfg: Config, hasher: PasswordHasher, *, clock: Clock,
    metrics: ServerMetrics = DISCARD, cache_key: bytes | None = None,
) -> Authenticator:
    """The authenticator app.py builds from the [auth] section of the config
    (``cache_key``: the verification cache's key, shared by worker processes)."""
    cache = VerificationCache(
        max_entries=cfg.auth.cache_size, ttl=float(cfg.auth.cache_ttl_seconds), clock=clock,
        key=cache_key,
    )
    scheduler = HashScheduler(
        slots=cfg.auth.max_concurrent_hashes, per_source=cfg.auth.max_queued_hashes_per_source,
        total=cfg.auth.max_queued_hashes, clock=clock,
    )
    return Authenticator(
        accounts, hasher=hasher, cache=cache, throttle=Throttle(clock=clock), clock=clock,
        scheduler=scheduler, metrics=metrics,
    )
