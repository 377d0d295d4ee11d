"""The `LibraryStore` protocol and its records. Backends: SQLite (embedded default),
PostgreSQL (later), both on one SQLAlchemy Core code path.

Versions are immutable rows; aliases are what moves (compare-and-set only); every change
is an append-only event.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from skillbank.refs import format_ref

DEFAULT_NAMESPACE = "default"


class VersionStatus(str, enum.Enum):
    CANDIDATE = "candidate"
    CANARY = "canary"
    PROMOTED = "promoted"
    RETIRED = "retired"
    QUARANTINED = "quarantined"


class EventType(str, enum.Enum):
    CREATED = "created"
    CALLED = "called"
    FAILED = "failed"
    UPDATED = "updated"
    SAVED = "saved"
    EVALUATED = "evaluated"
    PROMOTED = "promoted"
    CANARIED = "canaried"
    ROLLED_BACK = "rolled_back"
    QUARANTINED = "quarantined"
    RETIRED = "retired"
    ALIAS_MOVED = "alias_moved"
    STATUS_CHANGED = "status_changed"
    ALIAS_REMOVED = "alias_removed"
    DELETED = "deleted"
    IMPORTED = "imported"
    # governance's own records (skillbank.governance.service)
    CASE_RECORDED = "case_recorded"
    CASE_ADDED = "case_added"
    OBSERVED = "observed"
    REDTEAMED = "redteamed"
    GATE_CHECKED = "gate_checked"
    APPROVED = "approved"
    RELEASED = "released"
    GOVERNANCE_ERROR = "governance_error"
    # the server's audit of a refused request
    ACCESS_DENIED = "access_denied"
    # a client's free-form note (the only kind a served library's event route takes, with
    # a client's own use of a version: called, failed, saved)
    NOTE = "note"


# What a client of a served library may record through its event route: its own use of
# versions and free-form notes. Governance reads none of them as evidence; every other
# type (evaluation, observation, red-team, gate, approval, lifecycle) has one writer: the
# library's governance and the store itself.
CLIENT_EVENT_TYPES = frozenset({EventType.NOTE.value, EventType.CALLED.value, EventType.FAILED.value,
                                EventType.SAVED.value})


@dataclass(frozen=True)
class Provenance:
    """Where a version came from. `query` (the task instruction that produced it) and
    `scenario_id` feed retrieval; `failure_log` is the error an update answered."""

    created_by: str = "user"
    task_id: str | None = None
    episode_id: str | None = None
    run_id: str | None = None
    scenario_id: str | None = None
    query: str | None = None
    parent_version_id: str | None = None
    failure_log: str | None = None


@dataclass(frozen=True)
class StoredVersion:
    id: str  # opaque, globally unique
    namespace: str
    name: str
    version: int  # 1, 2, 3 … per (namespace, name)
    content_hash: str
    source: str
    docstring: str | None
    signature: str  # e.g. "def f(a: int, b: str = 'x') -> list"
    input_schema: dict[str, Any] | None
    status: VersionStatus
    provenance: Provenance
    created_at: dt.datetime

    @property
    def ref(self) -> str:
        return format_ref(self.name, self.version)


@dataclass(frozen=True)
class Alias:
    namespace: str
    name: str
    alias: str
    version_id: str
    version: int
    generation: int  # bumps on every move; CAS compares it
    updated_at: dt.datetime


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    namespace: str
    name: str | None
    version_id: str | None
    actor: str
    reason: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    at: dt.datetime | None = None


@dataclass(frozen=True)
class AliasMove:
    """In a transition: point `alias` at `version_id` if the alias's generation is still
    `expected_generation` (None: the alias must not exist yet)."""

    alias: str
    version_id: str
    expected_generation: int | None


@dataclass(frozen=True)
class StatusChange:
    """In a transition: give `version_id` `status`. `expected`: the statuses it may have
    now (None: any); another one means someone changed it since it was read, and the
    whole transition is refused (`ConflictError`)."""

    version_id: str
    status: VersionStatus
    reason: str | None = None
    expected: tuple[VersionStatus, ...] | None = None


@dataclass(frozen=True)
class NewEvent:
    """In a transition: an event to append, about `version_id` (None: the skill)."""

    type: str
    version_id: str | None = None
    reason: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TransitionResult:
    aliases: tuple[Alias, ...]
    versions: tuple[StoredVersion, ...]  # the versions whose status was set, as they are now
    events: tuple[Event, ...]  # the transition's own events (not alias_moved/status_changed)


@dataclass(frozen=True)
class CallStats:
    version_id: str
    calls: int = 0
    successes: int = 0
    failures: int = 0
    total_latency_s: float = 0.0


@dataclass(frozen=True)
class LibraryChanges:
    """What changed in a namespace after a cursor (an event id), for readers that keep
    their own view of the library (retrieval indexes).

    Every change to a version (created, status, alias, deletion) writes an event naming
    the skill, so `names` are the skills touched since the cursor and `versions` all
    their versions as they are now (any status): a reader replaces what it holds for
    those names and ends up exactly where a full listing would put it. `cursor` is
    what to pass next time.
    """

    cursor: int
    names: tuple[str, ...]
    versions: tuple[StoredVersion, ...]


class LibraryStore(Protocol):
    """What every backend provides. Methods raise `NotFoundError`, `ConflictError` or
    `ValidationError` (from `skillbank.errors`) for problems the caller caused."""

    url: str

    # namespaces
    def create_namespace(self, namespace: str) -> None: ...
    def namespaces(self) -> list[str]: ...

    # versions
    def put_version(
        self,
        source: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        provenance: Provenance | None = None,
        status: VersionStatus = VersionStatus.CANDIDATE,
        actor: str | None = None,
    ) -> tuple[StoredVersion, bool]:
        """Parse and store `source`; returns (version, created). Same source twice in a
        namespace returns the existing version and created=False."""
        ...

    def get_version(self, name: str, ref: int | str | None = None, *, namespace: str = DEFAULT_NAMESPACE) -> StoredVersion:
        """`ref`: a version number, an alias name, or None for the latest version."""
        ...

    def get_version_by_id(self, version_id: str) -> StoredVersion: ...

    def list_versions(
        self,
        *,
        namespace: str | None = DEFAULT_NAMESPACE,
        status: VersionStatus | Sequence[VersionStatus] | None = None,
        alias: str | None = None,
        text: str | None = None,
        latest_only: bool = True,
        limit: int | None = None,
    ) -> list[StoredVersion]: ...

    def history(self, name: str, *, namespace: str = DEFAULT_NAMESPACE) -> list[StoredVersion]: ...

    def diff(self, name: str, v1: int | str, v2: int | str, *, namespace: str = DEFAULT_NAMESPACE) -> str: ...

    def set_status(self, version_id: str, status: VersionStatus, *, actor: str, reason: str | None = None) -> StoredVersion: ...

    # aliases (compare-and-set)
    def get_alias(self, name: str, alias: str, *, namespace: str = DEFAULT_NAMESPACE) -> Alias | None: ...
    def list_aliases(self, name: str | None = None, *, namespace: str = DEFAULT_NAMESPACE) -> list[Alias]: ...
    def set_alias(
        self,
        name: str,
        alias: str,
        version: int | str,
        *,
        expected_generation: int | None,
        namespace: str = DEFAULT_NAMESPACE,
        actor: str,
        reason: str | None = None,
    ) -> Alias:
        """Move `alias` to `version` only if its generation is still `expected_generation`
        (None: the alias must not exist yet). A stale move raises `ConflictError`."""
        ...

    def transition(
        self,
        name: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        actor: str,
        reason: str | None = None,
        aliases: Sequence[AliasMove] = (),
        statuses: Sequence[StatusChange] = (),
        events: Sequence[NewEvent] = (),
    ) -> TransitionResult:
        """One lifecycle step of skill `name` as one transaction: the alias moves
        (compare-and-set, each logged as ``alias_moved`` with `reason`), the status
        changes (``status_changed``) and `events`, all or none. A stale alias or an
        unexpected status raises `ConflictError` and changes nothing; every version named
        must be a version of `name` in `namespace`."""
        ...

    # events and statistics
    def record_event(
        self,
        type: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        name: str | None = None,
        version_id: str | None = None,
        actor: str,
        reason: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Event: ...

    def events(
        self,
        *,
        namespace: str | None = DEFAULT_NAMESPACE,
        name: str | None = None,
        type: str | Sequence[str] | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]: ...

    def record_call(self, version_id: str, *, ok: bool, latency_s: float) -> None: ...
    def call_stats(self, version_id: str) -> CallStats: ...

    # removal
    def remove_alias(
        self, name: str, alias: str, *, expected_generation: int | None = None,
        namespace: str = DEFAULT_NAMESPACE, actor: str, reason: str | None = None,
    ) -> Alias:
        """Delete `alias` (logged as ``alias_removed``); returns it as it was."""
        ...

    def delete_skill(
        self, name: str, *, namespace: str = DEFAULT_NAMESPACE, actor: str, reason: str | None = None,
    ) -> list[StoredVersion]:
        """Delete every version of `name`, its aliases and call statistics (logged as
        ``deleted``; earlier events stay); returns the deleted versions."""
        ...

    def event_types(self, *, namespace: str | None = DEFAULT_NAMESPACE) -> list[str]: ...
    # incremental readers
    def changes_since(self, cursor: int | None, *, namespace: str = DEFAULT_NAMESPACE) -> LibraryChanges:
        """Skills touched after event id `cursor` (None: only the current cursor)."""
        ...

    def retrievable_versions(
        self, *, namespace: str = DEFAULT_NAMESPACE, statuses: Sequence[VersionStatus], run_id: str | None = None,
    ) -> tuple[int, list[StoredVersion]]:
        """(cursor, versions) read in one transaction: every version of `namespace` whose
        status is in `statuses`, plus the candidates that `run_id` produced."""
        ...

    def stats(self, *, namespace: str | None = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """Versions (total and by status), skills, aliases and events, counted in the store."""
        ...

    # persisted embeddings (raw float32 bytes; the store does not interpret them)
    def get_embeddings(self, model: str, text_hashes: Sequence[str]) -> dict[str, bytes]: ...
    def put_embeddings(self, model: str, dim: int, vectors: dict[str, bytes]) -> int: ...

    def close(self) -> None: ...
