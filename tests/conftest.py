"""Shared fixtures: a PostgreSQL server for the store suite's second backend."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pg_server import PostgresServer, PostgresUnavailable

# The suite tests this checkout's sources, whichever checkout the installed package points
# at (a git worktree shares one venv with its main checkout): pytest puts src/ first on
# sys.path (pyproject's `pythonpath`), and PYTHONPATH carries it to every subprocess the
# tests start (the CLI, sandbox workers, the server).
_SRC = str(Path(__file__).resolve().parent.parent / "src")
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH", "")) if p)


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
