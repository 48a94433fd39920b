"""A real PostgreSQL database for tests, on the server at 127.0.0.1:5432.

The server runs with trust authentication for the ``postgres`` user. Each
:func:`postgres_database` block creates a uniquely named database and drops
it afterwards (``WITH (FORCE)``, so connections left open do not keep it).
When the server is unreachable the test is skipped, or fails under
``CI=true``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from tests.conftest import require

HOST = os.environ.get("LINEAGEGRAPH_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("LINEAGEGRAPH_TEST_PG_PORT", "5432"))
ADMIN_DSN = f"host={HOST} port={PORT} user=postgres dbname=postgres connect_timeout=5"


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(ADMIN_DSN, autocommit=True)


def postgres_available() -> bool:
    try:
        with _admin() as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


@contextlib.contextmanager
def postgres_database(prefix: str = "lg_test") -> Iterator[str]:
    """Create a fresh database; yield its SQLAlchemy URL; drop it after."""
    require(postgres_available(), f"PostgreSQL is not reachable on {HOST}:{PORT}")
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://postgres@{HOST}:{PORT}/{name}"
    finally:
        with _admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def database_exists(url: str) -> bool:
    name = url.rsplit("/", 1)[1]
    with _admin() as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of the test session's own (import this fixture to use it)."""
    with postgres_database() as url:
        yield url
