"""The library as one run sees it: what it retrieves, what it records, what it saves.

Isolation between runs rides on `run_id`: every version the agent saves is a
`candidate` whose provenance names its run, and retrieval offers candidates only to
that run (promoted and canary versions to everyone). Saving is not trusting: nothing the
agent saves is promoted here; governance does that.

The store keeps one version per content, so a run that re-derives a skill another run
already saved gets that version back (`created` False) with the other run's provenance.
The run still produced it, so it is indexed as this run's own candidate here; nothing in
the store changes, and other runs keep not seeing it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from skillbank.errors import ConfigError, NotFoundError
from skillbank.store.base import LibraryStore, Provenance, StoredVersion, VersionStatus
from skillbank.store.serving import SERVED_STATUSES
from skillbank.worlds.base import Task


class Retriever(Protocol):
    """`skillbank.retrieval.Retriever`, restated so the agent depends on its shape only.
    A retriever that is also an `IncrementalRetriever` is kept up to date incrementally;
    one without it is re-indexed whenever the library changed."""

    def index(self, entries: Sequence[Any]) -> None: ...

    def search(self, query: str, *, k: int | None = None, scenario_id: str | None = None,
               run_id: str | None = None) -> list[Any]: ...


@runtime_checkable
class IncrementalRetriever(Protocol):
    """Optional member of a retriever: apply a change to its index. An embedding
    retriever (`EmbeddingRetriever`) also takes the entries' ``vectors``."""

    def update(self, upserts: Sequence[Any] = (), removed: Sequence[str] = (), **kwargs: Any) -> None: ...


@runtime_checkable
class EmbeddingRetriever(Protocol):
    """Optional members of a retriever that ranks by embeddings: its model (with
    ``encode(texts)`` and, for models from a package or path, a ``cache_key``) and the
    text it embeds per entry. The run feeds it vectors persisted in the store."""

    embedder: Any

    def text(self, entry: Any) -> str: ...


@runtime_checkable
class KeyedEmbedder(Protocol):
    """Optional member of an embedding model: the name its vectors are persisted under
    (a packaged model's name, or the path of a model given explicitly). Without it the
    vectors are filed under the model's class name."""

    @property
    def cache_key(self) -> str: ...


class VersionChooser(Protocol):
    """Governance's hook at retrieval (`skillbank.agent.hooks.RunHooks` extends it)."""

    def choose_versions(self, run_id: str, task: Task, versions: list[StoredVersion]) -> list[StoredVersion]:
        """Which version of each retrieved name is served (canary routing); it may drop
        versions, never add unseen ones."""
        ...


