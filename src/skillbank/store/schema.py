"""The library's tables and their forward migrations (SQLAlchemy Core, so SQLite and
PostgreSQL share them).

Timestamps are stored as ISO 8601 UTC text with microseconds: they sort correctly as
text, survive export/import byte-exactly and mean the same on every backend.
Migrations only ever move forward; `SCHEMA_VERSION` is the number of the last one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    select,
    text,
)

from skillbank.errors import ConfigError

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, nullable=False),
)

namespaces = Table(
    "namespaces",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("created_at", String(40), nullable=False),
)

versions = Table(
    "versions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("namespace", String(64), ForeignKey("namespaces.name"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(80), nullable=False),
    Column("source", Text, nullable=False),
    Column("docstring", Text),
    Column("signature", Text, nullable=False),
    Column("input_schema", Text),
    Column("status", String(20), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("task_id", String(200)),
    Column("episode_id", String(200)),
    Column("run_id", String(200)),
    Column("scenario_id", String(200)),
    Column("query", Text),
    Column("parent_version_id", String(64)),
    Column("failure_log", Text),
    Column("created_at", String(40), nullable=False),
    # These two constraints are what make concurrent puts safe: a racing writer fails
    # to insert instead of creating a duplicate row or a duplicate version number.
    UniqueConstraint("namespace", "name", "version", name="uq_versions_name_version"),
    UniqueConstraint("namespace", "content_hash", name="uq_versions_content_hash"),
    Index("ix_versions_scenario", "scenario_id"),
    Index("ix_versions_status", "status"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("namespace", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("version_id", String(64), ForeignKey("versions.id"), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("updated_at", String(40), nullable=False),
    PrimaryKeyConstraint("namespace", "name", "alias"),
    Index("ix_aliases_alias", "alias"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("type", String(40), nullable=False),
    Column("namespace", String(64), nullable=False),
    Column("name", String(100)),
    Column("version_id", String(64)),
    Column("actor", String(200), nullable=False),
    Column("reason", Text),
    Column("payload", Text, nullable=False),
    Column("at", String(40), nullable=False),
    Index("ix_events_name", "namespace", "name", "id"),
    Index("ix_events_type", "type"),
    Index("ix_events_at", "at"),
    # AUTOINCREMENT: ids of an append-only log must never be reused.
    sqlite_autoincrement=True,
)

call_stats = Table(
    "call_stats",
    metadata,
    Column("version_id", String(64), ForeignKey("versions.id"), primary_key=True),
    Column("calls", Integer, nullable=False, default=0),
    Column("successes", Integer, nullable=False, default=0),
    Column("failures", Integer, nullable=False, default=0),
    Column("total_latency_s", Float, nullable=False, default=0.0),
)

# Embeddings computed once and kept: keyed by the model and the hash of the exact text
# embedded (for query-embedding that text is the producing query, not the source), so a
# run over a large library encodes only what it has not seen before.
embeddings = Table(
    "embeddings",
    metadata,
    Column("model", String(200), nullable=False),
    Column("text_hash", String(64), nullable=False),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),
    PrimaryKeyConstraint("model", "text_hash"),
)

# Retrieval reads the retrievable part of one namespace (promoted, canary, the run's own
# candidates) straight from this index instead of listing everything.
ix_versions_retrievable = Index("ix_versions_ns_status_run", versions.c.namespace, versions.c.status, versions.c.run_id)


# Issue 27: refused requests (no token, an unknown or revoked one, another namespace's,
# a role too low) are counted per client and sampled here, apart from the namespaces'
# event logs, so a flood of them neither fills a namespace's log nor costs one write each.
access_denials = Table(
    "access_denials",
    metadata,
    Column("client", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("first_at", String(40), nullable=False),
    Column("last_at", String(40), nullable=False),
    PrimaryKeyConstraint("client", "status"),
)

access_samples = Table(
    "access_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("client", String(64), nullable=False),
    Column("method", String(10), nullable=False),
    Column("path", String(200), nullable=False),
    Column("status", Integer, nullable=False),
    Column("namespace", String(64)),
    Column("token_id", String(16)),
    Column("reason", String(300)),
    Index("ix_access_samples_client", "client", "id"),
    sqlite_autoincrement=True,
)


def _m1_initial(conn: Connection) -> None:
    metadata.create_all(conn, tables=[namespaces, versions, aliases, events, call_stats])


def _m2_retrieval_scale(conn: Connection) -> None:
    """Issue 12: the index retrieval filters by, and the persisted embeddings."""
    ix_versions_retrievable.create(conn, checkfirst=True)
    embeddings.create(conn, checkfirst=True)


def _m3_access_audit(conn: Connection) -> None:
    """Issue 27: the refused-request log of its own."""
    access_denials.create(conn, checkfirst=True)
    access_samples.create(conn, checkfirst=True)


# Append new migrations here; never edit a published one.
MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_m1_initial, _m2_retrieval_scale, _m3_access_audit)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: Connection) -> int:
    """Bring the schema up to `SCHEMA_VERSION` inside the caller's write transaction;
    returns the version found before migrating."""
    if conn.dialect.name == "postgresql":
        # Serialises first-time setup among processes that open a new database at once.
        conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
    if not inspect(conn).has_table("schema_version"):
        schema_version.create(conn)
        conn.execute(schema_version.insert().values(version=0))
    found = conn.execute(select(schema_version.c.version)).scalar_one()
    if found > SCHEMA_VERSION:
        raise ConfigError(
            f"library schema version {found} is newer than this skillbank supports ({SCHEMA_VERSION}); upgrade skillbank"
        )
    for number in range(found, SCHEMA_VERSION):
        MIGRATIONS[number](conn)
        conn.execute(schema_version.update().values(version=number + 1))
    return found
