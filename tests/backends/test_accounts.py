"""Domains, users, aliases and catch-alls."""

from __future__ import annotations

import pytest

from posthouse.store.api import Store
from posthouse.store.blobs import INLINE_LIMIT
from posthouse.store.errors import AlreadyExists, NotFound, StoreError
from posthouse.store.models import DEFAULT_MAILBOXES, INBOX, DeliveryTarget
from tests.backends.support import DOMAIN, StoreRunner, message, new_user

FILE_SIZED = INLINE_LIMIT + 6000  # larger than the inline limit: stored as a file


def test_domains(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        await store.add_domain("Example.ORG")
        await store.add_domain("b.example")
        with pytest.raises(AlreadyExists):
            await store.add_domain("example.org")
        assert await store.list_domains() == ["b.example", "example.org"]
        assert await store.is_local_domain("EXAMPLE.org")
        assert not await store.is_local_domain("other.example")
        await store.remove_domain("b.example")
        with pytest.raises(NotFound):
            await store.remove_domain("b.example")
        assert await store.list_domains() == ["example.org"]

    runner.run(body)


def test_add_user_needs_domain_and_is_unique(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        with pytest.raises(NotFound):
            await store.add_user("bob@nowhere.example", "h")
        await store.add_domain(DOMAIN)
        user = await store.add_user("Bob@Example.Org", "h", quota_bytes=123)
        assert user.address == "bob@example.org"
        assert user.quota_bytes == 123
        with pytest.raises(AlreadyExists):
            await store.add_user("BOB@example.org", "h2")
        assert await store.get_user("bOb@EXAMPLE.org") == user
        assert await store.get_user_by_id(user.id) == user
        assert await store.get_user("nobody@example.org") is None
        assert await store.get_user_by_id(user.id + 1000) is None

    runner.run(body)


def test_new_user_has_default_mailboxes_subscribed(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        user = await new_user(store)
        boxes = await store.list_mailboxes(user.id)
        assert [b.name for b in boxes] == sorted(name for name, _ in DEFAULT_MAILBOXES)
        assert {b.name: b.special_use for b in boxes} == dict(DEFAULT_MAILBOXES)
        assert all(b.subscribed for b in boxes)
        assert sorted(await store.list_subscriptions(user.id)) == sorted(
            name for name, _ in DEFAULT_MAILBOXES
        )
        validities = [b.uidvalidity for b in boxes]
        assert all(0 < v < 2**32 for v in validities)
        assert all(b.uidnext == 1 for b in boxes)

    runner.run(body)


def test_user_options_and_password(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        user = await new_user(store)
        await store.set_password("BOB@example.org", "new-hash")
        changed = await store.set_user_options(user.address, pop3_keep=True)
        assert changed.password_hash == "new-hash"
        assert changed.pop3_keep
        assert changed.quota_bytes == 0
        changed = await store.set_user_options(user.address, quota_bytes=5000)
        assert changed.pop3_keep
        assert changed.quota_bytes == 5000
        with pytest.raises(NotFound):
            await store.set_password("ghost@example.org", "x")
        with pytest.raises(NotFound):
            await store.set_user_options("ghost@example.org", pop3_keep=False)

    runner.run(body)


def test_role_and_disabled(runner: StoreRunner) -> None:
    """A new account is a plain, enabled user; the role and the flag change alone and
    survive other option changes; an unknown role is refused."""
    async def body(store: Store) -> None:
        user = await new_user(store)
        assert (user.role, user.disabled) == ("user", False)
        changed = await store.set_user_options(user.address, role="admin")
        assert (changed.role, changed.disabled) == ("admin", False)
        changed = await store.set_user_options(user.address, disabled=True, quota_bytes=7)
        assert (changed.role, changed.disabled, changed.quota_bytes) == ("admin", True, 7)
        again = await store.get_user(user.address)
        assert again is not None
        assert (again.role, again.disabled) == ("admin", True)
        assert [u.role for u in await store.list_users()] == ["admin"]
        changed = await store.set_user_options(user.address, role="user", disabled=False)
        assert (changed.role, changed.disabled) == ("user", False)
        with pytest.raises(StoreError):
            await store.set_user_options(user.address, role="root")

    runner.run(body)


def test_scram_secrets_go_with_the_password(runner: StoreRunner) -> None:
    """Set with the password (add_user, set_password), filled in later only for an account
    without them whose password is still the one they came from."""
    async def body(store: Store) -> None:
        async def secrets(user_id: int) -> str | None:
            user = await store.get_user_by_id(user_id)
            assert user is not None
            return user.scram_secrets

        await store.add_domain(DOMAIN)
        ann = await store.add_user("ann@example.org", "h1", scram_secrets="S1")
        assert ann.scram_secrets == "S1"
        assert await store.get_user("ann@example.org") == ann
        assert not await store.fill_scram_secrets(ann.id, "S9", password_hash="h1")  # has some
        await store.set_password("ann@example.org", "h2", scram_secrets="S2")
        assert await secrets(ann.id) == "S2"
        await store.set_password("ann@example.org", "h3")  # old secrets go with the old hash
        assert await secrets(ann.id) is None
        assert not await store.fill_scram_secrets(ann.id, "S2", password_hash="h2")  # stale
        assert await store.fill_scram_secrets(ann.id, "S3", password_hash="h3")
        assert await secrets(ann.id) == "S3"
        old = await store.add_user("old@example.org", "h")
        assert old.scram_secrets is None
        assert [u.scram_secrets for u in await store.list_users()] == ["S3", None]
        assert not await store.fill_scram_secrets(old.id + 1000, "S", password_hash="h")

    runner.run(body)


def test_list_users_sorted_and_by_domain(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        await store.add_domain("a.example")
        await store.add_domain("b.example")
        for address in ("zed@a.example", "amy@b.example", "bob@a.example"):
            await store.add_user(address, "h")
        assert [u.address for u in await store.list_users()] == [
            "amy@b.example", "bob@a.example", "zed@a.example",
        ]
        assert [u.address for u in await store.list_users("A.example")] == [
            "bob@a.example", "zed@a.example",
        ]

    runner.run(body)


def test_aliases_and_catchall(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        await store.add_domain(DOMAIN)
        with pytest.raises(NotFound):
            await store.add_alias("x@elsewhere.example", ["bob@example.org"])
        await store.add_alias("Sales@Example.org", ["Bob@example.org", "carol@remote.example"])
        alias = await store.get_alias("sales@example.org")
        assert alias is not None
        assert alias.targets == ("bob@example.org", "carol@remote.example")
        await store.add_alias("sales@example.org", ["dave@example.org"])  # replaces
        assert (await store.list_aliases(DOMAIN))[0].targets == ("dave@example.org",)
        await store.remove_alias("SALES@example.org")
        with pytest.raises(NotFound):
            await store.remove_alias("sales@example.org")
        assert await store.list_aliases() == []
        assert await store.get_catchall(DOMAIN) is None
        await store.set_catchall(DOMAIN, "Bob@Example.org")
        assert await store.get_catchall("EXAMPLE.ORG") == "bob@example.org"
        await store.set_catchall(DOMAIN, None)
        assert await store.get_catchall(DOMAIN) is None
        with pytest.raises(NotFound):
            await store.set_catchall("elsewhere.example", "x@y.example")

    runner.run(body)


def test_remove_user_cascades(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store, "bob")
        carol = await new_user(store, "carol")
        await store.add_alias(f"team@{DOMAIN}", [bob.address, carol.address])
        await store.add_alias(f"only-bob@{DOMAIN}", [bob.address])
        await store.set_catchall(DOMAIN, bob.address)
        await store.deliver(message(), [DeliveryTarget(bob.id), DeliveryTarget(carol.id)])
        await store.remove_user(bob.address)
        assert await store.get_user(bob.address) is None
        assert await store.list_mailboxes(bob.id) == []
        assert await store.list_subscriptions(bob.id) == []
        team = await store.get_alias(f"team@{DOMAIN}")
        assert team is not None
        assert team.targets == (carol.address,)
        assert await store.get_alias(f"only-bob@{DOMAIN}") is None
        assert await store.get_catchall(DOMAIN) is None
        inbox = await store.get_mailbox(carol.id, INBOX)
        assert inbox is not None
        (kept,) = await store.fetch_meta(inbox.id, [1])
        assert await store.read_blob(kept.blob_id) == message().data
        with pytest.raises(NotFound):
            await store.remove_user(bob.address)

    runner.run(body)


def test_remove_domain_cascades(runner: StoreRunner) -> None:
    async def body(store: Store) -> None:
        bob = await new_user(store, "bob")
        await store.add_alias(f"team@{DOMAIN}", [bob.address])
        await store.deliver(message(pad=FILE_SIZED), [DeliveryTarget(bob.id)])
        await store.remove_domain(DOMAIN)
        assert await store.list_users() == []
        assert await store.list_aliases() == []
        assert await store.get_user_by_id(bob.id) is None

    runner.run(body)


def test_user_ids_are_stable_and_not_reused(runner: StoreRunner) -> None:
    async def body(store: Store) -> int:
        first = await new_user(store, "bob")
        await store.remove_user(first.address)
        second = await new_user(store, "bob")
        assert second.id != first.id
        return second.id

    user_id = runner.run(body)

    async def reopened(store: Store) -> None:
        user = await store.get_user(f"bob@{DOMAIN}")
        assert user is not None
        assert user.id == user_id

    runner.run(reopened)
