"""`SqlLibraryStore`: the `LibraryStore` on SQLAlchemy Core.

SQLite is the embedded default (one file, WAL). Every write runs in ``BEGIN IMMEDIATE``
so concurrent writers queue on SQLite's lock (with a generous busy timeout) instead of
failing halfway through a transaction with "database is locked". PostgreSQL uses the
same statements; there the unique constraints and the compare-and-set ``UPDATE`` carry
correctness, and a put that loses a race is retried.

Event types written by the store itself:

- ``created`` for every new version, plus ``updated`` when it is version 2+ of a name;
- ``alias_moved`` for every alias move (governance records ``promoted``/``canaried``/
  ``rolled_back`` itself, with its evidence);
- ``status_changed`` for every status change;
- ``alias_removed`` and ``deleted`` from :meth:`SqlLibraryStore.remove_alias` and
  :meth:`SqlLibraryStore.delete_skill`.

Calls are counted by :meth:`SqlLibraryStore.record_call` without writing events: the
caller decides whether a call deserves a ``called``/``failed`` event.

:meth:`SqlLibraryStore.transition` runs a lifecycle step (alias moves, status changes,
their events) in one write transaction; `set_alias` and `set_status` are its one-write
forms.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import enum
import json
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from skillbank.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from skillbank.skill import parse_skill
from skillbank.store import limits
from skillbank.store import schema as t
from skillbank.store.base import (
    DEFAULT_NAMESPACE,
    Alias,
    AliasMove,
    CallStats,
    Event,
    EventType,
    LibraryChanges,
    NewEvent,
    Provenance,
    StatusChange,
    StoredVersion,
    TransitionResult,
    VersionStatus,
)
from skillbank.store.serving import SERVED_STATUSES

_NAMESPACE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ALIAS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_EVENT_TYPE_RE = re.compile(r"[a-z][a-z0-9_.-]{0,39}")
_PUT_ATTEMPTS = 8
# Bound parameters per IN (...) list and rows per executemany batch.
_CHUNK = 500
_BATCH = 5_000
# PostgreSQL hands out sequence ids before commit, so without care a later event id could
# commit before an earlier one and a change-cursor reader would skip it. Every write
# transaction takes this transaction-scoped advisory lock first, so writers run one at a
# time (as SQLite's BEGIN IMMEDIATE makes them) and event ids commit in order.
_PG_WRITE_LOCK = 727_275


@dataclasses.dataclass(frozen=True)
class LibrarySnapshot:
    """Everything a library holds, for export/import; ids and times preserved."""

    namespaces: tuple[str, ...]
    versions: tuple[StoredVersion, ...]
    aliases: tuple[Alias, ...]
    events: tuple[Event, ...]
    call_stats: tuple[CallStats, ...]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ts(when: dt.datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _dt(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _enum_value(value: Any) -> str:
    # str-mixin enums format as "EventType.CREATED" under str(); the value is wanted.
    return value.value if isinstance(value, enum.Enum) else str(value)


def check_namespace(namespace: str) -> str:
    if not isinstance(namespace, str) or not _NAMESPACE_RE.fullmatch(namespace):
        raise ValidationError(
            f"invalid namespace {namespace!r}: use letters, digits, '_', '.', '-' (at most 64, starting with a letter or digit)"
        )
    return namespace


def check_alias_name(alias: str) -> str:
    if not isinstance(alias, str) or not _ALIAS_RE.fullmatch(alias) or alias.casefold() == "latest":
        raise ValidationError(
            f"invalid alias {alias!r}: use a letter then letters, digits, '_', '.', '-' (not a number, not 'latest')"
        )
    return alias


# Statements on the put path, built once: constructing SQLAlchemy expressions costs more
# than running them on SQLite.
_Q_BY_HASH = select(t.versions).where(
    t.versions.c.namespace == bindparam("ns"), t.versions.c.content_hash == bindparam("h")
)
_Q_LATEST = (
    select(t.versions.c.id, t.versions.c.version)
    .where(t.versions.c.namespace == bindparam("ns"), t.versions.c.name == bindparam("name"))
    .order_by(t.versions.c.version.desc())
    .limit(1)
)
_Q_NAMESPACE = select(t.namespaces.c.name).where(t.namespaces.c.name == bindparam("ns"))
_INSERT_VERSION = insert(t.versions)
# The incremental reader's statements (run once per task by every agent).
_Q_HEAD = select(func.coalesce(func.max(t.events.c.id), 0))
_Q_EVENT_NAMES = select(t.events.c.namespace, t.events.c.name).where(
    t.events.c.id > bindparam("low"), t.events.c.id <= bindparam("head")
)
_Q_VERSIONS_OF = (
    select(t.versions)
    .where(t.versions.c.namespace == bindparam("ns"), t.versions.c.name.in_(bindparam("names", expanding=True)))
    .order_by(t.versions.c.name, t.versions.c.version)
)
_INSERT_STATS = insert(t.call_stats)
_INSERT_EVENT = insert(t.events)


class SqlLibraryStore:
    """The skill library on a SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://``).

    Open it through :func:`skillbank.store.open_store`, which also accepts plain paths.
    """

    def __init__(self, url: str, *, busy_timeout_s: float = 60.0) -> None:
        self.url = url
        self._sqlite = url.startswith("sqlite")
        if self._sqlite:
            self.engine: Engine = create_engine(url, connect_args={"timeout": busy_timeout_s})
            _configure_sqlite(self.engine, busy_timeout_s)
            self._writer: Engine = self.engine.execution_options(skillbank_write=True)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
            self._writer = self.engine
        self._namespaces_seen: set[str] = set()
        # SQLite: this process's writers queue here, on a lock that wakes the next one at
        # once and in order, instead of on SQLite's busy handler, which sleeps in growing
        # steps (up to 100 ms) and lets a writer lose again and again: 8 threads recording
        # calls had a p99 of 245-358 ms and a worst case of 2.5-3 s without it, 66-96 ms and
        # 120-140 ms with it, at the same throughput (issue 27; a served library's writers
        # are threads of one process). Other processes still meet the busy handler.
        self._write_lock = threading.RLock() if self._sqlite else None
        with self._write() as conn:
            t.migrate(conn)
            self._ensure_namespace(conn, DEFAULT_NAMESPACE)
        self._namespaces_seen.add(DEFAULT_NAMESPACE)

    # -- plumbing ---------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        if self._write_lock is not None:
            with self._write_lock, self._write_unlocked() as conn:
                yield conn
        else:
            with self._write_unlocked() as conn:
                yield conn

    @contextmanager
    def _write_unlocked(self) -> Iterator[Connection]:
        try:
            with self._writer.begin() as conn:
                if not self._sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITE_LOCK})
                yield conn
        except DBAPIError as exc:
            # SQLite's own message quotes the whole statement (a skill's source with it)
            # and not the file; a read-only library is the user's to fix, so name it.
            if self._sqlite and _is_read_only(exc):
                raise ConfigError(f"library {self.engine.url.database!r} is read-only: skillbank needs write "
                                  "access to the file, to its directory and to its -wal and -shm files") from None
            raise

    def check_writable(self) -> None:
        """Raise `ConfigError` now if this library cannot take a write (a read-only SQLite
        file, directory or file system), rather than at the first save of a long job.

        It tries one: a no-op update in a transaction that is rolled back.
        """
        if not self._sqlite:
            return  # PostgreSQL: the server's grants decide, at the write
        with self._write() as conn:
            conn.execute(update(t.schema_version).values(version=t.schema_version.c.version))
            conn.rollback()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlLibraryStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- namespaces -------------------------------------------------------------------

    def _ensure_namespace(self, conn: Connection, namespace: str) -> None:
        # Namespaces are never deleted, so one seen committed needs no further look-up.
        if namespace in self._namespaces_seen:
            return
        exists = conn.execute(_Q_NAMESPACE, {"ns": namespace}).first()
        if exists is None:
            conn.execute(insert(t.namespaces), dict(name=namespace, created_at=_ts(utc_now())))

    def create_namespace(self, namespace: str) -> None:
        """Create `namespace` if it does not exist (idempotent)."""
        check_namespace(namespace)
        with self._write() as conn:
            self._ensure_namespace(conn, namespace)
        self._namespaces_seen.add(namespace)

    def namespaces(self) -> list[str]:
        with self._read() as conn:
            return list(conn.execute(select(t.namespaces.c.name).order_by(t.namespaces.c.name)).scalars())

    # -- versions ---------------------------------------------------------------------

    def put_version(
        self,
        source: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        provenance: Provenance | None = None,
        status: VersionStatus = VersionStatus.CANDIDATE,
        actor: str | None = None,
    ) -> tuple[StoredVersion, bool]:
        """Parse and store `source`; returns ``(version, created)``.

        A source whose content hash (normalised AST) is already stored in `namespace`
        returns that version with ``created=False`` and writes nothing, so re-formatted
        copies do not make new versions. For version 2+ of a name, a missing
        ``provenance.parent_version_id`` defaults to the latest earlier version.
        """
        check_namespace(namespace)
        skill = parse_skill(source)
        prov = provenance or Provenance()
        limits.check_provenance_fields(dataclasses.asdict(prov))
        status = VersionStatus(status)
        who = actor or prov.created_by
        for attempt in range(_PUT_ATTEMPTS):
            try:
                return self._put_once(skill, namespace, prov, status, who)
            except IntegrityError:
                # Only reachable where writers are not serialised (PostgreSQL): someone
                # inserted the same content or the same version number first. Retry
                # sees their row.
                if attempt == _PUT_ATTEMPTS - 1:
                    raise ConflictError(
                        f"could not store {skill.name!r} in {namespace!r}: lost {_PUT_ATTEMPTS} races to other writers"
                    ) from None
        raise AssertionError("unreachable")

    def _put_once(self, skill: Any, namespace: str, prov: Provenance, status: VersionStatus, who: str) -> tuple[StoredVersion, bool]:
        v = t.versions.c
        with self._write() as conn:
            row = conn.execute(_Q_BY_HASH, {"ns": namespace, "h": skill.content_hash}).first()
            if row is not None:
                return _version(row), False
            self._ensure_namespace(conn, namespace)
            previous = conn.execute(_Q_LATEST, {"ns": namespace, "name": skill.name}).first()
            number = 1 if previous is None else previous.version + 1
            if prov.parent_version_id is None and previous is not None:
                prov = dataclasses.replace(prov, parent_version_id=previous.id)
            elif (prov.parent_version_id is not None
                  and conn.execute(select(v.id).where(v.id == prov.parent_version_id,
                                                      v.namespace == namespace)).first() is None):
                # Another namespace's version is refused exactly like a missing one, so
                # the answer says nothing about what other namespaces hold.
                raise NotFoundError(f"parent version {prov.parent_version_id!r} does not exist in namespace {namespace!r}")
            now = utc_now()
            stored = StoredVersion(
                id=uuid.uuid4().hex,
                namespace=namespace,
                name=skill.name,
                version=number,
                content_hash=skill.content_hash,
                source=skill.source,
                docstring=skill.docstring,
                signature=skill.signature,
                input_schema=skill.input_schema,
                status=status,
                provenance=prov,
                created_at=now,
            )
            conn.execute(_INSERT_VERSION, _version_row(stored))
            conn.execute(_INSERT_STATS, dict(version_id=stored.id, calls=0, successes=0, failures=0, total_latency_s=0.0))
            created_payload = {
                "version": number,
                "content_hash": skill.content_hash,
                "status": status.value,
                "provenance": {k: val for k, val in dataclasses.asdict(prov).items() if val is not None},
            }
            self._insert_event(conn, EventType.CREATED, namespace, skill.name, stored.id, who, None, created_payload, now)
            if previous is not None:
                self._insert_event(
                    conn, EventType.UPDATED, namespace, skill.name, stored.id, who, prov.failure_log and "update after failure",
                    {"from_version": previous.version, "from_version_id": previous.id, "to_version": number,
                     "failure_log": prov.failure_log},
                    now,
                )
        self._namespaces_seen.add(namespace)
        return stored, True

    def get_version(self, name: str, ref: int | str | None = None, *, namespace: str = DEFAULT_NAMESPACE) -> StoredVersion:
        """`ref`: a version number (int or digits), an alias name, ``"latest"`` or None
        (latest)."""
        with self._read() as conn:
            return _version(self._resolve(conn, namespace, name, ref))

    def get_version_by_id(self, version_id: str) -> StoredVersion:
        with self._read() as conn:
            row = conn.execute(select(t.versions).where(t.versions.c.id == version_id)).first()
        if row is None:
            raise NotFoundError(f"no version with id {version_id!r}")
        return _version(row)

    def _resolve(self, conn: Connection, namespace: str, name: str, ref: int | str | None) -> Any:
        v = t.versions.c
        if isinstance(ref, bool):
            raise ValidationError(f"invalid version reference {ref!r}")
        if isinstance(ref, str) and ref.strip().isdigit():
            ref = int(ref.strip()) if len(ref.strip()) <= 20 else limits.MAX_INT64 + 1
        if isinstance(ref, int):
            limits.check_int(ref, "a version number", high=limits.MAX_INT32)
        if ref is None or ref == "latest":
            row = conn.execute(
                select(t.versions).where(v.namespace == namespace, v.name == name).order_by(v.version.desc()).limit(1)
            ).first()
        elif isinstance(ref, int):
            row = conn.execute(select(t.versions).where(v.namespace == namespace, v.name == name, v.version == ref)).first()
        else:
            a = t.aliases.c
            row = conn.execute(
                select(t.versions)
                .join(t.aliases, a.version_id == v.id)
                .where(a.namespace == namespace, a.name == name, a.alias == ref)
            ).first()
        if row is not None:
            return row
        latest = conn.execute(
            select(func.max(v.version)).where(v.namespace == namespace, v.name == name)
        ).scalar()
        if latest is None:
            raise NotFoundError(f"no skill {name!r} in namespace {namespace!r}")
        if isinstance(ref, int):
            raise NotFoundError(f"skill {name!r} has no version {ref} (latest is {latest})")
        raise NotFoundError(f"skill {name!r} has no alias {ref!r}")

    def list_versions(
        self,
        *,
        namespace: str | None = DEFAULT_NAMESPACE,
        status: VersionStatus | Sequence[VersionStatus] | None = None,
        alias: str | None = None,
        text: str | None = None,
        latest_only: bool = True,
        limit: int | None = None,
    ) -> list[StoredVersion]:
        """Versions matching every filter, ordered by namespace, name, version.

        `text` matches case-insensitively in the name, docstring, source or query.
        `latest_only` keeps, per name, the highest version among the matches (so with
        ``status=promoted`` it is the latest promoted version).
        """
        v = t.versions.c
        conds: list[Any] = []
        if namespace is not None:
            conds.append(v.namespace == namespace)
        if status is not None:
            wanted = [status] if isinstance(status, (str, VersionStatus)) else list(status)
            conds.append(v.status.in_([VersionStatus(s).value for s in wanted]))
        if text:
            pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conds.append(or_(*(func.lower(col).like(pattern, escape="\\") for col in (v.name, v.docstring, v.source, v.query))))

        def filtered(columns: Any) -> Any:
            q = select(*columns) if isinstance(columns, (list, tuple)) else select(columns)
            if alias is not None:
                a = t.aliases.c
                q = q.join(t.aliases, and_(a.version_id == v.id, a.alias == alias))
            return q.where(*conds)

        if latest_only:
            best = filtered([v.namespace, v.name, func.max(v.version).label("top")]).group_by(v.namespace, v.name).subquery()
            q = select(t.versions).join(
                best, and_(v.namespace == best.c.namespace, v.name == best.c.name, v.version == best.c.top)
            )
        else:
            q = filtered(t.versions)
        q = q.order_by(v.namespace, v.name, v.version)
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            return [_version(r) for r in conn.execute(q)]

    def history(self, name: str, *, namespace: str = DEFAULT_NAMESPACE) -> list[StoredVersion]:
        v = t.versions.c
        with self._read() as conn:
            rows = conn.execute(select(t.versions).where(v.namespace == namespace, v.name == name).order_by(v.version)).all()
        if not rows:
            raise NotFoundError(f"no skill {name!r} in namespace {namespace!r}")
        return [_version(r) for r in rows]

    def diff(self, name: str, v1: int | str, v2: int | str, *, namespace: str = DEFAULT_NAMESPACE) -> str:
        """Unified diff of the sources of two versions (numbers or aliases)."""
        with self._read() as conn:
            a = _version(self._resolve(conn, namespace, name, v1))
            b = _version(self._resolve(conn, namespace, name, v2))
        return "".join(
            difflib.unified_diff(
                a.source.splitlines(keepends=True), b.source.splitlines(keepends=True), fromfile=a.ref, tofile=b.ref
            )
        )

    def set_status(self, version_id: str, status: VersionStatus, *, actor: str, reason: str | None = None) -> StoredVersion:
        with self._write() as conn:
            return _version(self._change_status(conn, StatusChange(version_id, VersionStatus(status), reason), actor))

    def _change_status(self, conn: Connection, change: StatusChange, actor: str) -> Any:
        """Apply one status change inside the caller's transaction; returns the row after."""
        status = VersionStatus(change.status)
        version_id = change.version_id
        row = conn.execute(select(t.versions).where(t.versions.c.id == version_id)).first()
        if row is None:
            raise NotFoundError(f"no version with id {version_id!r}")
        if change.expected is not None and row.status not in {VersionStatus(x).value for x in change.expected}:
            raise ConflictError(f"{row.name}@{row.version} is {row.status} now, not "
                                f"{' or '.join(VersionStatus(x).value for x in change.expected)}; re-read and retry")
        if row.status != status.value:
            conn.execute(update(t.versions).where(t.versions.c.id == version_id).values(status=status.value))
            self._insert_event(
                conn, EventType.STATUS_CHANGED, row.namespace, row.name, version_id, actor, change.reason,
                {"version": row.version, "from": row.status, "to": status.value}, utc_now(),
            )
            row = conn.execute(select(t.versions).where(t.versions.c.id == version_id)).first()
        return row

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
        """Alias moves, status changes and events of one skill in one write transaction:
        a failure anywhere (a stale generation, an unexpected status, a crash) leaves the
        library as it was."""
        check_namespace(namespace)
        for move in aliases:
            check_alias_name(move.alias)
        bodies = []
        for ev in events:
            kind = _enum_value(ev.type)
            if not _EVENT_TYPE_RE.fullmatch(kind):
                raise ValidationError(f"invalid event type {kind!r}: use lower-case letters, digits, '_', '.', '-'")
            try:
                bodies.append(json.loads(json.dumps(ev.payload or {})))
            except (TypeError, ValueError) as exc:
                raise ValidationError(f"event payload is not JSON-serialisable: {exc}") from None
        v = t.versions.c
        try:
            with self._write() as conn:
                named = {m.version_id for m in aliases} | {c.version_id for c in statuses} \
                    | {e.version_id for e in events if e.version_id is not None}
                for vid in sorted(named):
                    row = conn.execute(select(v.namespace, v.name).where(v.id == vid)).first()
                    if row is None:
                        raise NotFoundError(f"no version with id {vid!r}")
                    if (row.namespace, row.name) != (namespace, name):
                        raise ValidationError(f"version id {vid!r} belongs to {row.name!r} in {row.namespace!r}, "
                                              f"not {name!r}")
                moved = tuple(self._move_alias(conn, namespace, name, m.alias, m.version_id, m.expected_generation,
                                               actor, reason) for m in aliases)
                changed = tuple(_version(self._change_status(conn, c, actor)) for c in statuses)
                recorded = []
                for ev, body in zip(events, bodies, strict=True):
                    at = utc_now()
                    kind = _enum_value(ev.type)
                    eid = self._insert_event(conn, kind, namespace, name, ev.version_id, actor, ev.reason, body, at)
                    recorded.append(Event(eid, kind, namespace, name, ev.version_id, actor, ev.reason, body, _dt(_ts(at))))
        except IntegrityError:
            # Two first-time alias creations raced (PostgreSQL); the loser is a stale move.
            raise ConflictError(f"an alias of {name!r} moved while this transition ran; re-read and retry") from None
        return TransitionResult(moved, changed, tuple(recorded))

    # -- aliases ----------------------------------------------------------------------

    def get_alias(self, name: str, alias: str, *, namespace: str = DEFAULT_NAMESPACE) -> Alias | None:
        a = t.aliases.c
        with self._read() as conn:
            row = conn.execute(_alias_select().where(a.namespace == namespace, a.name == name, a.alias == alias)).first()
        return None if row is None else _alias(row)

    def list_aliases(self, name: str | None = None, *, namespace: str = DEFAULT_NAMESPACE) -> list[Alias]:
        a = t.aliases.c
        q = _alias_select().where(a.namespace == namespace)
        if name is not None:
            q = q.where(a.name == name)
        with self._read() as conn:
            return [_alias(r) for r in conn.execute(q.order_by(a.name, a.alias))]

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
        """Point `alias` at `version` (a number, another alias, or a version id) if its
        generation is still `expected_generation` (None: it must not exist yet)."""
        check_alias_name(alias)
        if expected_generation is not None:
            limits.check_int(expected_generation, "expected_generation")
        try:
            with self._write() as conn:
                return self._move_alias(conn, namespace, name, alias, version, expected_generation, actor, reason)
        except IntegrityError:
            # Two first-time creations raced (PostgreSQL); the loser is a stale move.
            found = self.get_alias(name, alias, namespace=namespace)
            raise _conflict(name, alias, expected_generation, None if found is None else found.generation) from None

    def _move_alias(self, conn: Connection, namespace: str, name: str, alias: str, version: int | str,
                    expected_generation: int | None, actor: str, reason: str | None) -> Alias:
        """One compare-and-set alias move inside the caller's transaction."""
        a = t.aliases.c
        target = self._resolve_target(conn, namespace, name, version)
        current = conn.execute(
            select(t.aliases).where(a.namespace == namespace, a.name == name, a.alias == alias)
        ).first()
        now = _ts(utc_now())
        if expected_generation is None:
            if current is not None:
                raise _conflict(name, alias, None, current.generation)
            conn.execute(insert(t.aliases), dict(
                namespace=namespace, name=name, alias=alias, version_id=target.id, generation=1, updated_at=now
            ))
            generation = 1
        elif current is not None and current.version_id == target.id and current.generation == expected_generation:
            # Already there: a no-op, so no event and the generation stays.
            return Alias(namespace, name, alias, target.id, target.version, current.generation, _dt(current.updated_at))
        else:
            moved = conn.execute(
                update(t.aliases)
                .where(a.namespace == namespace, a.name == name, a.alias == alias, a.generation == expected_generation)
                .values(version_id=target.id, generation=a.generation + 1, updated_at=now)
            )
            if moved.rowcount != 1:
                raise _conflict(name, alias, expected_generation, None if current is None else current.generation)
            generation = expected_generation + 1
        previous = None
        if current is not None:
            previous = conn.execute(select(t.versions.c.version).where(t.versions.c.id == current.version_id)).scalar()
        self._insert_event(
            conn, EventType.ALIAS_MOVED, namespace, name, target.id, actor, reason,
            {"alias": alias, "from_version": previous, "from_version_id": None if current is None else current.version_id,
             "to_version": target.version, "generation": generation},
            _dt(now),
        )
        return Alias(namespace, name, alias, target.id, target.version, generation, _dt(now))

    def _resolve_target(self, conn: Connection, namespace: str, name: str, version: int | str) -> Any:
        if isinstance(version, str) and len(version) == 32 and not version.isdigit():
            row = conn.execute(select(t.versions).where(t.versions.c.id == version)).first()
            if row is not None and row.namespace == namespace:
                # (another namespace's id falls through to "not found": no oracle)
                if row.name != name:
                    raise ValidationError(f"version id {version!r} belongs to {row.name!r} in {row.namespace!r}, not {name!r}")
                return row
        return self._resolve(conn, namespace, name, version)

    # -- events and statistics --------------------------------------------------------

    def _insert_event(
        self, conn: Connection, type: Any, namespace: str, name: str | None, version_id: str | None,
        actor: str, reason: str | None, payload: dict[str, Any] | None, at: dt.datetime,
    ) -> int:
        result = conn.execute(_INSERT_EVENT, dict(
            type=_enum_value(type), namespace=namespace, name=name, version_id=version_id, actor=actor,
            reason=reason, payload=json.dumps(payload or {}, sort_keys=True, default=str), at=_ts(at),
        ))
        key = result.inserted_primary_key
        if key is None:  # a one-row INSERT always reports its key
            raise RuntimeError("the event INSERT reported no primary key")
        return int(key[0])

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
    ) -> Event:
        kind = _enum_value(type)
        if not _EVENT_TYPE_RE.fullmatch(kind):
            raise ValidationError(f"invalid event type {kind!r}: use lower-case letters, digits, '_', '.', '-'")
        check_namespace(namespace)
        limits.check_text(name, limits.EVENT_NAME_MAX, "event name")
        limits.check_text(actor, limits.EVENT_ACTOR_MAX, "event actor")
        limits.check_text(version_id, limits.EVENT_VERSION_ID_MAX, "event version_id")
        limits.check_text(reason, limits.EVENT_REASON_MAX, "event reason")
        body = json.loads(limits.check_payload(payload or {}))
        at = utc_now()
        with self._write() as conn:
            if version_id is not None:
                row = conn.execute(select(t.versions.c.name).where(t.versions.c.id == version_id)).first()
                if row is None:
                    raise NotFoundError(f"no version with id {version_id!r}")
                name = name or row.name
            event_id = self._insert_event(conn, kind, namespace, name, version_id, actor, reason, body, at)
        return Event(event_id, kind, namespace, name, version_id, actor, reason, body, _dt(_ts(at)))

    def events(
        self,
        *,
        namespace: str | None = DEFAULT_NAMESPACE,
        name: str | None = None,
        type: str | Sequence[str] | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int | None = None,
        before_id: int | None = None,
        after_id: int | None = None,
    ) -> list[Event]:
        """Events in the order they happened; with `limit`, the most recent `limit`.
        `since` is inclusive, `until` exclusive; `before_id`/`after_id` keep the events
        whose id is below/above them (pages of a long log)."""
        e = t.events.c
        q = select(t.events)
        if before_id is not None:
            q = q.where(e.id < limits.check_int(before_id, "before_id", high=limits.MAX_INT64))
        if after_id is not None:
            q = q.where(e.id > limits.check_int(after_id, "after_id", high=limits.MAX_INT64))
        if namespace is not None:
            q = q.where(e.namespace == namespace)
        if name is not None:
            q = q.where(e.name == name)
        if type is not None:
            kinds = [type] if isinstance(type, (str, enum.Enum)) else list(type)
            q = q.where(e.type.in_([_enum_value(k) for k in kinds]))
        if since is not None:
            q = q.where(e.at >= _ts(since))
        if until is not None:
            q = q.where(e.at < _ts(until))
        if limit is not None:
            q = q.order_by(e.id.desc()).limit(limit)
        else:
            q = q.order_by(e.id)
        with self._read() as conn:
            rows = [_event(r) for r in conn.execute(q)]
        return sorted(rows, key=lambda ev: ev.id) if limit is not None else rows

    def record_call(self, version_id: str, *, ok: bool, latency_s: float) -> None:
        """Count one call; a single UPDATE, so concurrent callers never lose counts."""
        s = t.call_stats.c
        with self._write() as conn:
            result = conn.execute(
                update(t.call_stats)
                .where(s.version_id == version_id)
                .values(
                    calls=s.calls + 1,
                    successes=s.successes + (1 if ok else 0),
                    failures=s.failures + (0 if ok else 1),
                    total_latency_s=s.total_latency_s + float(latency_s),
                )
            )
            if result.rowcount != 1:
                raise NotFoundError(f"no version with id {version_id!r}")

    def call_stats(self, version_id: str) -> CallStats:
        with self._read() as conn:
            row = conn.execute(select(t.call_stats).where(t.call_stats.c.version_id == version_id)).first()
        if row is None:
            raise NotFoundError(f"no version with id {version_id!r}")
        return CallStats(row.version_id, row.calls, row.successes, row.failures, row.total_latency_s)

    # -- incremental readers ----------------------------------------------------------

    def changes_since(self, cursor: int | None, *, namespace: str = DEFAULT_NAMESPACE) -> LibraryChanges:
        """Skills of `namespace` touched by events after `cursor`, with all their current
        versions; ``None`` returns only the current cursor (the newest event id).

        One indexed range read on the events table plus one read per touched skill, so
        the cost follows what changed, not the size of the library. Writers are
        serialised on both backends (SQLite's write lock; a PostgreSQL advisory lock), so
        event ids commit in order and no id can appear behind a cursor already read.
        """
        with self._read() as conn, conn.begin():
            head = conn.execute(_Q_HEAD).scalar_one()
            if cursor is None or cursor >= head:
                return LibraryChanges(int(head), (), ())
            low = int(cursor)
            # The id range alone, so SQLite walks the primary key from the cursor (with the
            # namespace in the WHERE it may pick the per-name index and scan the namespace).
            names = sorted({name for ns, name in conn.execute(_Q_EVENT_NAMES, {"low": low, "head": head})
                            if ns == namespace and name is not None})
            found: list[StoredVersion] = []
            for i in range(0, len(names), _CHUNK):
                found.extend(_version(r) for r in conn.execute(_Q_VERSIONS_OF, {"ns": namespace, "names": names[i:i + _CHUNK]}))
        return LibraryChanges(int(head), tuple(names), tuple(found))

    def retrievable_versions(
        self,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        statuses: Sequence[VersionStatus] = SERVED_STATUSES,
        run_id: str | None = None,
    ) -> tuple[int, list[StoredVersion]]:
        """``(cursor, versions)`` in one read transaction: the versions of `namespace`
        whose status is in `statuses`, plus the candidates `run_id` produced; filtered in
        SQL on the (namespace, status, run_id) index. Pass the cursor to
        :meth:`changes_since` to follow the library from there."""
        v = t.versions.c
        cond: ColumnElement[bool] = v.status.in_([VersionStatus(s).value for s in statuses])
        if run_id is not None:
            cond = or_(cond, and_(v.status == VersionStatus.CANDIDATE.value, v.run_id == run_id))
        with self._read() as conn, conn.begin():
            head = conn.execute(select(func.coalesce(func.max(t.events.c.id), 0))).scalar_one()
            rows = conn.execute(select(t.versions).where(v.namespace == namespace, cond).order_by(v.name, v.version))
            found = [_version(r) for r in rows]
        return int(head), found

    def stats(self, *, namespace: str | None = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """Counts of the library (versions by status, skills, aliases, events), each one
        SQL aggregate: no row reaches Python."""
        v, a, e = t.versions.c, t.aliases.c, t.events.c

        def scoped(q: Any, col: Any) -> Any:
            return q if namespace is None else q.where(col == namespace)

        with self._read() as conn, conn.begin():
            by_status = dict(conn.execute(scoped(select(v.status, func.count()), v.namespace).group_by(v.status)).all())
            skills = conn.execute(scoped(select(func.count(func.distinct(v.name))), v.namespace)).scalar_one()
            aliases = conn.execute(scoped(select(func.count()).select_from(t.aliases), a.namespace)).scalar_one()
            events = conn.execute(scoped(select(func.count()).select_from(t.events), e.namespace)).scalar_one()
        return {
            "namespace": namespace,
            "versions": int(sum(by_status.values())),
            "skills": int(skills),
            "by_status": {s.value: int(by_status.get(s.value, 0)) for s in VersionStatus},
            "aliases": int(aliases),
            "events": int(events),
        }

    # -- persisted embeddings ---------------------------------------------------------

    def get_embeddings(self, model: str, text_hashes: Sequence[str]) -> dict[str, bytes]:
        """The stored vectors (raw bytes) of those `text_hashes` that `model` has encoded."""
        em = t.embeddings.c
        wanted = list(dict.fromkeys(text_hashes))
        out: dict[str, bytes] = {}
        with self._read() as conn:
            for i in range(0, len(wanted), _CHUNK):
                q = select(em.text_hash, em.vector).where(em.model == model, em.text_hash.in_(wanted[i:i + _CHUNK]))
                out.update((h, bytes(vec)) for h, vec in conn.execute(q))
        return out

    def put_embeddings(self, model: str, dim: int, vectors: dict[str, bytes]) -> int:
        """Keep `vectors` (text hash -> raw bytes) for `model`; already stored ones are
        left as they are. Returns how many were new."""
        if not vectors:
            return 0
        if not isinstance(model, str) or not model or len(model) > 200:
            raise ValidationError(f"invalid embedding model name {model!r}")
        em = t.embeddings.c
        new = 0
        with self._write() as conn:
            items = list(vectors.items())
            for i in range(0, len(items), _CHUNK):
                chunk = dict(items[i:i + _CHUNK])
                held = set(conn.execute(
                    select(em.text_hash).where(em.model == model, em.text_hash.in_(list(chunk)))
                ).scalars())
                rows = [dict(model=model, text_hash=h, dim=int(dim), vector=bytes(b)) for h, b in chunk.items() if h not in held]
                if rows:
                    conn.execute(insert(t.embeddings), rows)
                    new += len(rows)
        return new

    # -- export / import --------------------------------------------------------------

    def snapshot(self) -> LibrarySnapshot:
        """Everything, read in one transaction so the parts agree."""
        with self._read() as conn, conn.begin():
            return LibrarySnapshot(
                namespaces=tuple(conn.execute(select(t.namespaces.c.name).order_by(t.namespaces.c.name)).scalars()),
                versions=tuple(_version(r) for r in conn.execute(
                    select(t.versions).order_by(t.versions.c.namespace, t.versions.c.name, t.versions.c.version))),
                aliases=tuple(_alias(r) for r in conn.execute(
                    _alias_select().order_by(t.aliases.c.namespace, t.aliases.c.name, t.aliases.c.alias))),
                events=tuple(_event(r) for r in conn.execute(select(t.events).order_by(t.events.c.id))),
                call_stats=tuple(CallStats(r.version_id, r.calls, r.successes, r.failures, r.total_latency_s)
                                 for r in conn.execute(select(t.call_stats).order_by(t.call_stats.c.version_id))),
            )

    def restore(self, snap: LibrarySnapshot) -> dict[str, Any]:
        """Load a snapshot in one write transaction, in batches: all of it lands or none.

        Into an empty library it is exact (ids, numbers, generations, event ids). Into a
        non-empty one it merges: a version whose content is already stored in its
        namespace is skipped; a new one gets the next number of its name (reported when
        that differs from the export) and keeps its id unless the id is taken; an alias
        the library already has at another version is reported as a conflict and left
        alone; the imported versions' events are appended with new ids, plus one
        ``imported`` event per skill that gained versions.

        Returns counts and the lists ``conflicts`` and ``renumbered`` (plain sentences).
        """
        _check_snapshot(snap)
        with self._write() as conn:
            held = conn.execute(select(func.count()).select_from(t.versions)).scalar_one()
            logged = conn.execute(select(func.count()).select_from(t.events)).scalar_one()
            for ns in sorted(set(snap.namespaces) | {sv.namespace for sv in snap.versions}):
                self._ensure_namespace(conn, ns)
            if held or logged:
                report = self._merge(conn, snap)
            else:
                report = self._restore_exact(conn, snap)
        self._namespaces_seen.update(snap.namespaces)
        return report

    def _restore_exact(self, conn: Connection, snap: LibrarySnapshot) -> dict[str, Any]:
        stats = {s.version_id: s for s in snap.call_stats}
        _insert_batches(conn, t.versions, [_version_row(sv) for sv in snap.versions])
        _insert_batches(conn, t.call_stats, [_stats_row(stats.get(sv.id, CallStats(sv.id))) for sv in snap.versions])
        _insert_batches(conn, t.aliases, [dict(
            namespace=al.namespace, name=al.name, alias=al.alias, version_id=al.version_id,
            generation=al.generation, updated_at=_ts(al.updated_at),
        ) for al in snap.aliases])
        _insert_batches(conn, t.events, [dict(_event_row(ev), id=ev.id) for ev in snap.events])
        if not self._sqlite and snap.events:
            # Explicit ids do not advance PostgreSQL's sequence; later inserts must
            # not collide with the restored ones.
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT MAX(id) FROM events))")
        return {"versions": len(snap.versions), "skipped": 0, "aliases": len(snap.aliases), "events": len(snap.events),
                "conflicts": [], "renumbered": [], "merged": False}

    def _merge(self, conn: Connection, snap: LibrarySnapshot) -> dict[str, Any]:
        v = t.versions.c
        a = t.aliases.c
        spaces = sorted({sv.namespace for sv in snap.versions} | {al.namespace for al in snap.aliases})
        by_hash: dict[tuple[str, str], Any] = {}
        top: dict[tuple[str, str], int] = {}
        for ns in spaces:
            for row in conn.execute(select(v.id, v.name, v.version, v.content_hash, v.status).where(v.namespace == ns)):
                by_hash[(ns, row.content_hash)] = row
                top[(ns, row.name)] = max(top.get((ns, row.name), 0), row.version)
        incoming_ids = [sv.id for sv in snap.versions]
        taken: set[str] = set()
        for i in range(0, len(incoming_ids), _CHUNK):
            taken.update(conn.execute(select(v.id).where(v.id.in_(incoming_ids[i:i + _CHUNK]))).scalars())
        id_map: dict[str, str] = {}
        number_of: dict[str, int] = {}
        new_versions: list[StoredVersion] = []
        conflicts: list[str] = []
        renumbered: list[str] = []
        skipped = 0
        for sv in sorted(snap.versions, key=lambda x: (x.namespace, x.name, x.version)):
            found = by_hash.get((sv.namespace, sv.content_hash))
            if found is not None:
                id_map[sv.id] = found.id
                number_of[found.id] = found.version
                skipped += 1
                if found.status != VersionStatus(sv.status).value:
                    conflicts.append(f"{sv.namespace}/{sv.name}@{found.version}: already stored as {found.status}, "
                                     f"export says {VersionStatus(sv.status).value}; kept {found.status}")
                continue
            number = top.get((sv.namespace, sv.name), 0) + 1
            top[(sv.namespace, sv.name)] = number
            new_id = sv.id if sv.id not in taken else uuid.uuid4().hex
            taken.add(new_id)
            id_map[sv.id] = new_id
            number_of[new_id] = number
            if number != sv.version:
                renumbered.append(f"{sv.namespace}/{sv.name}@{sv.version} stored as @{number}")
            new_versions.append(dataclasses.replace(sv, id=new_id, version=number))
        new_ids = {nv.id for nv in new_versions}
        rows = []
        for nv in new_versions:
            parent = nv.provenance.parent_version_id
            if parent is not None:
                parent = id_map.get(parent)  # an export holds whole histories; anything else is dropped
            rows.append(_version_row(dataclasses.replace(nv, provenance=dataclasses.replace(nv.provenance, parent_version_id=parent))))
        _insert_batches(conn, t.versions, rows)
        stats = {id_map.get(s.version_id): s for s in snap.call_stats}
        _insert_batches(conn, t.call_stats, [
            _stats_row(dataclasses.replace(stats.get(i) or CallStats(i), version_id=i)) for i in sorted(new_ids)
        ])
        now = utc_now()
        exported_number = {sv.id: sv.version for sv in snap.versions}
        alias_rows: list[dict[str, Any]] = []
        alias_events: list[dict[str, Any]] = []
        added_aliases = 0
        for al in snap.aliases:
            target = id_map[al.version_id]
            current = conn.execute(select(a.version_id).where(
                a.namespace == al.namespace, a.name == al.name, a.alias == al.alias)).scalar()
            if current == target:
                continue
            if current is not None:
                here = conn.execute(select(v.version).where(v.id == current)).scalar()
                theirs = exported_number[al.version_id]
                stored_as = "" if number_of[target] == theirs else f" (stored here as version {number_of[target]})"
                conflicts.append(f"{al.namespace}/{al.name}@{al.alias}: the library points it at version {here}, "
                                 f"the export at version {theirs}{stored_as}; kept version {here}")
                continue
            alias_rows.append(dict(namespace=al.namespace, name=al.name, alias=al.alias, version_id=target,
                                   generation=1, updated_at=_ts(now)))
            alias_events.append(dict(_event_row(Event(0, EventType.ALIAS_MOVED.value, al.namespace, al.name, target, "import",
                                                       "import", {"alias": al.alias, "from_version": None, "from_version_id": None,
                                                                  "to_version": number_of[target], "generation": 1}, now))))
            added_aliases += 1
        _insert_batches(conn, t.aliases, alias_rows)
        history = [
            _event_row(dataclasses.replace(ev, version_id=id_map[ev.version_id]))
            for ev in sorted(snap.events, key=lambda e: e.id)
            if ev.version_id is not None and id_map.get(ev.version_id) in new_ids
        ]
        gained: dict[tuple[str, str], list[int]] = {}
        for nv in new_versions:
            gained.setdefault((nv.namespace, nv.name), []).append(nv.version)
        # One event per skill that gained versions: readers that follow the event log
        # (retrieval indexes) see every imported version, whatever the export's history holds.
        marks = [_event_row(Event(0, EventType.IMPORTED.value, ns, name, None, "import", "import", {"versions": numbers}, now))
                 for (ns, name), numbers in sorted(gained.items())]
        _insert_batches(conn, t.events, history + alias_events + marks)
        return {"versions": len(new_versions), "skipped": skipped, "aliases": added_aliases,
                "events": len(history) + len(alias_events) + len(marks), "conflicts": conflicts, "renumbered": renumbered,
                "merged": True}

    # -- removal (skills rm, alias rm) -------------------------------------------------

    def remove_alias(
        self, name: str, alias: str, *, expected_generation: int | None = None,
        namespace: str = DEFAULT_NAMESPACE, actor: str, reason: str | None = None,
    ) -> Alias:
        """Delete `alias` of `name` (compare-and-set when `expected_generation` is given)
        and log an ``alias_removed`` event; returns the alias as it was."""
        a = t.aliases.c
        if expected_generation is not None:
            limits.check_int(expected_generation, "expected_generation")
        with self._write() as conn:
            row = conn.execute(
                _alias_select().where(a.namespace == namespace, a.name == name, a.alias == alias)
            ).first()
            if row is None:
                raise NotFoundError(f"skill {name!r} has no alias {alias!r} in namespace {namespace!r}")
            if expected_generation is not None and row.generation != expected_generation:
                raise _conflict(name, alias, expected_generation, row.generation)
            conn.execute(t.aliases.delete().where(
                a.namespace == namespace, a.name == name, a.alias == alias, a.generation == row.generation))
            self._insert_event(
                conn, EventType.ALIAS_REMOVED, namespace, name, row.version_id, actor, reason,
                {"alias": alias, "version": row.version, "generation": row.generation}, utc_now(),
            )
        return _alias(row)

    def delete_skill(
        self, name: str, *, namespace: str = DEFAULT_NAMESPACE, actor: str, reason: str | None = None,
    ) -> list[StoredVersion]:
        """Delete every version of `name` with its aliases and call statistics, in one
        transaction, and log a ``deleted`` event naming what went. The event log keeps
        the skill's earlier events. Returns the deleted versions."""
        v, a, s = t.versions.c, t.aliases.c, t.call_stats.c
        with self._write() as conn:
            rows = conn.execute(
                select(t.versions).where(v.namespace == namespace, v.name == name).order_by(v.version)
            ).all()
            if not rows:
                raise NotFoundError(f"no skill {name!r} in namespace {namespace!r}")
            gone = [_version(r) for r in rows]
            ids = [sv.id for sv in gone]
            aliases = [r.alias for r in conn.execute(
                select(a.alias).where(a.namespace == namespace, a.name == name).order_by(a.alias))]
            conn.execute(t.aliases.delete().where(a.namespace == namespace, a.name == name))
            conn.execute(t.call_stats.delete().where(s.version_id.in_(ids)))
            conn.execute(t.versions.delete().where(v.id.in_(ids)))
            self._insert_event(
                conn, EventType.DELETED, namespace, name, None, actor, reason,
                {"versions": [sv.version for sv in gone], "version_ids": ids, "aliases": aliases}, utc_now(),
            )
        return gone

    # -- bounded summaries for the dashboard (issue 27) ------------------------------

    def call_totals(self, names: Sequence[str], *, namespace: str = DEFAULT_NAMESPACE) -> dict[str, int]:
        """Calls of all versions of each of `names`, summed in SQL."""
        v, s = t.versions.c, t.call_stats.c
        out: dict[str, int] = {}
        wanted = list(dict.fromkeys(names))
        with self._read() as conn:
            for i in range(0, len(wanted), _CHUNK):
                q = (select(v.name, func.sum(s.calls)).join(t.call_stats, s.version_id == v.id)
                     .where(v.namespace == namespace, v.name.in_(wanted[i:i + _CHUNK])).group_by(v.name))
                out.update((name, int(total or 0)) for name, total in conn.execute(q))
        return out

    def most_called(self, *, namespace: str = DEFAULT_NAMESPACE, limit: int = 10) -> list[tuple[StoredVersion, CallStats]]:
        """The `limit` versions of `namespace` with the most calls (at least one), most first."""
        v, s = t.versions.c, t.call_stats.c
        limits.check_int(limit, "limit", low=1, high=10_000)
        q = (select(t.versions, s.calls, s.successes, s.failures, s.total_latency_s)
             .join(t.call_stats, s.version_id == v.id)
             .where(v.namespace == namespace, s.calls > 0).order_by(s.calls.desc(), v.name, v.version).limit(limit))
        with self._read() as conn:
            return [(_version(r), CallStats(r.id, r.calls, r.successes, r.failures, r.total_latency_s))
                    for r in conn.execute(q)]

    # -- the refused-request log (issue 27) -------------------------------------------

    def record_access_denials(
        self, counts: Sequence[tuple[str, int, int, dt.datetime, dt.datetime]], samples: Sequence[dict[str, Any]],
        *, keep_samples: int = 10_000,
    ) -> None:
        """Add `counts` ``(client, status, n, first, last)`` to the per-client tallies and
        append `samples` (dicts of access_samples' columns, ``at`` a datetime), keeping
        only the newest `keep_samples` samples; one write transaction."""
        d, sm = t.access_denials.c, t.access_samples.c
        with self._write() as conn:
            for client, status, n, first, last in counts:
                moved = conn.execute(update(t.access_denials).where(d.client == client, d.status == status)
                                     .values(count=d.count + n, last_at=_ts(last)))
                if moved.rowcount == 0:
                    conn.execute(insert(t.access_denials), dict(client=client, status=status, count=n,
                                                                first_at=_ts(first), last_at=_ts(last)))
            if samples:
                conn.execute(insert(t.access_samples), [dict(s, at=_ts(s["at"])) for s in samples])
                top = conn.execute(select(func.max(sm.id))).scalar_one()
                conn.execute(t.access_samples.delete().where(sm.id <= top - keep_samples))

    def access_denials(self, *, limit: int = 100, client: str | None = None) -> dict[str, Any]:
        """The refused-request log: per-client tallies (most recent first) and the
        newest `limit` samples (oldest first)."""
        d, sm = t.access_denials.c, t.access_samples.c
        limits.check_int(limit, "limit", low=1, high=100_000)
        tallies = select(t.access_denials).order_by(d.last_at.desc(), d.client, d.status).limit(limit)
        recent = select(t.access_samples).order_by(sm.id.desc()).limit(limit)
        if client is not None:
            tallies, recent = tallies.where(d.client == client), recent.where(sm.client == client)
        with self._read() as conn, conn.begin():
            clients = [dict(r._mapping) for r in conn.execute(tallies)]
            samples = [dict(r._mapping) for r in conn.execute(recent)][::-1]
        return {"clients": clients, "samples": samples}

    def event_types(self, *, namespace: str | None = DEFAULT_NAMESPACE) -> list[str]:
        """The distinct event types the log holds (of `namespace`; None: all)."""
        e = t.events.c
        q = select(e.type).distinct().order_by(e.type)
        if namespace is not None:
            q = q.where(e.namespace == namespace)
        with self._read() as conn:
            return list(conn.execute(q).scalars())


