"""The REST API over one library (FastAPI): `create_app(store, runs_dir=...)`.

Every route under ``/api/v1`` needs ``Authorization: Bearer <token>``; a token is
scoped to one namespace and a role (``skillbank.serve.tokens``). Refusals are JSON
(``{"error": ..., "detail": ...}``): 401 for a missing, unknown or revoked token, 403
for another namespace or a role too low; each refusal is counted and sampled per client
in the library's refused-request log (`skillbank.serve.guard.AccessAudit`), never in a
namespace's event log. Errors of the library map to 404 (not found), 409 (a
compare-and-set lost: re-read and retry), 413 (a body or payload over its size limit)
and 422 (bad input, integers out of range included).

Runs belong to the namespace they read and wrote: a token lists and reads only its
namespace's runs, with credentials in their recorded URLs masked. Every list is paged
(`limit`, `offset` or `before_id`), and a reply of events stops at a byte budget (the
``X-Skillbank-Next-Before-Id`` header says where the next page starts).

The actor recorded for a change is ``token:<id>`` (plus the client's own actor name
after a slash when it sends one), so the event log says which token did what.

Governance is the only writer of evidence and lifecycle: no token of any role records an
evaluation, observation, red-team, gate, approval or lifecycle event, saves a version in
any status but ``candidate``, changes a status or moves ``promoted``/``canary`` through
the raw routes. The event route takes a client's notes and its own use of versions
(`CLIENT_EVENT_TYPES`); admins act through governance's endpoints (promote, rollback,
approve, quarantine, release), each recorded with the token's id.
"""


import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from skillbank.errors import ConflictError, NotFoundError, SkillbankError, ValidationError
from skillbank.serve.guard import (
    MAX_BODY_BYTES,
    AccessAudit,
    ServeGuard,
    load_namespaced_run,
    namespaced_runs,
    public_config,
)
from skillbank.serve.tokens import ApiToken, TokenRegistry
from skillbank.skill import SkillParseError
from skillbank.store import limits, wire
from skillbank.store.base import CLIENT_EVENT_TYPES, EventType, VersionStatus
from skillbank.store.serving import SERVED_STATUSES

MAX_SOURCE_BYTES = 256 * 1024
# What one request may store in an event payload (the store's own limit is wider, for
# governance's evaluations), and what one reply of events may carry.
MAX_API_PAYLOAD_BYTES = 256 * 1024
MAX_EVENTS_REPLY_BYTES = 8 * 1024 * 1024
_EVENTS_PAGE = 500
Int32 = Annotated[int, Field(ge=0, le=limits.MAX_INT32)]
# Aliases only governance moves (admins through its endpoints, never the raw alias route),
# compared case-insensitively.
GOVERNED_ALIASES = frozenset({"promoted", "canary"})
ADMIN_STATUSES = frozenset({VersionStatus.PROMOTED, VersionStatus.CANARY, VersionStatus.QUARANTINED, VersionStatus.RETIRED})
_GOVERNANCE_ENDPOINTS = "promote, rollback, approve, quarantine, release"


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


class PutVersionBody(BaseModel):
    source: str = Field(max_length=MAX_SOURCE_BYTES)
    provenance: dict[str, str | None] | None = None
    status: VersionStatus = VersionStatus.CANDIDATE
    actor: str | None = Field(default=None, max_length=100)


class SetAliasBody(BaseModel):
    version: Int32 | Annotated[str, Field(max_length=64)]
    expected_generation: Int32 | None
    reason: str | None = Field(default=None, max_length=2000)
    actor: str | None = Field(default=None, max_length=100)


class SetStatusBody(BaseModel):
    status: VersionStatus
    reason: str | None = Field(default=None, max_length=2000)
    actor: str | None = Field(default=None, max_length=100)


class EventBody(BaseModel):
    type: str = Field(max_length=40)
    name: str | None = Field(default=None, max_length=200)
    version_id: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=2000)
    payload: dict[str, Any] | None = None
    actor: str | None = Field(default=None, max_length=100)


class CallBody(BaseModel):
    ok: bool
    latency_s: float = Field(ge=0, le=86_400)


def _actor(token: ApiToken, client: str | None) -> str:
    return f"token:{token.id}" + (f"/{client}" if client else "")


