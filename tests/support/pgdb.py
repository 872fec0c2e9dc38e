"""A throwaway PostgreSQL database for tests: one per test run, a schema per store.

The server is the one this machine runs on 127.0.0.1:5432 (trust auth), or the one named by
POSTHOUSE_TEST_PG (an admin URL). ``PgTestDatabase.create`` makes a database with a random
name (with pg_trgm), ``fresh_url`` a new schema in it and a URL whose connections use that
schema, ``drop`` removes the database at the end. ``unreachable`` says why tests must skip.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import quote

import psycopg

ADMIN_URL = os.environ.get("POSTHOUSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def unreachable() -> str | None:
    """Why the test server cannot be used, or None when it can."""
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {ADMIN_URL} is unreachable: {exc}".strip()
    return None


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


class PgTestDatabase:
    """One database of a test run."""

    def __init__(self) -> None:
        self.name = f"posthouse_test_{os.getpid()}_{secrets.token_hex(4)}"
        self.url = _with_db(ADMIN_URL, self.name)

    def create(self) -> None:
        """Make the database (UTF-8) with pg_trgm in its public schema."""
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}" TEMPLATE template0 ENCODING \'UTF8\''
                         .encode())
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    def fresh_url(self) -> str:
        """A new empty schema and a URL whose connections use it (and public)."""
        schema = f"s_{secrets.token_hex(6)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}".encode())
        options = quote(f"-c search_path={schema},public")
        return f"{self.url}?options={options}"

    def drop(self) -> None:
        """Remove the database, closing what still uses it."""
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'.encode())