def _check_snapshot(snap: LibrarySnapshot) -> None:
    """Everything a snapshot must satisfy before a single row is written, so a bad export
    fails with one sentence instead of a database constraint error."""
    for ns in snap.namespaces:
        check_namespace(ns)
    ids: set[str] = set()
    seen_hash: set[tuple[str, str]] = set()
    seen_number: set[tuple[str, str, int]] = set()
    for sv in snap.versions:
        check_namespace(sv.namespace)
        if sv.id in ids:
            raise ValidationError(f"the export holds version id {sv.id!r} twice")
        if (sv.namespace, sv.content_hash) in seen_hash:
            raise ValidationError(f"the export holds the content of {sv.name}@{sv.version} twice in {sv.namespace!r}")
        if (sv.namespace, sv.name, sv.version) in seen_number:
            raise ValidationError(f"the export holds {sv.namespace}/{sv.name}@{sv.version} twice")
        ids.add(sv.id)
        seen_hash.add((sv.namespace, sv.content_hash))
        seen_number.add((sv.namespace, sv.name, sv.version))
    where = {sv.id: (sv.namespace, sv.name) for sv in snap.versions}
    for al in snap.aliases:
        check_alias_name(al.alias)
        if al.version_id not in where:
            raise ValidationError(
                f"alias {al.alias!r} of {al.name!r} names version id {al.version_id!r}, which the export does not hold"
            )
        if where[al.version_id] != (al.namespace, al.name):
            raise ValidationError(f"alias {al.alias!r} of {al.name!r} names a version of another skill")