class RunLibrary:
    """A store, a retriever, and the run's identity (namespace, run id, actor).

    The run keeps one index for its whole life. The first retrieval reads the part of
    the library the run may see (promoted, canary, its own candidates; filtered in SQL)
    and notes the store's change cursor; every later one asks the store only what
    changed since (`changes_since`: the skills touched by events after the cursor, with
    all their current versions) and applies that to the index, so a task's retrieval
    cost follows what changed, not the size of the library. Embeddings are read from the
    store's persisted vectors by text hash and model; only texts never encoded before
    are encoded (and kept, when the run may write).
    """

    def __init__(
        self,
        store: LibraryStore,
        retriever: Retriever | None,
        *,
        run_id: str,
        namespace: str = "default",
        top_k: int = 5,
        actor: str = "agent",
        writable: bool = True,
        version_chooser: VersionChooser | None = None,
    ):
        self.store = store
        self.retriever = retriever
        self.run_id = run_id
        self.namespace = namespace
        self.top_k = top_k
        self.actor = actor
        # False leaves the store untouched (the no-skills ablation): no events, no saves.
        self.writable = writable
        # Governance's hook: which version of each retrieved name is served (canary
        # routing); it may drop versions, never add unseen ones.
        self.version_chooser = version_chooser
        self._own: set[str] = set()  # ids of the versions this run saved or re-derived
        self._own_pending: set[str] = set()  # re-derived since the last sync (no event marks them)
        self._cursor: int | None = None  # the store's change cursor the index reflects
        self._held: dict[str, StoredVersion] = {}  # version id -> version, what the index holds
        self._ids_of: dict[str, set[str]] = {}  # skill name -> held version ids
        self._vectors: dict[str, Any] = {}  # embedding per text hash, this run's memory
        #: Texts this run encoded (embedding modes); what a second run over the same library keeps at 0.
        self.encoded = 0

    def retrieve(self, task: Task) -> list[StoredVersion]:
        """Top-k versions for `task`; None as retriever means no skills (the ablation)."""
        if self.retriever is None:
            return []
        # Synced per task: earlier tasks of the scenario save candidates later ones must see.
        self.sync()
        hits = self.retriever.search(task.instruction, k=self.top_k, scenario_id=task.scenario_id, run_id=self.run_id)
        found = [self._held[h.version_id] for h in hits if h.version_id in self._held]
        if self.version_chooser is None:
            return found
        return self.version_chooser.choose_versions(self.run_id, task, found)

    # -- keeping the index in step with the store ---------------------------------------

    def sync(self) -> None:
        """Bring the index up to date with the store (see the class docstring)."""
        if self.retriever is None:
            return
        if self._cursor is None:
            cursor, versions = self.store.retrievable_versions(
                namespace=self.namespace, statuses=SERVED_STATUSES, run_id=self.run_id)
            extra = [self.store.get_version_by_id(i) for i in self._own - {v.id for v in versions}]
            self._own_pending.clear()
            self._replace(set(), versions + extra)
            self._cursor = cursor
            return
        changes = self.store.changes_since(self._cursor, namespace=self.namespace)
        names = set(changes.names)
        versions = list(changes.versions)
        if self._own_pending:
            rederived = {self.store.get_version_by_id(i).name for i in self._own_pending} - names
            self._own_pending.clear()
            for name in rederived:
                versions += self._versions_of(name)
            names |= rederived
        self._cursor = changes.cursor
        if names:
            self._replace(names, versions)

    def _versions_of(self, name: str) -> list[StoredVersion]:
        try:
            return self.store.history(name, namespace=self.namespace)
        except NotFoundError:  # a skill removed meanwhile has no history
            return []

    def _may_see(self, v: StoredVersion) -> bool:
        # The retriever applies the same rule; filtering first keeps other runs'
        # candidates (most of a shared library) out of the index and its embeddings.
        status = getattr(v.status, "_value_", v.status)
        if status == "candidate":
            return v.id in self._own or v.provenance.run_id == self.run_id
        return status in SERVED_STATUSES

    def _entry(self, v: StoredVersion) -> Any:
        from skillbank.retrieval import SkillEntry

        e = SkillEntry.from_version(v)
        return dataclasses.replace(e, run_id=self.run_id) if v.id in self._own else e

    def _replace(self, names: set[str], versions: Sequence[StoredVersion]) -> None:
        """Make the index hold, for each of `names` (and each name in `versions`), exactly
        the visible ones among `versions`."""
        may_see = self._may_see
        visible = {v.id: v for v in versions if may_see(v)}
        names = names | {v.name for v in visible.values()}
        removed = [i for n in names for i in self._ids_of.get(n, ()) if i not in visible]
        held, own = self._held, self._own
        changed = [v for i, v in visible.items() if i in own or held.get(i) != v]
        for i in removed:
            v = self._held.pop(i)
            ids = self._ids_of[v.name]
            ids.discard(i)
            if not ids:
                del self._ids_of[v.name]
        for v in changed:
            self._held[v.id] = v
            self._ids_of.setdefault(v.name, set()).add(v.id)
        if not removed and not changed:
            return
        entries = [self._entry(v) for v in changed]
        retriever = self.retriever
        if not isinstance(retriever, IncrementalRetriever):
            self.retriever.index([self._entry(v) for v in self._held.values()])  # type: ignore[union-attr]
            return
        vectors = self._embed(entries) if isinstance(retriever, EmbeddingRetriever) else None
        if vectors is None:
            retriever.update(entries, removed)
        else:
            retriever.update(entries, removed, vectors=vectors)

    def _embed(self, entries: list[Any]) -> Any:
        """One vector per entry: from this run's memory, then the store's persisted
        vectors, then the model (and persisted for the next run)."""
        if not entries:
            return None
        retriever = self.retriever
        assert isinstance(retriever, EmbeddingRetriever)
        embedder = retriever.embedder
        model = (embedder.cache_key if isinstance(embedder, KeyedEmbedder) else None) or type(embedder).__name__
        texts = [retriever.text(e) for e in entries]
        hashes = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        missing = [h for h in dict.fromkeys(hashes) if h not in self._vectors]
        # Every store answers; a served one keeps no vectors for its clients ({} here, 0 kept).
        if missing:
            for h, raw in self.store.get_embeddings(model, missing).items():
                self._vectors[h] = np.frombuffer(raw, dtype=np.float32)
            missing = [h for h in missing if h not in self._vectors]
        if missing:
            text_of = dict(zip(hashes, texts))
            encoded = np.asarray(embedder.encode([text_of[h] for h in missing]), dtype=np.float32)
            self.encoded += len(missing)
            fresh = dict(zip(missing, encoded))
            self._vectors.update(fresh)
            if self.writable:
                self.store.put_embeddings(model, int(encoded.shape[1]),
                                          {h: np.ascontiguousarray(vec).tobytes() for h, vec in fresh.items()})
        dims = {self._vectors[h].shape[0] for h in hashes}
        if len(dims) != 1:  # vectors persisted by another model under the same key
            raise ConfigError(f"persisted embeddings for {model!r} disagree on their dimension ({sorted(dims)})")
        return np.stack([self._vectors[h] for h in hashes])

    def event(self, type: str, *, name: str | None, version_id: str | None = None, reason: str | None = None,
              payload: dict[str, Any] | None = None) -> None:
        if not self.writable:
            return
        self.store.record_event(type, namespace=self.namespace, name=name, version_id=version_id,
                                actor=self.actor, reason=reason, payload={"run_id": self.run_id, **(payload or {})})

    def record_call(self, version_id: str, *, ok: bool, latency_s: float) -> None:
        if not self.writable:
            return
        self.store.record_call(version_id, ok=ok, latency_s=latency_s)

    def save(self, source: str, provenance: Provenance) -> tuple[StoredVersion, bool]:
        version, created = self.store.put_version(source, namespace=self.namespace, provenance=provenance,
                                                  status=VersionStatus.CANDIDATE, actor=self.actor)
        if version.id not in self._own:
            self._own.add(version.id)
            if not created:
                # Re-derived: the store wrote nothing, so no event tells the next sync.
                self._own_pending.add(version.id)
        return version, created
