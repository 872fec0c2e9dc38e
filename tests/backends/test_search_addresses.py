"""SEARCH FROM / TO / CC / BCC read the summary's address row (SQLite schema v10, PostgreSQL
v4), filed with the summary: decoded display names (RFC 2047 encoded-words) and addresses,
matched as case-insensitive substrings (RFC 9051 6.4.4) under Python's case folding."""

from __future__ import annotations

import base64
import sqlite3
from datetime import UTC, datetime

import psycopg
import pytest

from posthouse.message.summary import summarize
from posthouse.store.api import Store
from posthouse.store.models import DeliveryTarget, NewMessage
from posthouse.store.sqlite.schema import DB_FILE
from tests.backends.sqlite_checks import UNDO_V10
from tests.backends.support import StoreRunner, mailbox_id, new_user


def _b(text: str) -> str:
    return f"=?UTF-8?B?{base64.b64encode(text.encode()).decode()}?="


KELVIN = _b("\u212aelvin")  # KELVIN SIGN + "elvin"
RAW = [
    (f"From: {_b('Jürgen Müller')} <Juergen@Example.ORG>\r\n"
     "To: =?ISO-8859-1?Q?Andr=E9?= <andre@b.example>\r\n"
     f"Cc: {_b('Zoë')} <zoe@c.example>, Kim <KIM@d.example>\r\n"
     "Bcc: hidden@e.example\r\nSubject: one\r\n\r\nfirst\r\n"),
    ("From: plain@a.example\r\nTo: =?UTF-8?Q?=C3=89MILE?= <emile@b.example>\r\n"
     "Subject: two\r\n\r\nsecond\r\n"),
    ("From: \"R. Person\" <r@x.example>\r\nTo: bob@example.org\r\n"
     f"Cc: {KELVIN} <k@y.example>\r\nSubject: three\r\n\r\nthird\r\n"),
]

CASES = [
    ("from", "JÜRGEN", {1}),  # an encoded-word's decoded text, any case
    ("from", "müller <juergen@", {1}),
    ("from", "JUERGEN@EXAMPLE.ORG", {1}),
    ("from", "r@", {3}),
    ("from", "=?utf-8?", set()),  # the encoded form is not what is searched
    ("to", "andré", {1}),
    ("to", "ANDRÉ", {1}),
    ("to", "émile", {2}),
    ("to", "É", {1, 2}),  # andré and émile
    ("cc", "zoë", {1}),
    ("cc", "kim@d", {1}),
    ("cc", "kelvin", {3}),  # KELVIN SIGN lower-cases to an ASCII k
    ("cc", "", {1, 3}),  # an empty needle: the messages that have the field
    ("bcc", "HIDDEN", {1}),
    ("bcc", "e.ex", {1}),
    ("bcc", "b.example", set()),
    ("From", "plain", {2}),  # field names in any case (HEADER From)
]


async def _deliver_all(store: Store, *, indexed: bool) -> int:
    bob = await new_user(store)
    inbox = await mailbox_id(store, bob)
    for raw in RAW:
        data = raw.encode()
        await store.deliver(NewMessage(data, summarize(data), datetime(2026, 12, 3, tzinfo=UTC)),
                            [DeliveryTarget(bob.id)])
    if indexed:
        await store.catch_up_index()
    return inbox


@pytest.mark.parametrize("indexed", [False, True])
@pytest.mark.parametrize(("field", "needle", "expected"), CASES)
def test_address_fields_match_decoded_names_and_addresses(
    runner: StoreRunner, field: str, needle: str, expected: set[int], indexed: bool
) -> None:
    async def body(store: Store) -> None:
        inbox = await _deliver_all(store, indexed=indexed)
        assert await store.search_text(inbox, needle, field=field) == expected

    runner.run(body, auto_index=False)


def _poke(runner: StoreRunner) -> None:
    """Change the first message's FROM value in its address row, and only there."""
    sql = "UPDATE summary_addresses SET from_lc = 'poked@column.example' WHERE from_lc LIKE '%j%'"
    if runner.backend == "sqlite":
        conn = sqlite3.connect(runner.data_dir / DB_FILE, isolation_level=None)
        try:
            assert conn.execute(sql).rowcount == 1
        finally:
            conn.close()
    else:
        assert runner.pg_url is not None
        with psycopg.connect(runner.pg_url, autocommit=True) as pg:
            assert pg.execute(sql.encode()).rowcount == 1


def test_address_search_reads_the_address_row(runner: StoreRunner) -> None:
    """The answer comes from the address row, not from the summary's header map."""
    inbox = runner.run(lambda store: _deliver_all(store, indexed=False), auto_index=False)
    _poke(runner)

    async def body(store: Store) -> None:
        assert await store.search_text(inbox, "poked@", field="from") == {1}
        assert await store.search_text(inbox, "j", field="from") == set()
        assert await store.search_text(inbox, "jürgen", field="from") == set()
        assert await store.search_text(inbox, "jürgen", field="text") == {1}  # the header map

    runner.run(body, auto_index=False)


def test_address_rows_go_with_their_summary(runner: StoreRunner) -> None:
    """A message deleted for good takes its address row along; a new copy files a new one."""
    async def body(store: Store) -> None:
        inbox = await _deliver_all(store, indexed=False)
        await store.delete_messages(inbox, [1])
        assert await store.search_text(inbox, "jürgen", field="from") == set()
        data = RAW[0].encode()
        await store.append(inbox, NewMessage(data, summarize(data), datetime.now(UTC)),
                           frozenset())
        assert await store.search_text(inbox, "jürgen", field="from") == {4}

    runner.run(body, auto_index=False)
    if runner.backend == "sqlite":
        conn = sqlite3.connect(runner.data_dir / DB_FILE)
        try:
            assert conn.execute("SELECT count(*) FROM summary_addresses").fetchone() == (3,)
            assert conn.execute(
                "SELECT count(*) FROM summaries s JOIN summary_addresses a ON a.id = s.id"
            ).fetchone() == (3,)
        finally:
            conn.close()


def _back_to_previous_schema(runner: StoreRunner) -> None:
    """The store as the schema before the address rows left it (SQLite 9, PostgreSQL 3)."""
    if runner.backend == "sqlite":
        conn = sqlite3.connect(runner.data_dir / DB_FILE, isolation_level=None)
        try:
            conn.executescript(UNDO_V10 + " PRAGMA user_version = 9;")
        finally:
            conn.close()
    else:
        assert runner.pg_url is not None
        with psycopg.connect(runner.pg_url, autocommit=True) as pg:
            pg.execute(b"DROP TABLE summary_addresses")
            pg.execute(b"UPDATE schema_version SET version = 3")


@pytest.mark.parametrize("indexed", [False, True])
def test_the_migration_files_the_rows_of_stored_summaries(
    runner: StoreRunner, indexed: bool
) -> None:
    inbox = runner.run(lambda store: _deliver_all(store, indexed=indexed), auto_index=False)
    _back_to_previous_schema(runner)

    async def body(store: Store) -> None:  # opening it migrates
        for field, needle, expected in CASES:
            assert await store.search_text(inbox, needle, field=field) == expected, (
                field, needle)

    runner.run(body, auto_index=False)
