"""A throwaway PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` in a temporary
directory, listening on loopback only, stopped at the end of the session.

Found through ``SKILLBANK_TEST_POSTGRES`` (a URL of a server someone else runs), or the
binaries of Debian's ``postgresql`` package (``initdb``/``pg_ctl`` on PATH or under
``/usr/lib/postgresql/*/bin``), which ``.ci/run`` installs when they are absent. As root
the cluster runs as the ``postgres`` system user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from http_server import free_port


class PostgresUnavailable(RuntimeError):
    """Why no PostgreSQL server could be had here (the reason a test skips, outside CI)."""


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


class PostgresServer:
    """One running cluster; ``new_database()`` hands each test its own empty database."""

    def __init__(self) -> None:
        self.url = os.environ.get("SKILLBANK_TEST_POSTGRES", "")
        self._dir: str | None = None
        self._pg_ctl: str | None = None
        self._user: str | None = None
        if not self.url:
            self._start()

    def _run(self, argv: list[str], **kw) -> subprocess.CompletedProcess:
        if self._user:
            argv = ["runuser", "-u", self._user, "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)

    def _start(self) -> None:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if not initdb or not pg_ctl:
            raise PostgresUnavailable("PostgreSQL's initdb/pg_ctl are not installed (Debian package `postgresql`)")
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable("running as root and there is no `postgres` user to run the server as") from exc
            self._user = "postgres"
        self._dir = tempfile.mkdtemp(prefix="skillbank-pg-")
        data, sock = Path(self._dir, "data"), Path(self._dir, "sock")
        sock.mkdir()
        if self._user:
            shutil.chown(self._dir, self._user)
            shutil.chown(sock, self._user)
        r = self._run([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        if r.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {r.stderr.strip()[-300:]}")
        port = free_port()
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off -c max_connections=200"
        r = self._run([pg_ctl, "-D", str(data), "-o", opts, "-l", str(Path(self._dir, "log")), "-w", "-t", "60", "start"])
        if r.returncode != 0:
            log = Path(self._dir, "log")
            tail = log.read_text()[-300:] if log.exists() else r.stderr
            raise PostgresUnavailable(f"the PostgreSQL server did not start: {tail.strip()}")
        self._pg_ctl, self._data = pg_ctl, data
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        if self._pg_ctl and self._dir:
            self._run([self._pg_ctl, "-D", str(self._data), "-m", "immediate", "-w", "stop"])
            shutil.rmtree(self._dir, ignore_errors=True)
            self._pg_ctl = None
