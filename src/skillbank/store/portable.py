"""The portable form of a library: a directory a person can read and a tool can diff.

::

    DIR/skillbank-library.json          everything but the sources
    DIR/<namespace>/<name>/v<N>.py      one file per version, byte-exact source

Paths are derived from the (validated) namespace, name and number, never read from the
metadata, so an edited metadata file cannot make import read outside DIR. Import checks
each source against its recorded content hash and loads everything in one transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from skillbank.errors import ConflictError, NotFoundError, ValidationError
from skillbank.skill import SkillParseError, parse_skill
from skillbank.store.base import Alias, CallStats, Event, Provenance, StoredVersion, VersionStatus
from skillbank.store.sql import LibrarySnapshot, check_namespace

METADATA_FILE = "skillbank-library.json"
FORMAT = "skillbank-library"
FORMAT_VERSION = 1


def version_path(root: Path, namespace: str, name: str, version: int) -> Path:
    return root / check_namespace(namespace) / name / f"v{int(version)}.py"


def export_library(store: Any, directory: str | Path) -> dict[str, int]:
    """Write the whole library to `directory` (which must not exist or be empty)."""
    root = Path(directory)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ConflictError(f"export directory {str(root)!r} is not empty")
    snap: LibrarySnapshot = store.snapshot()
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


def import_library(store: Any, directory: str | Path) -> dict[str, int]:
    """Load an exported directory into an empty library, exactly (ids, numbers, times)."""
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
    store.restore(snap)
    return {"versions": len(snap.versions), "aliases": len(snap.aliases), "events": len(snap.events)}


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
