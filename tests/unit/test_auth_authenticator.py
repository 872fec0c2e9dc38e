"""The authenticator over a tiny in-memory AccountStore fake."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

import pytest

from posthouse.auth import (
    Authenticator,
    HashBusy,
    HashScheduler,
    PasswordHasher,
    Principal,
    Throttle,
    ThrottlePolicy,
    VerificationCache,
    build_authenticator,
)
from posthouse.store.api import AccountStore
from posthouse.store.models import User
from tests.support.clock import FakeClock

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class FakeAccounts:
    """Implements only what the authenticator uses."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.lookups = 0
        self.filled: list[str] = []  # addresses given SCRAM secrets at login

    async def get_user(self, address: str) -> User | None:
        self.lookups += 1
        return self.users.get(address.lower())

    async def get_user_by_id(self, user_id: int) -> User | None:
        return next((u for u in self.users.values() if u.id == user_id), None)

    async def fill_scram_secrets(self, user_id: int, scram_secrets: str, *,
                                 password_hash: str) -> bool:
        user = await self.get_user_by_id(user_id)
        if user is None or user.scram_secrets or user.password_hash != password_hash:
            return False
        self.users[user.address] = dataclasses.replace(user, scram_secrets=scram_secrets)
        self.filled.append(user.address)
        return True


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=8, parallelism=1)
        self.verifications: list[str] = []

    def verify(self, encoded: str, password: str) -> bool:
        self.verifications.append(encoded)
        return super().verify(encoded, password)


class RefusingScheduler(HashScheduler):
    """A scheduler whose queue is always full."""

    async def run(self, ip: str, work: Callable[[], T]) -> T:
        raise HashBusy


class Harness:
    def __init__(self, scheduler: HashScheduler | None = None, **policy: float) -> None:
        self.clock = FakeClock()
        self.hasher = CountingHasher()
        self.accounts = FakeAccounts()
        self.cache = VerificationCache(clock=self.clock)
        self.throttle = Throttle(ThrottlePolicy(**policy), clock=self.clock)  # type: ignore[arg-type]
        self.sleeps: list[float] = []
        self.auth = Authenticator(
            cast(AccountStore, self.accounts),
            hasher=self.hasher,
            cache=self.cache,
            throttle=self.throttle,
            clock=self.clock,
            sleep=self._sleep,
            scheduler=scheduler,
        )

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def add(self, address: str, password: str, user_id: int = 1) -> None:
        self.accounts.users[address] = User(user_id, address, self.hasher.hash(password))

    def login(self, username: str, password: str, ip: str = "192.0.2.1") -> Principal | None:
        return run(self.auth.authenticate(username, password, remote_ip=ip))


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.add("alice@example.org", "s3cret", user_id=7)
    return harness


def test_success(h: Harness) -> None:
    assert h.login("alice@example.org", "s3cret") == Principal(7, "alice@example.org")
    assert h.sleeps == []


def test_username_is_case_insensitive(h: Harness) -> None:
    assert h.login("  Alice@EXAMPLE.org ", "s3cret") == Principal(7, "alice@example.org")


def test_principal_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Principal(1, "a@x.org").user_id = 2  # type: ignore[misc]


def test_wrong_password_is_delayed(h: Harness) -> None:
    assert h.login("alice@example.org", "nope") is None
    assert h.login("alice@example.org", "nope") is None
    assert h.sleeps == [0.5, 1.0]


def test_unknown_user_verifies_dummy_hash(h: Harness) -> None:
    assert h.login("mallory@example.org", "s3cret") is None
    assert h.hasher.verifications == [h.hasher.dummy_hash]
    assert h.sleeps == [0.5]


def test_unknown_and_wrong_password_cost_the_same_work(h: Harness) -> None:
    h.login("mallory@example.org", "x")
    h.login("alice@example.org", "x", ip="192.0.2.2")
    assert len(h.hasher.verifications) == 2
    assert h.sleeps == [0.5, 0.5]


def test_cache_hit_avoids_argon2(h: Harness) -> None:
    for _ in range(5):
        assert h.login("alice@example.org", "s3cret") is not None
    assert len(h.hasher.verifications) == 1


def test_cache_is_not_used_for_a_wrong_password(h: Harness) -> None:
    h.login("alice@example.org", "s3cret")
    assert h.login("alice@example.org", "wrong") is None
    assert len(h.hasher.verifications) == 2


def test_password_change_invalidates_cache(h: Harness) -> None:
    assert h.login("alice@example.org", "s3cret") is not None
    h.add("alice@example.org", "n3w", user_id=7)
    assert h.login("alice@example.org", "s3cret") is None
    assert h.login("alice@example.org", "n3w") is not None
    assert len(h.hasher.verifications) == 3