def _article(word: str) -> str:
    """'an admin token', 'a read token'."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def create_app(store: Any, *, runs_dir: str | Path | None = None, tokens: TokenRegistry | None = None,
               audit: AccessAudit | None = None, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The API over `store`; `runs_dir` adds the runs routes; `tokens` defaults to the
    store's own token table; `audit` to a refused-request log in the store."""
    registry = tokens or TokenRegistry(store)
    audit = audit or AccessAudit(store)
    app = FastAPI(
        title="skillbank",
        summary="A skill library for LLM agents: versions, aliases, events, call statistics, runs.",
        version=_package_version(),
    )
    app.state.store, app.state.tokens, app.state.runs_dir = store, registry, runs_dir
    app.state.audit = audit
    app.add_middleware(ServeGuard, max_body_bytes=max_body_bytes)

    def _deny(request: Request, status: int, error: str, detail: str, namespace: str | None) -> ApiError:
        token = getattr(request.state, "token", None)
        audit.record(client=request.client.host if request.client else "unknown", method=request.method,
                     path=request.url.path, status=status, reason=detail,
                     namespace=namespace if isinstance(namespace, str) and len(namespace) <= 64 else None,
                     token_id=getattr(token, "id", None))
        return ApiError(status, error, detail[:300])

    bearer = HTTPBearer(auto_error=False, description="A token from `skillbank tokens create`.")

    def authenticate(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None
    ) -> ApiToken:
        namespace = request.path_params.get("ns")
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _deny(request, 401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)", namespace)
        token = registry.lookup(credentials.credentials.strip())
        if token is None:
            raise _deny(request, 401, "unauthorized", "unknown or revoked token", namespace)
        request.state.token = token
        return token

    def scoped(role: str):
        def check(request: Request, token: Annotated[ApiToken, Depends(authenticate)]) -> ApiToken:
            ns = request.path_params.get("ns")
            if ns is not None and ns != token.namespace:
                raise _deny(request, 403, "forbidden", f"this token is for namespace {token.namespace!r}, not {ns!r}", ns)
            if not token.allows(role):
                raise _deny(request, 403, "forbidden", f"this needs {_article(role)} {role!r} token; this one is {token.role!r}", ns)
            return token
        return check

    Reader = Annotated[ApiToken, Depends(scoped("read"))]
    Writer = Annotated[ApiToken, Depends(scoped("write"))]
    Admin = Annotated[ApiToken, Depends(scoped("admin"))]

    def own_version(version_id: str, token: ApiToken, request: Request):
        sv = store.get_version_by_id(version_id)
        if sv.namespace != token.namespace:
            raise _deny(request, 403, "forbidden", f"version {version_id!r} is not in namespace {token.namespace!r}",
                        token.namespace)
        return sv

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(SkillbankError)
    async def _library_error(_: Request, exc: SkillbankError) -> JSONResponse:
        if isinstance(exc, limits.PayloadTooLarge):
            return JSONResponse({"error": "too_large", "detail": str(exc)}, status_code=413)
        if isinstance(exc, NotFoundError):
            return JSONResponse({"error": "not_found", "detail": str(exc)}, status_code=404)
        if isinstance(exc, ConflictError):
            return JSONResponse({"error": "conflict", "detail": str(exc)}, status_code=409)
        return JSONResponse({"error": "invalid", "detail": str(exc)}, status_code=422)

    @app.exception_handler(SkillParseError)
    async def _parse_error(_: Request, exc: SkillParseError) -> JSONResponse:
        return JSONResponse({"error": "invalid", "detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _request_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": "invalid", "detail": f"{where}: {first.get('msg', 'invalid request')}"},
                            status_code=422)

    # -- who am I ----------------------------------------------------------------

    @app.get("/api/v1/whoami", tags=["auth"])
    def whoami(token: Annotated[ApiToken, Depends(authenticate)]) -> dict[str, Any]:
        """The calling token's id, namespace and role."""
        return {"id": token.id, "namespace": token.namespace, "role": token.role, "label": token.label}

    @app.get("/api/v1/namespaces", tags=["library"])
    def namespaces(token: Annotated[ApiToken, Depends(authenticate)]) -> list[str]:
        """The namespaces this token may see (its own)."""
        return [n for n in store.namespaces() if n == token.namespace]

    # -- versions --------------------------------------------------------------------

    @app.get("/api/v1/namespaces/{ns}/skills", tags=["skills"])
    def list_skills(
        ns: str, _: Reader,
        status: Annotated[list[VersionStatus] | None, Query()] = None,
        alias: str | None = None,
        text: Annotated[str | None, Query(max_length=200)] = None,
        latest_only: bool = True,
        limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
        offset: Annotated[int, Query(ge=0, le=limits.MAX_INT32)] = 0,
    ) -> list[dict[str, Any]]:
        """Versions of the namespace matching every filter (latest per name by default);
        `offset` skips that many (pages of `limit`)."""
        rows = store.list_versions(namespace=ns, status=status or None, alias=alias, text=text,
                                   latest_only=latest_only, limit=None if limit is None else limit + offset)
        return [wire.version_to_json(v) for v in rows[offset:]]

    @app.post("/api/v1/namespaces/{ns}/versions", tags=["skills"], status_code=200)
    def put_version(ns: str, body: PutVersionBody, token: Writer, request: Request) -> dict[str, Any]:
        """Store a version (idempotent on content) as a candidate; `created` says whether it
        is new. Only governance gives a version another status."""
        if body.status is not VersionStatus.CANDIDATE:
            raise _deny(request, 403, "forbidden", f"a version is saved as a candidate; {body.status.value!r} is "
                        f"governance's to give (admins: the {_GOVERNANCE_ENDPOINTS} endpoints)", ns)
        sv, created = store.put_version(
            body.source, namespace=ns, provenance=wire.provenance_from_json(body.provenance), status=body.status,
            actor=_actor(token, body.actor),
        )
        return {"created": created, "version": wire.version_to_json(sv)}

    @app.get("/api/v1/namespaces/{ns}/skills/{name}/versions", tags=["skills"])
    def history(ns: str, name: str, _: Reader,
                limit: Annotated[int, Query(ge=1, le=100_000)] = 100_000,
                offset: Annotated[int, Query(ge=0, le=limits.MAX_INT32)] = 0) -> list[dict[str, Any]]:
        """The versions of one skill, oldest first (`offset`/`limit` page them)."""
        return [wire.version_to_json(v) for v in store.history(name, namespace=ns)[offset:offset + limit]]

    @app.get("/api/v1/namespaces/{ns}/skills/{name}/versions/{ref}", tags=["skills"])
    def get_version(ns: str, name: str, ref: str, _: Reader) -> dict[str, Any]:
        """One version: `ref` is a number, an alias name, or `latest`."""
        return wire.version_to_json(store.get_version(name, None if ref == "latest" else ref, namespace=ns))

    @app.get("/api/v1/namespaces/{ns}/skills/{name}/diff", tags=["skills"])
    def diff(ns: str, name: str, v1: str, v2: str, _: Reader) -> dict[str, Any]:
        """A unified diff between two versions (numbers or aliases)."""
        return {"name": name, "v1": v1, "v2": v2, "diff": store.diff(name, v1, v2, namespace=ns)}

    @app.get("/api/v1/versions/{version_id}", tags=["skills"])
    def get_version_by_id(version_id: str, token: Annotated[ApiToken, Depends(authenticate)], request: Request) -> dict[str, Any]:
        """One version by its id (only within the token's namespace)."""
        return wire.version_to_json(own_version(version_id, token, request))

    @app.post("/api/v1/versions/{version_id}/status", tags=["governance"])
    def set_status(version_id: str, body: SetStatusBody, token: Annotated[ApiToken, Depends(authenticate)],
                   request: Request) -> dict[str, Any]:
        """Refused for every token: a status changes only through governance (admins: the
        promote, rollback, approve, quarantine and release endpoints)."""
        own_version(version_id, token, request)
        raise _deny(request, 403, "forbidden", f"a status changes only through governance (admins: the "
                    f"{_GOVERNANCE_ENDPOINTS} endpoints)", token.namespace)

    @app.get("/api/v1/namespaces/{ns}/changes", tags=["skills"])
    def changes(ns: str, _: Reader, cursor: Annotated[int | None, Query(ge=0, le=limits.MAX_INT64)] = None) -> dict[str, Any]:
        """Skills touched after event id `cursor`, with all their versions; `cursor` to
        pass next time (without one: only the current cursor). What a remote run's
        retrieval index follows instead of listing the library per task."""
        ch = store.changes_since(cursor, namespace=ns)
        return {"cursor": ch.cursor, "names": list(ch.names), "versions": [wire.version_to_json(v) for v in ch.versions]}

    @app.get("/api/v1/namespaces/{ns}/retrievable", tags=["skills"])
    def retrievable(
        ns: str, _: Reader,
        status: Annotated[list[VersionStatus] | None, Query()] = None,
        run_id: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        """(cursor, versions) read together: versions with a status in `status` (default
        promoted and canary) plus the candidates `run_id` produced."""
        statuses = status or list(SERVED_STATUSES)
        cursor, versions = store.retrievable_versions(namespace=ns, statuses=statuses, run_id=run_id)
        return {"cursor": cursor, "versions": [wire.version_to_json(v) for v in versions]}

    # -- aliases ---------------------------------------------------------------------

    @app.get("/api/v1/namespaces/{ns}/aliases", tags=["aliases"])
    def list_aliases(ns: str, _: Reader, name: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=100_000)] = 100_000,
                     offset: Annotated[int, Query(ge=0, le=limits.MAX_INT32)] = 0) -> list[dict[str, Any]]:
        """Aliases of the namespace (or of one skill), `offset`/`limit` paged."""
        return [wire.alias_to_json(a) for a in store.list_aliases(name, namespace=ns)[offset:offset + limit]]

    @app.get("/api/v1/namespaces/{ns}/skills/{name}/aliases/{alias}", tags=["aliases"])
    def get_alias(ns: str, name: str, alias: str, _: Reader) -> dict[str, Any] | None:
        """One alias, or null when it is not set."""
        a = store.get_alias(name, alias, namespace=ns)
        return None if a is None else wire.alias_to_json(a)

    @app.put("/api/v1/namespaces/{ns}/skills/{name}/aliases/{alias}", tags=["aliases"])
    def set_alias(ns: str, name: str, alias: str, body: SetAliasBody, token: Writer, request: Request) -> dict[str, Any]:
        """Move an alias by compare-and-set (409 when `expected_generation` is stale).
        `promoted` and `canary` move only through governance (admins: the promote and
        rollback endpoints)."""
        if alias.casefold() in GOVERNED_ALIASES:
            raise _deny(request, 403, "forbidden", f"{alias!r} moves only through governance (admins: the promote "
                        "and rollback endpoints)", ns)
        a = store.set_alias(name, alias, body.version, expected_generation=body.expected_generation, namespace=ns,
                            actor=_actor(token, body.actor), reason=body.reason)
        return wire.alias_to_json(a)

    # -- events and statistics -------------------------------------------------------

    @app.get("/api/v1/namespaces/{ns}/events", tags=["events"])
    def events(
        ns: str, _: Reader, response: Response,
        name: str | None = None,
        type: Annotated[list[str] | None, Query()] = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: Annotated[int | None, Query(ge=1, le=100_000)] = 1000,
        before_id: Annotated[int | None, Query(ge=0, le=limits.MAX_INT64)] = None,
        after_id: Annotated[int | None, Query(ge=0, le=limits.MAX_INT64)] = None,
    ) -> list[dict[str, Any]]:
        """The event log of the namespace, oldest first: the newest `limit` events (below
        `before_id`, above `after_id`). A reply stops at a byte budget; then the header
        ``X-Skillbank-Next-Before-Id`` gives the `before_id` of the next (older) page."""
        rows, next_before = _bounded_events(store, ns, name=name, type=type or None, since=since, until=until,
                                            limit=limit or 100_000, before_id=before_id, after_id=after_id)
        if next_before is not None:
            response.headers["X-Skillbank-Next-Before-Id"] = str(next_before)
        return rows

    @app.post("/api/v1/namespaces/{ns}/events", tags=["events"])
    def record_event(ns: str, body: EventBody, token: Writer, request: Request) -> dict[str, Any]:
        """Append a note or a client's own use of a version (`note`, `called`, `failed`,
        `saved`); every other type is governance's to record, for every token."""
        if body.type not in CLIENT_EVENT_TYPES:
            raise _deny(request, 403, "forbidden", f"{body.type!r} events are governance's to record; clients record "
                        f"only {', '.join(sorted(CLIENT_EVENT_TYPES))} (admins: the {_GOVERNANCE_ENDPOINTS} endpoints)",
                        ns)
        limits.check_payload(body.payload or {}, max_bytes=MAX_API_PAYLOAD_BYTES)
        if body.version_id is not None:
            own_version(body.version_id, token, request)
        e = store.record_event(body.type, namespace=ns, name=body.name, version_id=body.version_id,
                               actor=_actor(token, body.actor), reason=body.reason, payload=body.payload)
        return wire.event_to_json(e)

    @app.post("/api/v1/versions/{version_id}/calls", tags=["events"])
    def record_call(version_id: str, body: CallBody, token: Annotated[ApiToken, Depends(authenticate)],
                    request: Request) -> dict[str, Any]:
        """Count one call of a version (write)."""
        own_version(version_id, token, request)
        if not token.allows("write"):
            raise _deny(request, 403, "forbidden", "recording calls needs a 'write' token", token.namespace)
        store.record_call(version_id, ok=body.ok, latency_s=body.latency_s)
        return wire.stats_to_json(store.call_stats(version_id))

    @app.get("/api/v1/versions/{version_id}/stats", tags=["events"])
    def call_stats(version_id: str, token: Annotated[ApiToken, Depends(authenticate)], request: Request) -> dict[str, Any]:
        """Calls, successes, failures and total latency of a version."""
        own_version(version_id, token, request)
        return wire.stats_to_json(store.call_stats(version_id))

    # -- governance ------------------------------------------------------------------

    def _gov(ns: str):
        from skillbank.governance import Governance

        return Governance(store, namespace=ns)

    def _arm(stats: Any) -> dict[str, Any]:
        return {"calls": stats.calls, "successes": stats.successes, "failures": stats.failures,
                "failure_rate": stats.failure_rate, "mean_latency_s": stats.mean_latency_s}

    @app.get("/api/v1/namespaces/{ns}/skills/{name}/evaluations", tags=["governance"])
    def evaluations(ns: str, name: str, _: Reader,
                    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[dict[str, Any]]:
        """The newest `limit` evaluations of the skill's versions (each case's outcome, regressions)."""
        store.history(name, namespace=ns)  # 404 for an unknown skill
        return [wire.event_to_json(e) for e in store.events(namespace=ns, name=name, type=EventType.EVALUATED.value, limit=limit)]

    @app.get("/api/v1/namespaces/{ns}/skills/{name}/findings", tags=["governance"])
    def findings(ns: str, name: str, _: Reader,
                 limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[dict[str, Any]]:
        """The newest `limit` red-team reports of the skill's versions (findings, whether it quarantined)."""
        store.history(name, namespace=ns)
        return [wire.event_to_json(e) for e in store.events(namespace=ns, name=name, type=EventType.REDTEAMED.value, limit=limit)]

    @app.get("/api/v1/namespaces/{ns}/canaries", tags=["governance"])
    def canaries(ns: str, _: Reader, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                 offset: Annotated[int, Query(ge=0, le=limits.MAX_INT32)] = 0) -> list[dict[str, Any]]:
        """Each skill with an active canary: both versions and their calls since it
        started (`offset`/`limit` page the skills)."""
        gov = _gov(ns)
        out = []
        for a in [a for a in store.list_aliases(namespace=ns) if a.alias == "canary"][offset:offset + limit]:
            if a.alias != "canary":
                continue
            stats = gov.canary_stats(a.name)
            if stats is None:
                continue
            canary, incumbent, c, i = stats
            out.append({"name": a.name, "canary": canary.version, "promoted": incumbent.version,
                        "canary_calls": _arm(c), "promoted_calls": _arm(i), "share": gov.policy.canary.share})
        return out

    class MoveBody(BaseModel):
        version: Int32 | None = None
        expected_generation: Int32 | None = None  # absent: the alias as read now; null: it must not exist
        reason: str | None = Field(default=None, max_length=2000)
        force: bool = False  # promote: a person overriding the gate (needs `reason`)

        def generation(self) -> int | None | str:
            return self.expected_generation if "expected_generation" in self.model_fields_set else "read"

    @app.post("/api/v1/namespaces/{ns}/skills/{name}/promote", tags=["governance"])
    def promote(ns: str, name: str, body: MoveBody, token: Admin) -> dict[str, Any]:
        """Point `promoted` at a version (compare-and-set on `expected_generation`) through
        governance: the version it replaces is retired; a quarantined version is refused,
        and one that has not passed its gate needs `force` and a `reason` (both recorded)."""
        move = _gov(ns).promote(name, body.version, actor=_actor(token, None), reason=body.reason,
                                expected_generation=body.generation(), force=body.force)
        return move.to_dict()

    @app.post("/api/v1/namespaces/{ns}/skills/{name}/rollback", tags=["governance"])
    def rollback(ns: str, name: str, body: MoveBody, token: Admin) -> dict[str, Any]:
        """End an active canary, or move `promoted` back (to `version`, default the one
        promoted before)."""
        move = _gov(ns).rollback(name, to=body.version, actor=_actor(token, None), reason=body.reason,
                                 expected_generation=body.generation())
        return move.to_dict()

    class PersonBody(BaseModel):
        version: int
        reason: str | None = Field(default=None, max_length=2000)

    def _person(ns: str, name: str, body: PersonBody, token: ApiToken, action: str) -> dict[str, Any]:
        gov, who = _gov(ns), _actor(token, None)
        if action == "approve":
            sv = gov.approve(name, body.version, actor=who, reason=body.reason)
        elif action == "quarantine":
            sv = gov.quarantine(name, body.version, actor=who, reason=body.reason or f"quarantined by {who}")
        else:
            sv = gov.release(name, body.version, actor=who, reason=body.reason)
        return {"action": action, "actor": who, "version": wire.version_to_json(store.get_version_by_id(sv.id))}

    @app.post("/api/v1/namespaces/{ns}/skills/{name}/approve", tags=["governance"])
    def approve(ns: str, name: str, body: PersonBody, token: Admin) -> dict[str, Any]:
        """A person's approval of a version (the gate asks for one when the policy says so)."""
        return _person(ns, name, body, token, "approve")

    @app.post("/api/v1/namespaces/{ns}/skills/{name}/quarantine", tags=["governance"])
    def quarantine(ns: str, name: str, body: PersonBody, token: Admin) -> dict[str, Any]:
        """Quarantine a version by hand: never retrieved until released."""
        return _person(ns, name, body, token, "quarantine")

    @app.post("/api/v1/namespaces/{ns}/skills/{name}/release", tags=["governance"])
    def release(ns: str, name: str, body: PersonBody, token: Admin) -> dict[str, Any]:
        """A person's release of a quarantined version (back to candidate: it must pass the gate again)."""
        return _person(ns, name, body, token, "release")

    # -- runs ------------------------------------------------------------------------

    @app.get("/api/v1/runs", tags=["runs"])
    def runs(token: Annotated[ApiToken, Depends(authenticate)],
             limit: Annotated[int, Query(ge=1, le=1000)] = 100,
             offset: Annotated[int, Query(ge=0, le=limits.MAX_INT32)] = 0) -> list[dict[str, Any]]:
        """The token's namespace's agent runs (config, credentials masked, and summary),
        newest first, `offset`/`limit` paged."""
        return [{"run_id": r.run_id, "config": public_config(r.config), "summary": r.summary, "episodes": r.episodes}
                for r in namespaced_runs(runs_dir, token.namespace)[offset:offset + limit]]

    @app.get("/api/v1/runs/{run_id}", tags=["runs"])
    def run(run_id: str, token: Annotated[ApiToken, Depends(authenticate)],
            limit: Annotated[int, Query(ge=1, le=100_000)] = 100_000,
            offset: Annotated[int, Query(ge=0, le=limits.MAX_INT32)] = 0) -> dict[str, Any]:
        """One run of the token's namespace with its episodes (`offset`/`limit` page
        them); another namespace's run is not found."""
        record, episodes = load_namespaced_run(runs_dir, token.namespace, run_id)
        return {"run_id": record.run_id, "config": public_config(record.config), "summary": record.summary,
                "episodes": episodes[offset:offset + limit], "total_episodes": len(episodes)}

    from skillbank.serve.dashboard import add_dashboard

    add_dashboard(app, store, registry, runs_dir)
    return app


def _bounded_events(store: Any, ns: str, *, limit: int, before_id: int | None, **filters: Any
                    ) -> tuple[list[dict[str, Any]], int | None]:
    """The newest `limit` matching events (oldest first) read a page at a time, stopping
    once the reply would pass `MAX_EVENTS_REPLY_BYTES`; returns them and, when stopped
    early, the `before_id` that continues (None: nothing was left out)."""
    import json

    newest_first: list[dict[str, Any]] = []
    size = 0
    while len(newest_first) < limit:
        want = min(_EVENTS_PAGE, limit - len(newest_first))
        page = store.events(namespace=ns, limit=want, before_id=before_id, **filters)
        for e in reversed(page):
            row = wire.event_to_json(e)
            cost = 256 + len(json.dumps(row["payload"], default=str)) + len(row.get("reason") or "")
            if newest_first and size + cost > MAX_EVENTS_REPLY_BYTES:
                return newest_first[::-1], newest_first[-1]["id"]
            newest_first.append(row)
            size += cost
        if len(page) < want:
            break
        before_id = page[0].id
    return newest_first[::-1], None


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("skillbank")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


__all__ = ["ValidationError", "create_app"]
