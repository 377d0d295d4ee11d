"""`LibraryService`: a skill library opened to a client that is not an agent run (an
IDE assistant over MCP, a chat app, another agent): search skills, show one, list a
world's APIs, run code in the sandbox against a live task of that world with the
library's promoted and canary skills preloaded (the shell persists across calls like a
notebook until ``reset``), and save a function as a **candidate** version (with an
optional parent and failure log, which makes it an update); only governance promotes it.

Plain methods, so the same operations are usable and testable without MCP
(`skillbank.commands.mcp` adapts them to MCP tools).
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

from skillbank.errors import NotFoundError, ValidationError
from skillbank.refs import parse_ref
from skillbank.store.serving import serving_versions

if TYPE_CHECKING:  # both imported when used: the CLI imports this module at start-up
    from skillbank.sandbox import SandboxConfig
    from skillbank.store.base import LibraryStore

MAX_CODE_CHARS = 100_000
MAX_OUTPUT_CHARS = 20_000


def _clip(text: str | None, limit: int = MAX_OUTPUT_CHARS) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit} characters cut]"


class LibraryService:
    """A library (store + namespace) and a world to run code against."""

    def __init__(self, store: LibraryStore, *, namespace: str = "default", world: Any = None,
                 task_id: str | None = None, actor: str = "mcp", sandbox_config: SandboxConfig | None = None):
        # `world` is a built-in-style world: `list_apis` reads its apps and API docs too.
        self.store = store
        self.namespace = namespace
        self.world = world
        self.actor = actor
        self._task_id = task_id
        self._sandbox_config = sandbox_config
        self._pool: Any = None
        self._session: Any = None
        self._env: Any = None
        self._stack = contextlib.ExitStack()
        self._preloaded: list[str] = []
        self._lock = threading.Lock()
        self._owned_store = False  # True when `open` opened the store: `close` closes it

    @classmethod
    def open(cls, library: str, *, namespace: str = "default", world: str | None = None, seed: int = 0,
             task_id: str | None = None, actor: str = "mcp") -> LibraryService:
        """The service over the library at `library` (a SQLite path or URL) and the world
        spec `world` (apps, support, or ``package.module:make_world``) at `seed`; a
        `task_id` the world lacks fails now, not on the first `run_code`. `close` closes
        the store too."""
        from skillbank.store import open_store
        from skillbank.toolkit.loader import open_world

        built = open_world(world, seed=seed) if world is not None else None
        if built is not None and task_id is not None:
            built.task(task_id)
        service = cls(open_store(library), namespace=namespace, world=built, task_id=task_id, actor=actor)
        service._owned_store = True
        return service

    # -- skills ----------------------------------------------------------------------------
    def _representatives(self, *, candidates: bool = True) -> list[Any]:
        """One version per name: promoted, else canary, else the latest candidate."""
        return serving_versions(self.store.list_versions(namespace=self.namespace, latest_only=False),
                                candidates=candidates)

    def search_skills(self, query: str = "", k: int = 5, include_candidates: bool = True) -> list[dict[str, Any]]:
        if not isinstance(k, int) or not 1 <= k <= 100:
            raise ValidationError(f"k must be between 1 and 100, got {k!r}")
        versions = self._representatives(candidates=include_candidates)
        if query.strip():
            import dataclasses

            from skillbank.retrieval import NgramRetriever, SkillEntry, skill_text

            # Every entry is made eligible (candidates count as this search's own): the
            # choice of version per name was made above.
            entries = [dataclasses.replace(SkillEntry.from_version(v), run_id="mcp") for v in versions]
            retriever = NgramRetriever(top_k=k, text=skill_text)
            retriever.index(entries)
            by_id = {v.id: v for v in versions}
            versions = [by_id[e.version_id] for e in retriever.search(query, k=k, run_id="mcp")]
        return [self._summary(v) for v in versions[:k]]

    @staticmethod
    def _summary(v: Any) -> dict[str, Any]:
        doc = (v.docstring or "").strip().splitlines()
        return {"ref": v.ref, "name": v.name, "version": v.version, "status": v.status.value,
                "signature": v.signature, "summary": doc[0] if doc else ""}

    def _resolve(self, ref: str) -> Any:
        name, at = parse_ref(ref)
        if at:
            return self.store.get_version(name, int(at) if at.isdigit() else at, namespace=self.namespace)
        reps = [v for v in self._representatives() if v.name == name]
        if reps:
            return reps[0]
        return self.store.get_version(name, None, namespace=self.namespace)

    def show_skill(self, ref: str) -> dict[str, Any]:
        v = self._resolve(ref)
        stats = self.store.call_stats(v.id)
        p = v.provenance
        return {
            **self._summary(v), "id": v.id, "docstring": v.docstring, "source": v.source,
            "input_schema": v.input_schema, "created_at": v.created_at.isoformat() if v.created_at else None,
            "aliases": {a.alias: a.version for a in self.store.list_aliases(v.name, namespace=self.namespace)},
            "provenance": {"created_by": p.created_by, "task_id": p.task_id, "run_id": p.run_id,
                           "scenario_id": p.scenario_id, "query": p.query, "parent_version_id": p.parent_version_id,
                           "failure_log": p.failure_log},
            "calls": {"calls": stats.calls, "successes": stats.successes, "failures": stats.failures},
        }

    def save_skill(self, source: str, query: str | None = None, parent: str | None = None,
                   failure_log: str | None = None) -> dict[str, Any]:
        from skillbank.skill import parse_skill
        from skillbank.store import EventType, Provenance, VersionStatus

        if not isinstance(source, str) or not source.strip():
            raise ValidationError("source must be the Python source of one function")
        name = parse_skill(source).name  # a clear error for anything but one function, before any write
        parent_version = self._resolve(parent) if parent else None
        if parent_version is not None and parent_version.name != name:
            raise ValidationError(f"parent {parent!r} is a version of {parent_version.name!r}, not of {name!r}")
        provenance = Provenance(created_by=self.actor, query=query,
                                parent_version_id=parent_version.id if parent_version else None,
                                failure_log=failure_log)
        v, created = self.store.put_version(source, namespace=self.namespace, provenance=provenance,
                                            status=VersionStatus.CANDIDATE, actor=self.actor)
        self.store.record_event(EventType.SAVED.value, namespace=self.namespace, name=v.name, version_id=v.id, actor=self.actor,
                                reason="saved from an MCP client; a candidate until governance promotes it",
                                payload={"new_version": created, "via": "mcp"})
        # Governance's intake: the static red-team scan at once (secrets, process or
        # network access, dynamic imports, …); a high finding quarantines the version.
        # The client learns accepted or refused, never which rule fired: a client that
        # saw the findings would rewrite the payload until it passed. People read them
        # (`skillbank skills redteam`, REST `.../findings`, the dashboard).
        from skillbank.governance import Governance

        _, quarantined = Governance(self.store, namespace=self.namespace, actor="governance").redteam(
            v.name, v.version, run=False)
        return {**self._summary(self.store.get_version_by_id(v.id)), "created": created, "accepted": not quarantined,
                "note": ("refused: held for a person's review, never retrieved until they release it"
                         if quarantined else
                         "saved as a candidate: it is not trusted (or retrieved by agents) until governance promotes it")}

    # -- the world ---------------------------------------------------------------------------
    def _need_world(self) -> Any:
        if self.world is None:
            raise ValidationError("no world is configured; start the server with --world")
        return self.world

    def list_apis(self, app: str | None = None, api: str | None = None) -> dict[str, Any]:
        world = self._need_world()
        from skillbank.worlds.base import ApiError

        try:
            if app is None:
                return {"world": world.name, "apps": [{"name": a.name, "description": a.description, "apis": list(a.apis)}
                                                      for a in world.app_infos()]}
            if api is None:
                if app not in world.apps:
                    world.api(app, "")  # raises the not-found error, with a suggestion
                return {"app_name": app, "apis": [{"name": s.name, "description": s.description}
                                                  for s in world.apps[app].apis.values()]}
            return world.api_doc(app, api) if hasattr(world, "api_doc") else world.api(app, api).doc()
        except ApiError as exc:
            raise NotFoundError(str(exc)) from None

    def _open_session(self, extra_skills: list[str]) -> None:
        from skillbank.sandbox import SandboxConfig, SandboxPool

        world = self._need_world()
        self._close_session()
        if self._pool is None:
            self._pool = SandboxPool(self._sandbox_config or SandboxConfig(workers=1))
        tasks = world.tasks()
        if self._task_id is None and not tasks:
            raise ValidationError(f"the {world.name} world has no tasks to run code against")
        task_id = self._task_id or tasks[0].id
        self._env = world.start(task_id)
        self._session = self._stack.enter_context(self._pool.session(self._env, task_id=task_id))
        chosen = {v.name: v for v in self._representatives(candidates=False)}
        for ref in extra_skills:
            v = self._resolve(ref)
            chosen[v.name] = v
        results = (self._session.preload({v.name: v.source for v in chosen.values()},
                                         refs={v.name: v.ref for v in chosen.values()}) if chosen else {})
        self._preloaded = [v.ref for v in chosen.values() if results.get(v.name) is not None and results[v.name].ok]

    def _close_session(self) -> None:
        self._stack.close()
        self._stack = contextlib.ExitStack()
        self._session = None

    def run_code(self, code: str, skills: list[str] | None = None, reset: bool = False) -> dict[str, Any]:
        if not isinstance(code, str) or len(code) > MAX_CODE_CHARS:
            raise ValidationError(f"code must be a string of at most {MAX_CODE_CHARS} characters")
        with self._lock:
            if self._session is None or reset or skills:
                self._open_session(list(skills or ()))
            r = self._session.run(code)
            return {
                "ok": r.ok, "stdout": _clip(r.stdout), "value": _clip(r.result_repr),
                "error": None if r.ok else f"{r.error_type or 'Error'}: {r.error_message or r.killed or ''}",
                "static_errors": list(r.static_errors), "traceback": _clip(r.traceback, 4000),
                "api_calls": [{"app": c.app, "api": c.api, "ok": c.ok, "error": c.error} for c in r.api_calls[:200]],
                "preloaded": list(self._preloaded), "task_id": self._env.task.id,
                "task_completed": bool(self._env.completed),
            }

    def close(self) -> None:
        self._close_session()
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._owned_store:
            self.store.close()
            self._owned_store = False
