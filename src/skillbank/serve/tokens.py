"""Bearer tokens for the REST API, scoped to one namespace and one role.

A token is shown once, when it is created; the library keeps only its SHA-256, so a
copy of the database gives nobody a working token. Roles nest: ``read`` lists and
shows; ``write`` also saves versions and records calls and events; ``admin`` also moves
the ``promoted`` and ``canary`` aliases, changes statuses (promote, roll back,
quarantine) and writes governance events. Revocation takes effect on the next request:
every request looks the token up.

The table lives in the library's own database (created on first use), beside the
skills it guards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, select, update

from skillbank.errors import NotFoundError, ValidationError
from skillbank.store.base import LibraryStore
from skillbank.store.sql import SqlLibraryStore, check_namespace

ROLES: tuple[str, ...] = ("read", "write", "admin")
TOKEN_PREFIX = "sbk_"

_metadata = MetaData()
api_tokens = Table(
    "api_tokens",
    _metadata,
    Column("id", String(16), primary_key=True),
    Column("hash", String(64), nullable=False, unique=True),
    Column("namespace", String(64), nullable=False),
    Column("role", String(8), nullable=False),
    Column("label", String(200)),
    Column("created_at", String(40), nullable=False),
    Column("revoked_at", String(40)),
)


@dataclass(frozen=True)
class ApiToken:
    id: str
    namespace: str
    role: str
    label: str | None
    created_at: str
    revoked_at: str | None = None

    def allows(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class TokenRegistry:
    """Create, look up, list and revoke tokens in a library's database."""

    def __init__(self, store: LibraryStore) -> None:
        if not isinstance(store, SqlLibraryStore):
            raise ValidationError("tokens live in a library database (SQLite or PostgreSQL), not behind a served URL")
        self.engine = store.engine
        _metadata.create_all(self.engine, tables=[api_tokens], checkfirst=True)

    def create(self, namespace: str, role: str, label: str | None = None) -> tuple[str, ApiToken]:
        """Returns ``(secret, token)``; the secret is not stored and cannot be shown again."""
        check_namespace(namespace)
        if role not in ROLES:
            raise ValidationError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        tok = ApiToken(id=secrets.token_hex(6), namespace=namespace, role=role, label=label, created_at=_now())
        with self.engine.begin() as conn:
            conn.execute(api_tokens.insert().values(
                id=tok.id, hash=_hash(secret), namespace=namespace, role=role, label=label, created_at=tok.created_at,
            ))
        return secret, tok

    def lookup(self, secret: str) -> ApiToken | None:
        """The live token for `secret`, or None (unknown or revoked)."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.hash == _hash(secret))).mappings().first()
        if row is None or row["revoked_at"] is not None:
            return None
        return _token(row)

    def list(self) -> list[ApiToken]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id)).mappings().all()
        return [_token(r) for r in rows]

    def revoke(self, token_id: str) -> ApiToken:
        with self.engine.begin() as conn:
            res = conn.execute(
                update(api_tokens).where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no token with id {token_id!r}")
        if res.rowcount == 0 and row["revoked_at"] is None:  # pragma: no cover - a race with another revoker
            raise NotFoundError(f"token {token_id!r} could not be revoked")
        return _token(row)


def _token(row: Any) -> ApiToken:
    return ApiToken(row["id"], row["namespace"], row["role"], row["label"], row["created_at"], row["revoked_at"])