def test_cache_expires(h: Harness) -> None:
    h.login("alice@example.org", "s3cret")
    h.clock.mono += h.cache.ttl + 1
    h.login("alice@example.org", "s3cret")
    assert len(h.hasher.verifications) == 2


def test_success_resets_account_delay(h: Harness) -> None:
    h.login("alice@example.org", "x", ip="192.0.2.1")
    h.login("alice@example.org", "x", ip="192.0.2.2")
    h.login("alice@example.org", "s3cret", ip="192.0.2.3")
    h.login("alice@example.org", "x", ip="192.0.2.4")
    assert h.sleeps == [0.5, 1.0, 0.5]


def test_refused_source_is_not_verified() -> None:
    h = Harness(max_failures=2, lockout=60)
    h.add("alice@example.org", "s3cret")
    h.login("alice@example.org", "x")
    h.login("alice@example.org", "x")
    assert h.auth.refused_for("192.0.2.1") == 60
    verified = len(h.hasher.verifications)
    assert h.login("alice@example.org", "s3cret") is None  # even the right password
    assert len(h.hasher.verifications) == verified
    h.clock.mono += 61
    assert h.login("alice@example.org", "s3cret") is not None


@pytest.mark.parametrize(
    ("username", "password"),
    [("", "pw"), ("noatsign", "pw"), ("a\x00b@x.org", "pw"), ("a@x.org", ""),
     ("a" * 400 + "@x.org", "pw"), ("a@x.org", "p" * 5000)],
)
def test_implausible_credentials_fail_without_store_lookup(
    h: Harness, username: str, password: str
) -> None:
    assert h.login(username, password) is None
    assert h.accounts.lookups == 0
    assert h.sleeps == [0.5]


def test_failures_are_logged_without_password(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="posthouse.auth"):
        h.login("alice@example.org", "hunter2")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "ip=192.0.2.1" in text
    assert "alice@example.org" in text
    assert "hunter2" not in text


def test_verification_runs_in_a_worker_thread(h: Harness) -> None:
    import threading

    threads: list[str] = []
    original = h.hasher.verify

    def spy(encoded: str, password: str) -> bool:
        threads.append(threading.current_thread().name)
        return original(encoded, password)

    h.hasher.verify = spy  # type: ignore[method-assign]
    h.login("alice@example.org", "s3cret")
    assert threads
    assert threads[0] != threading.main_thread().name


def test_concurrent_logins() -> None:
    h = Harness()
    for i in range(5):
        h.add(f"u{i}@x.org", f"pw{i}", user_id=i)

    async def many() -> list[Principal | None]:
        return await asyncio.gather(
            *(h.auth.authenticate(f"u{i}@x.org", f"pw{i}", remote_ip=f"192.0.2.{i}")
              for i in range(5))
        )

    results = run(many())
    assert [p.user_id if p else None for p in results] == [0, 1, 2, 3, 4]


def test_build_authenticator_from_config() -> None:
    from posthouse.config import AuthConfig, Config

    cfg = Config(auth=AuthConfig(cache_size=5, cache_ttl_seconds=30))
    accounts = FakeAccounts()
    hasher = CountingHasher()
    accounts.users["a@x.org"] = User(3, "a@x.org", hasher.hash("pw"))
    auth = build_authenticator(cast(AccountStore, accounts), cfg, hasher, clock=FakeClock())
    assert run(auth.authenticate("a@x.org", "pw", remote_ip="192.0.2.1")) == Principal(3, "a@x.org")
    assert run(auth.authenticate("a@x.org", "pw", remote_ip="192.0.2.1")) is not None
    assert len(hasher.verifications) == 1  # the second login hit the cache


def test_a_full_hash_queue_refuses_without_counting_a_failure() -> None:
    """HashBusy cost no hash: it is not a guess, so neither the source nor the account is
    delayed for it (a flood must not push a real user into the throttle); the answer only
    waits the fixed busy delay."""
    h = Harness(scheduler=RefusingScheduler())
    h.add("alice@example.org", "s3cret", user_id=7)
    for password in ("wrong", "s3cret"):
        with pytest.raises(HashBusy):
            h.login("alice@example.org", password)
    assert h.sleeps == [1.0, 1.0]  # the busy delay alone, no throttle delay
    assert h.throttle.refused_for("192.0.2.1") == 0.0
    assert h.hasher.verifications == []


def test_a_cached_login_never_waits_for_the_scheduler() -> None:
    h = Harness()
    h.add("alice@example.org", "s3cret", user_id=7)
    assert h.login("alice@example.org", "s3cret") is not None  # verified once, now cached
    h.auth.scheduler = RefusingScheduler()
    assert h.login("alice@example.org", "s3cret", ip="203.0.113.9") == Principal(
        7, "alice@example.org")
