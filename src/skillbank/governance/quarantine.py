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
from skillbank.store.base import EventType, LibraryStore, NewEvent, StatusChange, StoredVersion, VersionStatus

RELEASED = EventType.RELEASED.value


def quarantine(store: LibraryStore, version: StoredVersion, *, actor: str, reason: str,
               findings: list[dict[str, Any]] | None = None) -> StoredVersion:
    """Quarantine `version` (idempotent) and record why, in one transaction."""
    if version.status is VersionStatus.QUARANTINED:
        return version
    previous = version.status.value
    done = store.transition(version.name, namespace=version.namespace, actor=actor, reason=reason, statuses=[
        StatusChange(version.id, VersionStatus.QUARANTINED, reason, expected=(version.status,)),
    ], events=[NewEvent(EventType.QUARANTINED.value, version.id, reason,
                        {"version": version.version, "from_status": previous, "findings": findings or []})])
    return done.versions[0]


def release(store: LibraryStore, version: StoredVersion, *, actor: str, reason: str | None = None) -> StoredVersion:
    """A person's release of a quarantined version back to ``candidate``, in one transaction."""
    if version.status is not VersionStatus.QUARANTINED:
        raise ValidationError(f"{version.ref} is {version.status.value}, not quarantined")
    if not actor or actor == "governance":
        raise ValidationError("a release must name the person who releases the version (--actor)")
    why = reason or "released by a person"
    done = store.transition(version.name, namespace=version.namespace, actor=actor, reason=why, statuses=[
        StatusChange(version.id, VersionStatus.CANDIDATE, why, expected=(VersionStatus.QUARANTINED,)),
    ], events=[NewEvent(RELEASED, version.id, why, {"version": version.version})])
    return done.versions[0]
