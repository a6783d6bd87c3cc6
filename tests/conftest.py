"""Shared fixtures: trace stores on SQLite and, where a server is given, PostgreSQL.

Tests that need PostgreSQL read ``$SWIRL_TEST_POSTGRES`` (a URL of a server where the user may
create databases; ``.ci/with-postgres`` starts a throwaway one and sets it, and ``.ci/run`` runs
the tests under it). Without it they are skipped, so ``make test`` passes on a machine with no
server. Each test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid

import pytest

POSTGRES = os.environ.get("SWIRL_TEST_POSTGRES")


def _with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture
def postgres_url():
    """A postgresql:// URL of a fresh, empty database (skips without $SWIRL_TEST_POSTGRES)."""
    if not POSTGRES:
        pytest.skip("no PostgreSQL server: set SWIRL_TEST_POSTGRES (.ci/with-postgres does)")
    import psycopg

    name = f"swirl_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(POSTGRES, name)
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    """Where a trace store lives, once per kind: a SQLite file path, then a Postgres URL."""
    if request.param == "sqlite":
        return str(tmp_path / "traces.db")
    return request.getfixturevalue("postgres_url")
