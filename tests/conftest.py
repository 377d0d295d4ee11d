"""Shared fixtures: a PostgreSQL server for the store suite's second backend."""

from __future__ import annotations

import os

import pytest

from pg_server import PostgresServer, PostgresUnavailable


@pytest.fixture(scope="session")
def postgres_server():
    """A running PostgreSQL server, or a skip that says why (never a skip in CI)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        reason = "psycopg is not installed (the `postgres` extra)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL suite: {reason}")
        pytest.skip(reason)
    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL suite: {exc}")
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture()
def postgres_url(postgres_server) -> str:
    """The URL of a fresh, empty database on the test server."""
    return postgres_server.new_database()
