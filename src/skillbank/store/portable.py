"""The portable form of a library: a directory a person can read and a tool can diff.

::

    DIR/skillbank-library.json          everything but the sources
    DIR/<namespace>/<name>/v<N>.py      one file per version, byte-exact source

Paths are derived from the (validated) namespace, name and number, never read from the
metadata, so an edited metadata file cannot make import read outside DIR. Import checks
each source against its recorded content hash and loads everything in one transaction:
exactly into an empty library, merged (with conflicts reported) into a non-empty one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from skillbank.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from skillbank.skill import SkillParseError, parse_skill
from skillbank.store.base import Alias, CallStats, Event, LibraryStore, Provenance, StoredVersion, VersionStatus
from skillbank.store.sql import LibrarySnapshot, check_namespace

METADATA_FILE = "skillbank-library.json"
FORMAT = "skillbank-library"
FORMAT_VERSION = 1


@runtime_checkable
class PortableStore(Protocol):
    """A library that is read and loaded whole, each in one transaction: the SQL store
    (`SqlLibraryStore.snapshot` and `.restore`). A served library is not one: its REST
    API has no bulk read or load, and one request per record would be neither atomic
    nor exact (ids, event ids)."""

    def snapshot(self) -> LibrarySnapshot: ...
    def restore(self, snap: LibrarySnapshot) -> dict[str, Any]: ...


def portable(store: LibraryStore, what: str) -> PortableStore:
    """`store` as a `PortableStore`, or a `ConfigError` naming the limitation (before
    anything is read or written)."""
    if not isinstance(store, PortableStore):
        raise ConfigError(
            f"{what} needs the library's database: {store.url} is a served library, whose REST API has no "
            "bulk export or import; run it where the database is, with --library set to its path or URL"
        )
    return store


def version_path(root: Path, namespace: str, name: str, version: int) -> Path:
    return root / check_namespace(namespace) / name / f"v{int(version)}.py"


def export_library(store: LibraryStore, directory: str | Path) -> dict[str, int]:
    """Write the whole library to `directory` (which must not exist or be empty)."""
    whole = portable(store, "export")
    root = Path(directory)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ConflictError(f"export directory {str(root)!r} is not empty")
    snap = whole.snapshot()
    root.mkdir(parents=True, exist_ok=True)
    for sv in snap.versions:
        path = version_path(root, sv.namespace, sv.name, sv.version)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sv.source.encode("utf-8"))
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "namespaces": list(snap.namespaces),
        "versions": [_version_meta(sv) for sv in snap.versions],
        "aliases": [_plain(a) for a in snap.aliases],
        "events": [_plain(e) for e in snap.events],
        "call_stats": [_plain(s) for s in snap.call_stats],
    }
    # Metadata last: a directory without it is visibly an interrupted export.
    (root / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return {"versions": len(snap.versions), "aliases": len(snap.aliases), "events": len(snap.events)}


def import_library(store: LibraryStore, directory: str | Path) -> dict[str, Any]:
    """Load an exported directory: exactly (ids, numbers, times) into an empty library,
    merged into a non-empty one (see `SqlLibraryStore.restore`). Atomic: a failure
    changes nothing. Returns counts plus ``conflicts`` and ``renumbered`` sentences."""
    return portable(store, "import").restore(read_export(directory))


def import_into(location: str | Path | None, directory: str | Path) -> dict[str, Any]:
    """`import_library` into the library at `location`, reading and checking the export
    before the library is opened; a failed import into a library that did not exist
    before leaves no file (and no directory) behind."""
    from skillbank.store import open_store

    snap = read_export(directory)
    url = resolve_url_without_creating(location)
    path = Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") and url != "sqlite:///:memory:" else None
    fresh = path is not None and not path.exists()
    made = [] if path is None else [d for d in [path.parent, *path.parent.parents] if not d.exists()]
    try:
        store = open_store(location)
        try:
            return portable(store, "import").restore(snap)
        finally:
            store.close()
    except BaseException:
        if fresh and path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            for d in made:  # innermost first
                try:
                    d.rmdir()
                except OSError:
                    break
        raise


def resolve_url_without_creating(location: str | Path | None) -> str:
    """The SQLAlchemy URL `open_store` would use, without creating any directory."""
    from skillbank.store import DEFAULT_LOCATION

    loc = str(DEFAULT_LOCATION if location is None or str(location) == "" else location)
    if "://" in loc:
        return loc
    return "sqlite:///" + str(Path(loc).expanduser().absolute())


def read_export(directory: str | Path) -> LibrarySnapshot:
    """Read and check an exported directory into a snapshot (nothing is written)."""
    root = Path(directory)
    meta_path = root / METADATA_FILE
    if not meta_path.is_file():
        raise NotFoundError(f"{str(root)!r} is not a skillbank export: {METADATA_FILE} is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{str(meta_path)!r} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValidationError(f"{str(meta_path)!r} is not a {FORMAT} metadata file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValidationError(f"unsupported export format version {meta.get('format_version')!r} (expected {FORMAT_VERSION})")
    try:
        versions = tuple(_load_version(root, m) for m in meta["versions"])
        snap = LibrarySnapshot(
            namespaces=tuple(str(n) for n in meta["namespaces"]),
            versions=versions,
            aliases=tuple(Alias(a["namespace"], a["name"], a["alias"], a["version_id"], int(a["version"]),
                                int(a["generation"]), dt.datetime.fromisoformat(a["updated_at"])) for a in meta["aliases"]),
            events=tuple(Event(int(e["id"]), e["type"], e["namespace"], e["name"], e["version_id"], e["actor"], e["reason"],
                               dict(e["payload"]), dt.datetime.fromisoformat(e["at"])) for e in meta["events"]),
            call_stats=tuple(CallStats(s["version_id"], int(s["calls"]), int(s["successes"]), int(s["failures"]),
                                       float(s["total_latency_s"])) for s in meta["call_stats"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"{str(meta_path)!r} is malformed: {type(exc).__name__}: {exc}") from None
    return snap


def _plain(record: Any) -> dict[str, Any]:
    out = dataclasses.asdict(record)
    for key, value in out.items():
        if isinstance(value, dt.datetime):
            out[key] = value.isoformat(timespec="microseconds")
    return out


def _version_meta(sv: StoredVersion) -> dict[str, Any]:
    out = _plain(sv)
    del out["source"]
    out["status"] = VersionStatus(sv.status).value
    return out


def _load_version(root: Path, m: dict[str, Any]) -> StoredVersion:
    path = version_path(root, m["namespace"], m["name"], m["version"])
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"export is missing the source of {m['name']}@{m['version']}: {str(path)!r}") from None
    try:
        parsed = parse_skill(data)
    except SkillParseError as exc:
        raise ValidationError(f"{str(path)!r}: {exc}") from None
    if parsed.content_hash != m["content_hash"] or parsed.name != m["name"]:
        raise ValidationError(f"{str(path)!r} does not match its metadata (content hash or name differs)")
    return StoredVersion(
        id=m["id"], namespace=m["namespace"], name=m["name"], version=int(m["version"]), content_hash=m["content_hash"],
        source=parsed.source, docstring=m["docstring"], signature=m["signature"], input_schema=m["input_schema"],
        status=VersionStatus(m["status"]), provenance=Provenance(**m["provenance"]),
        created_at=dt.datetime.fromisoformat(m["created_at"]),
    )
