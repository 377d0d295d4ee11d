"""The library's records as JSON, for the REST API and its HTTP client.

One place for the shape both ends agree on: datetimes as ISO 8601 strings, enums as
their values, provenance as a nested object. Decoding checks types, so a malformed or
hostile reply becomes a `ValidationError`, never a half-built record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from skillbank.errors import ValidationError
from skillbank.store.base import Alias, CallStats, Event, Provenance, StoredVersion, VersionStatus


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="microseconds")


def _when(text: Any) -> dt.datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValidationError(f"expected an ISO 8601 time, got {type(text).__name__}")
    return dt.datetime.fromisoformat(text)


def _required_when(text: Any) -> dt.datetime:
    """A time the record cannot lack (a version's creation, an alias's last move)."""
    when = _when(text)
    if when is None:
        raise ValidationError("expected an ISO 8601 time, got null")
    return when


def version_to_json(sv: StoredVersion) -> dict[str, Any]:
    return {
        "id": sv.id,
        "namespace": sv.namespace,
        "name": sv.name,
        "version": sv.version,
        "ref": sv.ref,
        "content_hash": sv.content_hash,
        "source": sv.source,
        "docstring": sv.docstring,
        "signature": sv.signature,
        "input_schema": sv.input_schema,
        "status": VersionStatus(sv.status).value,
        "provenance": dataclasses.asdict(sv.provenance),
        "created_at": _iso(sv.created_at),
    }


_PROVENANCE_FIELDS = {f.name for f in dataclasses.fields(Provenance)}


def provenance_from_json(d: Any) -> Provenance:
    if d is None:
        return Provenance()
    if not isinstance(d, dict) or not set(d) <= _PROVENANCE_FIELDS:
        raise ValidationError(f"provenance must be an object with fields among {sorted(_PROVENANCE_FIELDS)}")
    for key, value in d.items():
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"provenance.{key} must be a string or null")
    return Provenance(**d)


def version_from_json(d: dict[str, Any]) -> StoredVersion:
    try:
        return StoredVersion(
            id=str(d["id"]),
            namespace=str(d["namespace"]),
            name=str(d["name"]),
            version=int(d["version"]),
            content_hash=str(d["content_hash"]),
            source=str(d["source"]),
            docstring=d["docstring"],
            signature=str(d["signature"]),
            input_schema=d["input_schema"],
            status=VersionStatus(d["status"]),
            provenance=provenance_from_json(d["provenance"]),
            created_at=_required_when(d["created_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"malformed version record: {type(exc).__name__}: {exc}") from None


def alias_to_json(a: Alias) -> dict[str, Any]:
    out = dataclasses.asdict(a)
    out["updated_at"] = _iso(a.updated_at)
    return out


def alias_from_json(d: dict[str, Any]) -> Alias:
    try:
        return Alias(str(d["namespace"]), str(d["name"]), str(d["alias"]), str(d["version_id"]), int(d["version"]),
                     int(d["generation"]), _required_when(d["updated_at"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"malformed alias record: {type(exc).__name__}: {exc}") from None


def event_to_json(e: Event) -> dict[str, Any]:
    out = dataclasses.asdict(e)
    out["at"] = _iso(e.at)
    return out


def event_from_json(d: dict[str, Any]) -> Event:
    try:
        payload = d.get("payload") or {}
        if not isinstance(payload, dict):
            raise TypeError("payload must be an object")
        return Event(int(d["id"]), str(d["type"]), str(d["namespace"]), d["name"], d["version_id"], str(d["actor"]),
                     d["reason"], payload, _when(d["at"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"malformed event record: {type(exc).__name__}: {exc}") from None


def stats_to_json(s: CallStats) -> dict[str, Any]:
    return dataclasses.asdict(s)


def stats_from_json(d: dict[str, Any]) -> CallStats:
    try:
        return CallStats(str(d["version_id"]), int(d["calls"]), int(d["successes"]), int(d["failures"]),
                         float(d["total_latency_s"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"malformed call statistics: {type(exc).__name__}: {exc}") from None
