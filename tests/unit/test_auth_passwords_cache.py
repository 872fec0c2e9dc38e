"""argon2id hashing and the verification cache."""

from __future__ import annotations

import pytest

from posthouse.auth import PasswordHasher, VerificationCache
from tests.support.clock import FakeClock


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher.cheap()


def test_hash_and_verify(hasher: PasswordHasher) -> None:
    encoded = hasher.hash("correct horse")
    assert encoded.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert hasher.verify(encoded, "correct horse")
    assert not hasher.verify(encoded, "correct horse ")
    assert hasher.hash("correct horse") != encoded  # random salt


def test_verify_tolerates_malformed_hash(hasher: PasswordHasher) -> None:
    assert not hasher.verify("not a hash", "x")
    assert not hasher.verify("", "x")


def test_default_parameters() -> None:
    hasher = PasswordHasher()
    assert (hasher.time_cost, hasher.memory_kib, hasher.parallelism) == (2, 65536, 2)


def test_needs_rehash(hasher: PasswordHasher) -> None:
    encoded = hasher.hash("pw")
    assert not hasher.needs_rehash(encoded)
    stronger = PasswordHasher(time_cost=2, memory_kib=16, parallelism=1)
    assert stronger.needs_rehash(encoded)
    assert hasher.needs_rehash("garbage")


def test_dummy_hash_uses_current_parameters(hasher: PasswordHasher) -> None:
    assert hasher.dummy_hash == hasher.dummy_hash
    assert not hasher.needs_rehash(hasher.dummy_hash)
    assert not hasher.verify(hasher.dummy_hash, "")


# --- cache -------------------------------------------------------------------------------


def test_cache_hit_and_miss() -> None:
    cache = VerificationCache(clock=FakeClock())
    assert not cache.lookup("a@x.org", "pw", "H1")
    cache.store("A@X.org", "pw", "H1")
    assert cache.lookup("a@x.org", "pw", "H1")
    assert not cache.lookup("a@x.org", "other", "H1")
    assert not cache.lookup("b@x.org", "pw", "H1")


def test_cache_invalidated_by_password_change() -> None:
    cache = VerificationCache(clock=FakeClock())
    cache.store("a@x.org", "pw", "H1")
    assert not cache.lookup("a@x.org", "pw", "H2")
    assert len(cache) == 0  # the stale entry is dropped
    assert not cache.lookup("a@x.org", "pw", "H1")


def test_cache_ttl() -> None:
    clock = FakeClock()
    cache = VerificationCache(ttl=60, clock=clock)
    cache.store("a@x.org", "pw", "H")
    clock.mono += 59
    assert cache.lookup("a@x.org", "pw", "H")
    clock.mono += 1
    assert not cache.lookup("a@x.org", "pw", "H")


def test_cache_lru_bound() -> None:
    cache = VerificationCache(max_entries=2, clock=FakeClock())
    cache.store("a@x.org", "pw", "H")
    cache.store("b@x.org", "pw", "H")
    assert cache.lookup("a@x.org", "pw", "H")  # a is now most recent
    cache.store("c@x.org", "pw", "H")
    assert len(cache) == 2
    assert cache.lookup("a@x.org", "pw", "H")
    assert not cache.lookup("b@x.org", "pw", "H")
    assert cache.lookup("c@x.org", "pw", "H")


def test_cache_never_keeps_plaintext() -> None:
    cache = VerificationCache(clock=FakeClock())
    cache.store("a@x.org", "hunter2", "H")
    dump = repr(cache.__dict__)
    assert "hunter2" not in dump
    assert b"hunter2" not in b"".join(slot[1] for slot in cache._entries)


def test_cache_keys_differ_between_instances() -> None:
    one, two = VerificationCache(), VerificationCache()
    assert one._slot("a@x.org", "pw") != two._slot("a@x.org", "pw")


def test_cache_invalidate_and_clear() -> None:
    cache = VerificationCache(clock=FakeClock())
    cache.store("a@x.org", "pw1", "H")
    cache.store("a@x.org", "pw2", "H")
    cache.store("b@x.org", "pw", "H")
    cache.invalidate("A@x.org")
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0


@pytest.mark.parametrize(("max_entries", "ttl"), [(0, 1.0), (1, 0.0)])
def test_cache_rejects_bad_bounds(max_entries: int, ttl: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        VerificationCache(max_entries=max_entries, ttl=ttl)


def test_cache_may_hold_before_any_store_lookup() -> None:
    clock = FakeClock()
    cache = VerificationCache(ttl=60, clock=clock)
    cache.store("a@x.org", "pw", "$hash1")
    assert cache.may_hold("A@x.org", "pw")
    assert not cache.may_hold("a@x.org", "other")
    clock.mono += 61
    assert not cache.may_hold("a@x.org", "pw")
