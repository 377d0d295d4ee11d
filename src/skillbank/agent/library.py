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
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from skillbank.store.base import LibraryStore, Provenance, StoredVersion, VersionStatus
from skillbank.worlds.base import Task


class Retriever(Protocol):
    """`skillbank.retrieval.Retriever`, restated so the agent depends on its shape only."""

    def index(self, entries: Sequence[Any]) -> None: ...

    def search(self, query: str, *, k: int | None = None, scenario_id: str | None = None,
               run_id: str | None = None) -> list[Any]: ...


#: `(run_id, task, retrieved versions) -> the versions to serve`.
VersionChooser = Callable[[str, Task, list[StoredVersion]], list[StoredVersion]]


class RunLibrary:
    """A store, a retriever, and the run's identity (namespace, run id, actor)."""

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
        self._indexed: tuple | None = None  # what the retriever holds now
        self._vectors: dict[str, Any] = {}  # embedding per indexed text

    def retrieve(self, task: Task) -> list[StoredVersion]:
        """Top-k versions for `task`; None as retriever means no skills (the ablation)."""
        if self.retriever is None:
            return []
        from skillbank.retrieval import SkillEntry

        # Read per task: earlier tasks of the scenario save candidates later ones must see.
        versions = self.store.list_versions(namespace=self.namespace, latest_only=False)
        by_id = {v.id: v for v in versions}
        entries = [SkillEntry.from_version(v) for v in versions]
        entries = [dataclasses.replace(e, run_id=self.run_id) if e.version_id in self._own else e for e in entries]
        self._index([e for e in entries if self._may_see(e)])
        hits = self.retriever.search(task.instruction, k=self.top_k, scenario_id=task.scenario_id, run_id=self.run_id)
        found = [by_id[h.version_id] for h in hits if h.version_id in by_id]
        return self.version_chooser(self.run_id, task, found) if self.version_chooser is not None else found

    def _may_see(self, entry: Any) -> bool:
        # The retriever applies the same rule; filtering first keeps other runs'
        # candidates (most of a shared library) out of the index and its embeddings.
        if entry.status == VersionStatus.CANDIDATE.value:
            return entry.run_id == self.run_id
        return entry.status in (VersionStatus.PROMOTED.value, VersionStatus.CANARY.value)

    def _index(self, entries: list[Any]) -> None:
        """Index afresh only when the visible library changed (a save by an earlier task
        of the run, a promotion elsewhere); embed only entries not embedded before."""
        key = tuple((e.version_id, e.status, e.run_id) for e in entries)
        if key == self._indexed:
            return
        index_vectors = getattr(self.retriever, "index_vectors", None)
        if index_vectors is None:
            self.retriever.index(entries)
        else:
            texts = [self.retriever.text(e) for e in entries]
            missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
            if missing:
                self._vectors.update(zip(missing, self.retriever.embedder.encode(missing)))
            index_vectors(entries, np.stack([self._vectors[t] for t in texts]) if texts else np.zeros((0, 1)))
        self._indexed = key

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
        self._own.add(version.id)
        return version, created