def _insert_batches(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), _BATCH):
        conn.execute(insert(table), rows[i:i + _BATCH])


def _stats_row(s: CallStats) -> dict[str, Any]:
    return dict(version_id=s.version_id, calls=s.calls, successes=s.successes, failures=s.failures,
                total_latency_s=s.total_latency_s)


def _event_row(ev: Event) -> dict[str, Any]:
    return dict(type=ev.type, namespace=ev.namespace, name=ev.name, version_id=ev.version_id, actor=ev.actor,
                reason=ev.reason, payload=json.dumps(ev.payload, sort_keys=True, default=str), at=_ts(ev.at or utc_now()))

# -- row <-> record ---------------------------------------------------------------------


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" hook below; pysqlite's own
        # implicit BEGIN would be DEFERRED and upgrade to a write lock mid-transaction,
        # which is where "database is locked" comes from.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode: a committed transaction survives a process crash; only an
        # OS crash or power loss may drop the last few, which never corrupts the file.
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("skillbank_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _is_read_only(exc: DBAPIError) -> bool:
    """Whether SQLite refused a write because its file, directory or file system is read-only."""
    orig = exc.orig
    return isinstance(orig, sqlite3.Error) and orig.sqlite_errorcode & 0xFF == sqlite3.SQLITE_READONLY


def _conflict(name: str, alias: str, expected: int | None, actual: int | None) -> ConflictError:
    exp = "none (alias absent)" if expected is None else str(expected)
    act = "none (alias absent)" if actual is None else str(actual)
    return ConflictError(f"alias {alias!r} of skill {name!r} moved: expected generation {exp}, actual {act}")


def _version_row(sv: StoredVersion) -> dict[str, Any]:
    p = sv.provenance
    return {
        "id": sv.id, "namespace": sv.namespace, "name": sv.name, "version": sv.version,
        "content_hash": sv.content_hash, "source": sv.source, "docstring": sv.docstring, "signature": sv.signature,
        "input_schema": None if sv.input_schema is None else json.dumps(sv.input_schema, sort_keys=True),
        "status": VersionStatus(sv.status).value, "created_by": p.created_by, "task_id": p.task_id,
        "episode_id": p.episode_id, "run_id": p.run_id, "scenario_id": p.scenario_id, "query": p.query,
        "parent_version_id": p.parent_version_id, "failure_log": p.failure_log, "created_at": _ts(sv.created_at),
    }


_STATUS_OF = {s.value: s for s in VersionStatus}


def _version(row: Any) -> StoredVersion:
    # Positional access and a status table: this runs once per row of every listing, and
    # attribute access plus enum construction were most of a 100k-row read.
    (id_, namespace, name, version, content_hash, source, docstring, signature, input_schema, status, created_by,
     task_id, episode_id, run_id, scenario_id, query, parent_version_id, failure_log, created_at) = tuple(row)[:19]
    return StoredVersion(
        id_, namespace, name, version, content_hash, source, docstring, signature,
        None if input_schema is None else json.loads(input_schema),
        _STATUS_OF.get(status) or VersionStatus(status),
        Provenance(created_by, task_id, episode_id, run_id, scenario_id, query, parent_version_id, failure_log),
        _dt(created_at),
    )


def _alias_select() -> Any:
    a = t.aliases.c
    return select(t.aliases, t.versions.c.version).join(t.versions, t.versions.c.id == a.version_id)


def _alias(row: Any) -> Alias:
    return Alias(row.namespace, row.name, row.alias, row.version_id, row.version, row.generation, _dt(row.updated_at))


def _event(row: Any) -> Event:
    return Event(row.id, row.type, row.namespace, row.name, row.version_id, row.actor, row.reason,
                 limits.load_payload(row.payload), _dt(row.at))


__all__ = ["LibrarySnapshot", "SqlLibraryStore"]
