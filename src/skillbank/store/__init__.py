"""The skill library's record: versions, aliases, events, call statistics.

Open one with :func:`open_store`; everything else codes against the
:class:`~skillbank.store.base.LibraryStore` protocol.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from skillbank.errors import ConfigError
from skillbank.store.base import (
    DEFAULT_NAMESPACE,
    Alias,
    CallStats,
    Event,
    EventType,
    LibraryStore,
    Provenance,
    StoredVersion,
    VersionStatus,
)

DEFAULT_LOCATION = Path(".skillbank") / "library.db"


def resolve_url(location: str | Path | None = None) -> str:
    """Turn a path or URL into a SQLAlchemy URL, creating a SQLite file's parent dir.

    ``postgresql://`` and ``postgres://`` select the psycopg 3 driver.
    """
    loc = str(DEFAULT_LOCATION if location is None or str(location) == "" else location)
    if loc.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        if importlib.util.find_spec("psycopg") is None:
            raise ConfigError("a PostgreSQL library needs psycopg: pip install 'skillbank[postgres]'")
        return "postgresql+psycopg://" + loc.split("://", 1)[1]
    if loc.startswith("sqlite://"):
        if not loc.startswith("sqlite:///"):
            raise ConfigError(f"unsupported SQLite URL {loc!r}: use sqlite:///relative/path or sqlite:////absolute/path")
        path_part = loc[len("sqlite:///"):]
        if path_part and path_part != ":memory:":
            Path(path_part).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return loc
    if "://" in loc:
        raise ConfigError(f"unsupported library URL {loc!r}: use a file path, sqlite:/// or postgresql://")
    path = Path(loc).expanduser()
    if path.is_dir():
        raise ConfigError(f"library location {str(path)!r} is a directory; give a file path such as {str(path / 'library.db')!r}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the library directory {str(path.parent)!r}: {exc.strerror}") from None
    return "sqlite:///" + str(path.resolve())


def open_store(location: str | Path | None = None, *, writable: bool = False) -> LibraryStore:
    """Open (creating and migrating as needed) the library at `location`: a file path,
    a ``sqlite:///`` URL, a ``postgresql://`` URL, or the ``https://`` address of a
    library that `skillbank serve` shares (with ``SKILLBANK_TOKEN``); default
    ``./.skillbank/library.db``.

    `writable`: the caller will write, so a SQLite library that cannot take a write (a
    read-only file, directory or file system) fails here, with its path, before the
    caller's work starts (a run's first task) rather than at its first save.
    """
    from skillbank.store.sql import SqlLibraryStore

    loc = "" if location is None else str(location)
    if loc.startswith(("http://", "https://")):
        from skillbank.store.http import HttpLibraryStore

        return HttpLibraryStore(loc, os.environ.get("SKILLBANK_TOKEN"))
    url = resolve_url(location)
    try:
        store = SqlLibraryStore(url)
    except ConfigError:
        raise
    except Exception as exc:  # the driver's own errors are long; name the location instead
        from sqlalchemy.exc import DBAPIError

        if isinstance(exc, DBAPIError):
            raise ConfigError(f"cannot open library {location or str(DEFAULT_LOCATION)!r}: {exc.orig}") from exc
        raise
    if writable:
        try:
            store.check_writable()
        except BaseException:
            store.close()
            raise
    return store


__all__ = [
    "DEFAULT_LOCATION",
    "DEFAULT_NAMESPACE",
    "Alias",
    "CallStats",
    "Event",
    "EventType",
    "LibraryStore",
    "Provenance",
    "StoredVersion",
    "VersionStatus",
    "open_store",
    "resolve_url",
]
