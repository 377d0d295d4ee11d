"""`HttpLibraryStore`: the `LibraryStore` interface over a served library's REST API.

``SKILLBANK_LIBRARY=https://host:port`` with ``SKILLBANK_TOKEN=<token>`` makes
`open_store` return one, so `skillbank run` and the CLI work against a library that
`skillbank serve` shares between machines, unchanged. Each method is one request; HTTP
errors come back as the library's own exceptions (404 `NotFoundError`, 409
`ConflictError`, 401/403 `PermissionDeniedError`, 422 `ValidationError`). Replies are
decoded by `skillbank.store.wire`, which checks their shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Self
from urllib.parse import quote

import httpx

from skillbank.errors import ConfigError, ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from skillbank.store import wire
from skillbank.store.base import (
    DEFAULT_NAMESPACE,
    Alias,
    AliasMove,
    CallStats,
    Event,
    LibraryChanges,
    NewEvent,
    Provenance,
    StatusChange,
    StoredVersion,
    TransitionResult,
    VersionStatus,
)

MAX_REPLY_BYTES = 64 * 1024 * 1024


def _q(part: str | int) -> str:
    return quote(str(part), safe="")


class HttpLibraryStore:
    """A served library (see `skillbank serve`), reached with a bearer token."""

    def __init__(self, url: str, token: str | None, *, timeout_s: float = 30.0, transport: Any = None) -> None:
        if not token:
            raise ConfigError("a served library needs a token: set SKILLBANK_TOKEN (see `skillbank tokens create`)")
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s,
            transport=transport,
        )

    # -- plumbing ---------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: Any = None, body: Any = None) -> Any:
        return self._call_full(method, path, params=params, body=body)[0]

    def _call_full(self, method: str, path: str, *, params: Any = None, body: Any = None) -> tuple[Any, Any]:
        """The decoded reply and its headers."""
        try:
            r = self._client.request(method, path, params=params, json=body)
        except httpx.HTTPError as exc:
            raise ConfigError(f"cannot reach the library at {self.url}: {exc}") from None
        if len(r.content) > MAX_REPLY_BYTES:
            raise ValidationError(f"the library at {self.url} sent a reply over {MAX_REPLY_BYTES} bytes")
        try:
            data = r.json() if r.content else None
        except ValueError:
            raise ValidationError(f"the library at {self.url} sent a reply that is not JSON (HTTP {r.status_code})") from None
        if r.status_code < 400:
            return data, r.headers
        detail = data.get("detail") if isinstance(data, dict) else None
        msg = str(detail or f"HTTP {r.status_code}")
        if r.status_code == 404:
            raise NotFoundError(msg)
        if r.status_code == 409:
            raise ConflictError(msg)
        if r.status_code in (401, 403):
            raise PermissionDeniedError(msg)
        if r.status_code in (400, 413, 422):
            raise ValidationError(msg)
        raise ConfigError(f"the library at {self.url} failed: HTTP {r.status_code}: {msg}")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HttpLibraryStore({self.url!r})"

    # -- namespaces -------------------------------------------------------------------

    def namespaces(self) -> list[str]:
        return [str(n) for n in self._call("GET", "/namespaces")]

    def create_namespace(self, namespace: str) -> None:
        if namespace not in self.namespaces():
            raise PermissionDeniedError(f"namespace {namespace!r} is not this token's; a served library's namespaces are made by its admin")

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
        body = {
            "source": source,
            "provenance": None if provenance is None else {k: v for k, v in vars(provenance).items()},
            "status": VersionStatus(status).value,
            "actor": actor,
        }
        out = self._call("POST", f"/namespaces/{_q(namespace)}/versions", body=body)
        return wire.version_from_json(out["version"]), bool(out["created"])

    def get_version(self, name: str, ref: int | str | None = None, *, namespace: str = DEFAULT_NAMESPACE) -> StoredVersion:
        r = "latest" if ref is None else ref
        return wire.version_from_json(self._call("GET", f"/namespaces/{_q(namespace)}/skills/{_q(name)}/versions/{_q(r)}"))

    def get_version_by_id(self, version_id: str) -> StoredVersion:
        return wire.version_from_json(self._call("GET", f"/versions/{_q(version_id)}"))

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
        namespaces = self.namespaces() if namespace is None else [namespace]
        statuses = [status] if isinstance(status, (str, VersionStatus)) else list(status or [])
        out: list[StoredVersion] = []
        for ns in namespaces:
            params: dict[str, Any] = {"latest_only": latest_only}
            if statuses:
                params["status"] = [VersionStatus(s).value for s in statuses]
            if alias is not None:
                params["alias"] = alias
            if text is not None:
                params["text"] = text
            if limit is not None:
                params["limit"] = limit
            out.extend(wire.version_from_json(d) for d in self._call("GET", f"/namespaces/{_q(ns)}/skills", params=params))
        return out[:limit] if limit is not None else out

    def history(self, name: str, *, namespace: str = DEFAULT_NAMESPACE) -> list[StoredVersion]:
        return [wire.version_from_json(d) for d in self._call("GET", f"/namespaces/{_q(namespace)}/skills/{_q(name)}/versions")]

    def diff(self, name: str, v1: int | str, v2: int | str, *, namespace: str = DEFAULT_NAMESPACE) -> str:
        out = self._call("GET", f"/namespaces/{_q(namespace)}/skills/{_q(name)}/diff", params={"v1": v1, "v2": v2})
        return str(out["diff"])

    def changes_since(self, cursor: int | None, *, namespace: str = DEFAULT_NAMESPACE) -> LibraryChanges:
        params = {} if cursor is None else {"cursor": int(cursor)}
        out = self._call("GET", f"/namespaces/{_q(namespace)}/changes", params=params)
        try:
            return LibraryChanges(int(out["cursor"]), tuple(str(n) for n in out["names"]),
                                  tuple(wire.version_from_json(d) for d in out["versions"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"malformed changes from {self.url}: {exc}") from None

    def retrievable_versions(
        self, *, namespace: str = DEFAULT_NAMESPACE, statuses: Sequence[VersionStatus], run_id: str | None = None,
    ) -> tuple[int, list[StoredVersion]]:
        params: dict[str, Any] = {"status": [VersionStatus(s).value for s in statuses]}
        if run_id is not None:
            params["run_id"] = run_id
        out = self._call("GET", f"/namespaces/{_q(namespace)}/retrievable", params=params)
        try:
            return int(out["cursor"]), [wire.version_from_json(d) for d in out["versions"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"malformed versions from {self.url}: {exc}") from None

    def set_status(self, version_id: str, status: VersionStatus, *, actor: str, reason: str | None = None) -> StoredVersion:
        """Refused by the server for every token (a status changes only through governance);
        kept so the refusal is the server's, audited, with its one-line reason."""
        body = {"status": VersionStatus(status).value, "reason": reason, "actor": actor}
        return wire.version_from_json(self._call("POST", f"/versions/{_q(version_id)}/status", body=body))

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
        """Not served: a served library's transitions are its server's governance's
        (admins ask for one through `govern`)."""
        raise PermissionDeniedError(
            f"a served library ({self.url}) changes aliases and statuses only through its own governance: "
            "admins use its promote, rollback, approve, quarantine and release endpoints (skillbank skills promote "
            "... with --library set to the server and an admin SKILLBANK_TOKEN)")

    GOVERNANCE_ACTIONS = ("promote", "rollback", "approve", "quarantine", "release")

    def govern(self, action: str, name: str, *, namespace: str = DEFAULT_NAMESPACE, **body: Any) -> dict[str, Any]:
        """Ask the server's governance for `action` on skill `name` (an admin token's
        endpoints); returns the server's JSON reply."""
        if action not in self.GOVERNANCE_ACTIONS:
            raise ValidationError(f"unknown governance action {action!r}; one of {', '.join(self.GOVERNANCE_ACTIONS)}")
        out = self._call("POST", f"/namespaces/{_q(namespace)}/skills/{_q(name)}/{action}", body=body)
        if not isinstance(out, dict):
            raise ValidationError(f"the library at {self.url} sent a malformed {action} reply")
        return out

    # -- aliases ----------------------------------------------------------------------

    def get_alias(self, name: str, alias: str, *, namespace: str = DEFAULT_NAMESPACE) -> Alias | None:
        out = self._call("GET", f"/namespaces/{_q(namespace)}/skills/{_q(name)}/aliases/{_q(alias)}")
        return None if out is None else wire.alias_from_json(out)

    def list_aliases(self, name: str | None = None, *, namespace: str = DEFAULT_NAMESPACE) -> list[Alias]:
        params = {} if name is None else {"name": name}
        return [wire.alias_from_json(d) for d in self._call("GET", f"/namespaces/{_q(namespace)}/aliases", params=params)]

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
        body = {"version": version, "expected_generation": expected_generation, "reason": reason, "actor": actor}
        out = self._call("PUT", f"/namespaces/{_q(namespace)}/skills/{_q(name)}/aliases/{_q(alias)}", body=body)
        return wire.alias_from_json(out)

    # -- events and statistics ----------------------------------------------------------

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
        body = {"type": str(getattr(type, "value", type)), "name": name, "version_id": version_id, "actor": actor,
                "reason": reason, "payload": payload}
        return wire.event_from_json(self._call("POST", f"/namespaces/{_q(namespace)}/events", body=body))

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
        namespaces = self.namespaces() if namespace is None else [namespace]
        types = [type] if isinstance(type, str) else list(type or [])
        out: list[Event] = []
        for ns in namespaces:
            params: dict[str, Any] = {"limit": limit or 100_000}
            if before_id is not None:
                params["before_id"] = int(before_id)
            if after_id is not None:
                params["after_id"] = int(after_id)
            if name is not None:
                params["name"] = name
            if types:
                params["type"] = [str(getattr(t, "value", t)) for t in types]
            if since is not None:
                params["since"] = since.isoformat()
            if until is not None:
                params["until"] = until.isoformat()
            out.extend(self._paged_events(ns, params))
        return out[:limit] if limit is not None else out

    def _paged_events(self, ns: str, params: dict[str, Any]) -> list[Event]:
        """The server's newest `limit` events, following ``X-Skillbank-Next-Before-Id``
        when one reply stopped at the server's byte budget."""
        pages: list[list[Event]] = []
        wanted = int(params["limit"])
        got = 0
        while True:
            data, headers = self._call_full("GET", f"/namespaces/{_q(ns)}/events", params=params)
            page = [wire.event_from_json(d) for d in data]
            pages.append(page)
            got += len(page)
            more = headers.get("x-skillbank-next-before-id")
            if not more or not page or got >= wanted:
                break
            try:
                params = {**params, "before_id": int(more), "limit": wanted - got}
            except ValueError:
                raise ValidationError(f"malformed paging header from {self.url}: {more[:40]!r}") from None
        return [e for page in reversed(pages) for e in page]

    def record_call(self, version_id: str, *, ok: bool, latency_s: float) -> None:
        self._call("POST", f"/versions/{_q(version_id)}/calls", body={"ok": bool(ok), "latency_s": float(latency_s)})

    def call_stats(self, version_id: str) -> CallStats:
        return wire.stats_from_json(self._call("GET", f"/versions/{_q(version_id)}/stats"))

    def event_types(self, *, namespace: str | None = DEFAULT_NAMESPACE) -> list[str]:
        return sorted({e.type for e in self.events(namespace=namespace)})

    def stats(self, *, namespace: str | None = DEFAULT_NAMESPACE) -> dict[str, Any]:
        """The counts `SqlLibraryStore.stats` gives, gathered from the listings (the REST
        API has no aggregate route), over the namespaces this token reads when None."""
        versions = self.list_versions(namespace=namespace, latest_only=False)
        spaces = self.namespaces() if namespace is None else [namespace]
        return {
            "namespace": namespace,
            "versions": len(versions),
            "skills": len({(v.namespace, v.name) for v in versions}),
            "by_status": {s.value: sum(1 for v in versions if VersionStatus(v.status) is s) for s in VersionStatus},
            "aliases": sum(len(self.list_aliases(namespace=ns)) for ns in spaces),
            "events": len(self.events(namespace=namespace)),
        }

    # -- what the REST API does not serve ----------------------------------------------

    def get_embeddings(self, model: str, text_hashes: Sequence[str]) -> dict[str, bytes]:
        """Always empty: a served library keeps no embedding cache for its clients, so every
        lookup misses and the client encodes (as it would on a first run)."""
        return {}

    def put_embeddings(self, model: str, dim: int, vectors: dict[str, bytes]) -> int:
        """Nothing is stored (see `get_embeddings`)."""
        return 0

    def remove_alias(
        self, name: str, alias: str, *, expected_generation: int | None = None,
        namespace: str = DEFAULT_NAMESPACE, actor: str, reason: str | None = None,
    ) -> Alias:
        raise self._not_served("removing an alias")

    def delete_skill(
        self, name: str, *, namespace: str = DEFAULT_NAMESPACE, actor: str, reason: str | None = None,
    ) -> list[StoredVersion]:
        raise self._not_served("deleting a skill")

    def _not_served(self, what: str) -> ConfigError:
        return ConfigError(f"{what} is not possible on a served library ({self.url}): its REST API has no route "
                           "for it; do it where the library's database is, with --library set to its path or URL")
