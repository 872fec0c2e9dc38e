"""argon2id password hashing (RFC 9106) through argon2-cffi, and the SCRAM-SHA-256 secrets
(RFC 5802 3) stored beside the hash whenever a password is set.

Default cost, chosen for a 2-core server: time_cost=2, memory_cost=64 MiB, parallelism=2.
That measures about 90 ms per verification on such a machine: slow enough that a leaked hash
costs an attacker ~64 MiB and tens of milliseconds per guess (no cheap GPU batching), fast
enough for interactive logins, and the verification cache spares clients that log in every
minute. RFC 9106 4 recommends 64 MiB as its memory-constrained choice; parallelism=2 uses both
cores for one verification. The authenticator bounds concurrent verifications (2 by default),
so peak hashing memory is ~128 MiB. Tests use ``PasswordHasher.cheap()``; the cost comes
from the [auth] section of the config.
"""

from __future__ import annotations

import secrets
from functools import cached_property

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from posthouse import sasl


class PasswordHasher:
    """Hash, verify and check parameters of argon2id password hashes."""

    def __init__(
        self, *, time_cost: int = 2, memory_kib: int = 64 * 1024, parallelism: int = 2
    ) -> None:
        self.time_cost = time_cost
        self.memory_kib = memory_kib
        self.parallelism = parallelism
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
            type=argon2.Type.ID,
        )

    @classmethod
    def cheap(cls) -> PasswordHasher:
        """Minimal cost for tests only: never use for real accounts."""
        return cls(time_cost=1, memory_kib=8, parallelism=1)

    def hash(self, password: str) -> str:
        """A new encoded hash ("$argon2id$v=19$m=...") with a random salt."""
        return self._hasher.hash(password)

    def verify(self, encoded: str, password: str) -> bool:
        """Whether ``password`` matches; a malformed stored hash simply does not match.

        CPU-bound (tens of milliseconds): call it from a worker thread in async code.
        """
        try:
            return self._hasher.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """Whether the hash was made with other parameters (rehash after the next login)."""
        try:
            return self._hasher.check_needs_rehash(encoded)
        except (InvalidHashError, ValueError):
            return True

    @cached_property
    def dummy_hash(self) -> str:
        """A hash of a random secret with the current parameters, verified for unknown users
        so that they cost as much time as a wrong password (no enumeration by timing)."""
        return self.hash(secrets.token_urlsafe(32))


def scram_secrets_for(password: str) -> str | None:
    """The SCRAM-SHA-256 secrets of a password in the store's text form (RFC 5803 style).

    None when SASLprep (RFC 4013) prohibits a character of the password: such a password can
    only be used with PLAIN, LOGIN and USER/PASS. PBKDF2 with 4096 iterations costs a few
    milliseconds: async code calls it from a worker thread.
    """
    try:
        return sasl.derive_secrets(password).to_string()
    except ValueError:
        return None
