"""The run's incremental index: what another writer does between two tasks is seen by
the next task exactly as a full listing would show it, an index kept up to date returns
the same top-k as one built fresh, and persisted embeddings are not encoded twice."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from skillbank.agent.library import RunLibrary
from skillbank.retrieval import EmbeddingRetriever, SkillEntry, make_retriever
from skillbank.store import Provenance, VersionStatus, open_store

WORDS = ("send", "money", "venmo", "songs", "spotify", "liked", "archive", "email", "gmail", "tasks",
         "overdue", "todoist", "notes", "count", "friends", "playlist", "refund", "order", "amazon", "alarm")
SCENARIOS = tuple(f"s{i}" for i in range(6))


class HashingEmbedder:
    """Deterministic bag-of-words vectors (no model): similar texts score higher."""

    cache_key = "test/hashing-16"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def encode(self, texts):
        self.texts += list(texts)
        out = np.zeros((len(texts), 16), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, int(hashlib.sha256(word.encode()).hexdigest(), 16) % 16] += 1.0
            out[row, 15] += 0.01
        return out


def source(name: str, variant: int) -> str:
    return f"def {name}(apis, n: int = {variant}) -> int:\n    '''Do {name.replace('_', ' ')}.'''\n    return n + {variant}\n"


def task(instruction: str, scenario: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(instruction=instruction, scenario_id=scenario, id="t")


def query(rng: random.Random) -> str:
    return " ".join(rng.sample(WORDS, 4))


def retriever(mode: str):
    if mode in ("query-embedding", "skill-embedding"):
        return EmbeddingRetriever(mode, embedder=HashingEmbedder())
    return make_retriever(mode)


def put(store, rng: random.Random, i: int, *, status=VersionStatus.PROMOTED, run_id: str | None = None):
    name = f"skill_{rng.randrange(40):02d}"
    prov = Provenance(created_by="test", run_id=run_id, scenario_id=rng.choice(SCENARIOS), query=query(rng))
    return store.put_version(source(name, i), provenance=prov, status=status, actor="test")[0]


def full_listing_top_k(store, mode: str, t, run_id: str, own: set[str] = frozenset(), k: int = 5) -> list[str]:
    """The reference: every version listed, filtered by the run's visibility rule,
    indexed from scratch."""
    seen = []
    for v in store.list_versions(latest_only=False):
        e = SkillEntry.from_version(v)
        if v.id in own:
            e = SkillEntry(**{**e.__dict__, "run_id": run_id})
        if e.status == "candidate" and e.run_id != run_id:
            continue
        if e.status in ("promoted", "canary", "candidate"):
            seen.append(e)
    r = retriever(mode)
    r.index(seen)
    return [h.version_id for h in r.search(t.instruction, k=k, scenario_id=t.scenario_id, run_id=run_id)]


def ids(versions) -> list[str]:
    return [v.id for v in versions]


@pytest.fixture()
def path(tmp_path: Path) -> Path:
    return tmp_path / "lib.db"


MODES = ("same-scenario", "query-ngram", "query-embedding", "skill-embedding")


@pytest.mark.parametrize("mode", MODES)
def test_incremental_index_matches_a_full_listing_through_random_changes(path: Path, mode: str) -> None:
    rng = random.Random(7)
    store = open_store(path)
    other = open_store(path)  # another writer on the same library
    try:
        versions = [put(store, rng, i, status=rng.choice([VersionStatus.PROMOTED, VersionStatus.CANARY,
                                                           VersionStatus.CANDIDATE])) for i in range(120)]
        library = RunLibrary(store, retriever(mode), run_id="mine", top_k=5)
        counter = 1000
        for step in range(25):
            t = task(query(rng), rng.choice(SCENARIOS))
            assert ids(library.retrieve(t)) == full_listing_top_k(store, mode, t, "mine", library._own), step
            # between tasks: other writers save, promote, quarantine, retire, move aliases
            for _ in range(rng.randrange(1, 5)):
                op = rng.random()
                counter += 1
                if op < 0.3:
                    versions.append(put(other, rng, counter, status=rng.choice([VersionStatus.PROMOTED,
                                                                                VersionStatus.CANDIDATE])))
                elif op < 0.45:
                    # the run's own saves (a candidate only this run sees)
                    prov = Provenance(run_id="mine", scenario_id=rng.choice(SCENARIOS), query=query(rng))
                    v, _ = library.save(source(f"skill_{rng.randrange(40):02d}", counter), prov)
                    versions.append(v)
                elif op < 0.85:
                    v = rng.choice(versions)
                    other.set_status(v.id, rng.choice(list(VersionStatus)), actor="gov")
                else:
                    v = rng.choice(versions)
                    current = other.get_alias(v.name, "promoted")
                    other.set_alias(v.name, "promoted", v.version, actor="gov",
                                    expected_generation=None if current is None else current.generation)
        # and an index built fresh now agrees with the one kept up to date all along
        fresh = RunLibrary(store, retriever(mode), run_id="mine", top_k=5)
        fresh._own = set(library._own)
        for _ in range(20):
            t = task(query(rng), rng.choice(SCENARIOS))
            assert ids(library.retrieve(t)) == ids(fresh.retrieve(t))
    finally:
        other.close()
        store.close()


def test_a_change_by_another_process_is_seen_by_the_next_task(path: Path) -> None:
    store = open_store(path)
    try:
        v, _ = store.put_version(source("pay_rent", 1), status=VersionStatus.CANDIDATE,
                                 provenance=Provenance(scenario_id="s1", query="pay the rent"))
        library = RunLibrary(store, make_retriever("same-scenario"), run_id="mine")
        assert library.retrieve(task("pay the rent", "s1")) == []  # someone else's candidate

        def other_process(code: str) -> None:
            script = ("import sys\nfrom skillbank.store import open_store, VersionStatus\n"
                      f"s = open_store(sys.argv[1])\n{code}\ns.close()\n")
            subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60)

        other_process(f"s.set_status({v.id!r}, VersionStatus.PROMOTED, actor='gov')")
        assert ids(library.retrieve(task("pay the rent", "s1"))) == [v.id]
        other_process(f"s.set_status({v.id!r}, VersionStatus.QUARANTINED, actor='gov')")
        assert library.retrieve(task("pay the rent", "s1")) == []
        other_process("s.put_version(" + repr(source("pay_rent", 2)) + ", status=VersionStatus.PROMOTED, "
                      "provenance=__import__('skillbank.store', fromlist=['Provenance']).Provenance(scenario_id='s1'))")
        found = library.retrieve(task("pay the rent", "s1"))
        assert [(x.name, x.version) for x in found] == [("pay_rent", 2)]
    finally:
        store.close()


def test_a_re_derived_version_becomes_the_runs_own(path: Path) -> None:
    """Saving source another run already stored writes nothing (no event), yet the next
    task of this run must see it as its own candidate."""
    store = open_store(path)
    try:
        store.put_version(source("tally", 3), status=VersionStatus.CANDIDATE,
                          provenance=Provenance(run_id="theirs", scenario_id="s1", query="tally up"))
        library = RunLibrary(store, make_retriever("same-scenario"), run_id="mine")
        assert library.retrieve(task("tally up", "s1")) == []
        v, created = library.save(source("tally", 3), Provenance(run_id="mine", scenario_id="s1"))
        assert not created
        assert ids(library.retrieve(task("tally up", "s1"))) == [v.id]
        other = RunLibrary(store, make_retriever("same-scenario"), run_id="third")
        assert other.retrieve(task("tally up", "s1")) == []
    finally:
        store.close()


def test_later_tasks_read_only_what_changed(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(3)
    store = open_store(path)
    try:
        for i in range(50):
            put(store, rng, i)
        library = RunLibrary(store, make_retriever("query-ngram"), run_id="mine")
        library.retrieve(task("send money venmo"))
        calls = {"full": 0}
        real = store.retrievable_versions

        def counting(**kw):
            calls["full"] += 1
            return real(**kw)

        monkeypatch.setattr(store, "retrievable_versions", counting)
        monkeypatch.setattr(store, "list_versions", lambda **kw: pytest.fail("no full listing per task"))
        put(store, rng, 99)
        for _ in range(3):
            library.retrieve(task("send money venmo"))
        assert calls["full"] == 0
    finally:
        store.close()


@pytest.mark.parametrize("mode", ("query-embedding", "skill-embedding"))
def test_persisted_embeddings_are_not_encoded_again(path: Path, mode: str) -> None:
    rng = random.Random(5)
    store = open_store(path)
    try:
        for i in range(30):
            put(store, rng, i)
        first = RunLibrary(store, EmbeddingRetriever(mode, embedder=HashingEmbedder()), run_id="r1")
        first.retrieve(task("send money"))
        visible = len(store.list_versions(status=VersionStatus.PROMOTED, latest_only=False))
        # texts can repeat (two versions with one query), each is encoded once
        assert 0 < first.encoded <= visible
        embedder = HashingEmbedder()
        second = RunLibrary(store, EmbeddingRetriever(mode, embedder=embedder), run_id="r2")
        assert ids(second.retrieve(task("send money"))) == ids(first.retrieve(task("send money")))
        assert second.encoded == 0 and embedder.texts == ["send money"]  # only the query
        put(store, rng, 100)
        second.retrieve(task("send money"))
        assert second.encoded == 1
        # a read-only run reuses the vectors but does not write new ones
        third = RunLibrary(store, EmbeddingRetriever(mode, embedder=HashingEmbedder()), run_id="r3", writable=False)
        third.retrieve(task("send money"))
        assert third.encoded == 0
    finally:
        store.close()


def test_vectors_are_filed_per_model(path: Path) -> None:
    rng = random.Random(1)
    store = open_store(path)
    try:
        for i in range(5):
            put(store, rng, i)
        RunLibrary(store, EmbeddingRetriever("query-embedding", embedder=HashingEmbedder()), run_id="a").retrieve(task("x"))

        class Other(HashingEmbedder):
            cache_key = "test/other-model"

        lib = RunLibrary(store, EmbeddingRetriever("query-embedding", embedder=Other()), run_id="b")
        lib.retrieve(task("x"))
        assert lib.encoded > 0
    finally:
        store.close()


@pytest.mark.parametrize("mode", MODES)
def test_updates_and_compaction_agree_with_a_fresh_index(mode: str) -> None:
    """Retriever level: add in steps, move statuses, remove most rows (which compacts the
    index), and compare with an index built at once over what is left."""
    import datetime as dt

    rng = random.Random(11)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

    def make(i: int, status: str = "promoted") -> SkillEntry:
        name = f"skill_{i % 300:03d}"
        return SkillEntry(version_id=f"v{i}", name=name, source=source(name, i), docstring=None,
                          signature=f"def {name}(apis)", status=status, scenario_id=rng.choice(SCENARIOS),
                          query=query(rng), run_id="mine" if status == "candidate" else None,
                          version=i // 300 + 1, created_at=t0 + dt.timedelta(seconds=i % 17))

    entries = {f"v{i}": make(i, rng.choice(["promoted", "canary", "candidate"])) for i in range(1600)}
    stepwise = retriever(mode)
    ordered = list(entries.values())
    for start in range(0, len(ordered), 400):
        stepwise.update(ordered[start:start + 400])
    for vid in rng.sample(sorted(entries), 200):  # status moves, in place
        entries[vid] = SkillEntry(**{**entries[vid].__dict__, "status": rng.choice(["promoted", "canary", "retired"])})
        stepwise.update([entries[vid]])
    gone = rng.sample(sorted(entries), 1350)
    stepwise.update([], gone)
    for vid in gone:
        del entries[vid]
    assert stepwise._dead == 0  # compacted: dead rows outnumbered live ones
    fresh = retriever(mode)
    fresh.index(list(entries.values()))
    assert len(stepwise) == len(fresh)
    for _ in range(30):
        q, scen = query(rng), rng.choice(SCENARIOS)
        for run_id in ("mine", None):
            a = stepwise.search(q, k=5, scenario_id=scen, run_id=run_id)
            b = fresh.search(q, k=5, scenario_id=scen, run_id=run_id)
            assert [e.version_id for e in a] == [e.version_id for e in b]
