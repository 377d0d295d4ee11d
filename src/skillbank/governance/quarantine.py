"""Quarantine: a version with a high or critical red-team finding is never retrieved
again until a person releases it.

Quarantine is a version status (retrieval offers only promoted and canary versions, and
a run's own candidates), so it holds for every reader of the library, not only for the
process that found the problem. Release returns the version to ``candidate``: it must
pass the gate again to be trusted.
"""

from __future__ import annotations

from typing import Any

from skillbank.errors import ValidationError
from skillbank.store.base import EventType, LibraryStore, StoredVersion, VersionStatus

RELEASED = "released"


def quarantine(store: LibraryStore, version: StoredVersion, *, actor: str, reason: str,
               findings: list[dict[str, Any]] | None = None) -> StoredVersion:
    """Quarantine `version` (idempotent) and record why."""
    if version.status is VersionStatus.QUARANTINED:
        return version
    previous = version.status.value
    updated = store.set_status(version.id, VersionStatus.QUARANTINED, actor=actor, reason=reason)
    store.record_event(EventType.QUARANTINED.value, namespace=version.namespace, name=version.name,
                       version_id=version.id, actor=actor, reason=reason,
                       payload={"version": version.version, "from_status": previous, "findings": findings or []})
    return updated


def release(store: LibraryStore, version: StoredVersion, *, actor: str, reason: str | None = None) -> StoredVersion:
    """A person's release of a quarantined version back to ``candidate``."""
    if version.status is not VersionStatus.QUARANTINED:
        raise ValidationError(f"{version.ref} is {version.status.value}, not quarantined")
    if not actor or actor == "governance":
        raise ValidationError("a release must name the person who releases the version (--actor)")
    updated = store.set_status(version.id, VersionStatus.CANDIDATE, actor=actor, reason=reason or "released by a person")
    store.record_event(RELEASED, namespace=version.namespace, name=version.name, version_id=version.id, actor=actor,
                       reason=reason or "released by a person", payload={"version": version.version})
    return updated
