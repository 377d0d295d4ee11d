"""The agent loop on hand-written blocks: each operation detected, versions and events
written with provenance, observations for bad replies. The blocks run in the real
sandbox (one pool for the module: a session costs milliseconds), so a change in what the
worker reports (frames, errors, api calls) is noticed here."""

from __future__ import annotations

import pytest
from test_agent_fakes import (
    BROKEN_COUNT_SKILL,
    COUNT_SKILL,
    FakeWorld,
    RecordingReplay,
    block,
)

from skillbank.agent.config import AgentConfig
from skillbank.agent.library import RunLibrary
from skillbank.agent.loop import SkillAgent
from skillbank.agent.operations import OperationKind as K
from skillbank.errors import ValidationError
from skillbank.retrieval import make_retriever
from skillbank.sandbox import SandboxConfig, SandboxPool
from skillbank.store import Provenance, VersionStatus, open_store

DONE = "apis.supervisor.complete_task(answer=answer)"


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "lib.db")
    yield s
    s.close()


@pytest.fixture
def world():
    return FakeWorld()


_SESSIONS: list = []


@pytest.fixture(autouse=True)
def _real_sandbox(sessions):
    _SESSIONS[:] = [sessions]
    yield
    _SESSIONS.clear()


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(SandboxConfig(workers=1)) as p:
        yield p


@pytest.fixture
def sessions(pool):
    return lambda host, task_id: pool.session(host, task_id=task_id)


def play(world, store, replies, task_id="count-1", *, run_id="run-a", config=None, sessions=None):
    policy = RecordingReplay(replies)
    library = RunLibrary(store, make_retriever("same-scenario", top_k=5), run_id=run_id)
    agent = SkillAgent(policy, library, sessions or _SESSIONS[0], config or AgentConfig(max_steps=6))
    env = world.start(task_id)
    return agent.play(env, episode_id="ep-1"), env, policy


def kinds(episode):
    return [(op.kind, op.name, op.ok) for op in episode.operations()]


def promote(store, source, scenario="count"):
    v, _ = store.put_version(source, provenance=Provenance(scenario_id=scenario, query="count notes"),
                             status=VersionStatus.PROMOTED, actor="test")
    return v


def test_create_then_save_with_provenance(world, store):
    ep, env, _ = play(world, store, [block(COUNT_SKILL + "\nanswer = count_notes('shop')\n" + DONE)])
    assert kinds(ep) == [(K.CREATE, "count_notes", True)]
    assert env.evaluate().success and ep.stop_reason == "completed" and ep.self_reported == "success"
    assert ep.saved == ("count_notes@1",)
    v = store.get_version("count_notes")
    assert v.status is VersionStatus.CANDIDATE
    p = v.provenance
    assert (p.task_id, p.episode_id, p.run_id, p.scenario_id) == ("count-1", "ep-1", "run-a", "count")
    assert p.query == world.task("count-1").instruction and p.parent_version_id is None
    types = [e.type for e in store.events(name="count_notes")]
    assert "created" in types and "saved" in types


def test_use_records_call_stats_and_event(world, store):
    v = promote(store, COUNT_SKILL)
    ep, env, policy = play(world, store, [block("answer = count_notes('work')\n" + DONE)], task_id="count-2")
    assert policy.infos[0].skill_names == ("count_notes",)
    assert "def count_notes" in policy.prompts[0][0].content  # short source shown in the prompt
    assert kinds(ep) == [(K.USE, "count_notes", True)]
    assert env.evaluate().success and ep.saved == ()
    stats = store.call_stats(v.id)
    assert (stats.calls, stats.successes, stats.failures) == (1, 1, 0)
    assert [e.type for e in store.events(name="count_notes", type="called")] == ["called"]


def test_use_through_a_wrapper_counts(world, store):
    promote(store, COUNT_SKILL)
    code = "def twice(w):\n    return 2 * count_notes(w)\n\nanswer = twice('shop') // 2\n" + DONE
    ep, env, _ = play(world, store, [block(code)], task_id="count-1")
    assert (K.USE, "count_notes", True) in kinds(ep) and (K.CREATE, "twice", True) in kinds(ep)
    assert env.evaluate().success


def test_update_after_failure_is_saved_with_parent_and_failure_log(world, store):
    broken = promote(store, BROKEN_COUNT_SKILL)
    replies = [
        block("answer = count_notes('home')\n" + DONE),
        block(COUNT_SKILL + "\nanswer = count_notes('home')\n" + DONE, "It failed; rewrite it."),
    ]
    ep, env, policy = play(world, store, replies, task_id="count-3")
    assert kinds(ep) == [(K.USE, "count_notes", False), (K.UPDATE, "count_notes", True)]
    assert "search_notes" in ep.turns[0].observation  # the error went back to the model
    assert "search_notes" in policy.prompts[1][-1].content
    assert env.evaluate().success
    stats = store.call_stats(broken.id)
    assert (stats.calls, stats.failures) == (1, 1)
    assert [e.type for e in store.events(name="count_notes", type="failed")] == ["failed"]
    new = store.get_version("count_notes")
    assert new.version == 2 and new.status is VersionStatus.CANDIDATE
    assert new.provenance.parent_version_id == broken.id
    assert "search_notes" in (new.provenance.failure_log or "")
    update_op = ep.operations()[1]
    assert update_op.parent_version_id == broken.id


def test_define_without_call_is_not_create_nor_saved(world, store):
    replies = [block(COUNT_SKILL), block("answer = 2\n" + DONE)]
    ep, _, _ = play(world, store, replies)
    assert kinds(ep) == [(K.DEFINED, "count_notes", None)]
    assert ep.saved == () and store.list_versions() == []


def test_failing_redefinition_is_an_update_that_is_not_saved(world, store):
    bad_again = BROKEN_COUNT_SKILL.replace("search_notes", "find_notes")
    replies = [
        block(BROKEN_COUNT_SKILL + "\nanswer = count_notes('shop')"),
        block(bad_again + "\nanswer = count_notes('shop')"),
        block("answer = 2\n" + DONE),
    ]
    ep, _, _ = play(world, store, replies)
    assert kinds(ep) == [(K.CREATE, "count_notes", False), (K.UPDATE, "count_notes", False)]
    assert "search_notes" in ep.operations()[1].failure_log
    assert ep.self_reported == "success" and ep.saved == ()  # its last call failed
    assert store.list_versions() == []


def test_syntax_error_has_no_operation_and_tells_the_model(world, store):
    replies = [block("def count_notes(word:\n    pass"), block("answer = 2\n" + DONE)]
    ep, _, policy = play(world, store, replies)
    assert ep.turns[0].operations == () and ep.turns[0].ok is False
    assert "SyntaxError" in ep.turns[0].observation
    assert "SyntaxError" in policy.prompts[1][-1].content


def test_reply_without_code_gets_a_clear_observation_and_counts_as_a_step(world, store):
    replies = ["I think the answer is 2.", block("answer = 2\n" + DONE)]
    ep, _, policy = play(world, store, replies)
    assert ep.steps == 2 and ep.turns[0].code is None and ep.turns[0].error == "no_code"
    assert "no code block" in policy.prompts[1][-1].content
    assert ep.stop_reason == "completed"


def test_complete_task_ends_the_episode(world, store):
    replies = [block("answer = 2\n" + DONE), block("print('never runs')")]
    ep, env, _ = play(world, store, replies)
    assert ep.steps == 1 and env.completed and ep.self_reported == "success"
    assert [c["api"] for c in ep.turns[0].api_calls] == ["complete_task"]


def test_given_up_task_saves_nothing(world, store):
    code = COUNT_SKILL + "\nanswer = count_notes('shop')\napis.supervisor.complete_task(status='fail')"
    ep, _, _ = play(world, store, [block(code)])
    assert kinds(ep) == [(K.CREATE, "count_notes", True)]
    assert ep.self_reported == "fail" and ep.saved == () and store.list_versions() == []


def test_step_limit_and_token_budget_stop_the_episode(world, store):
    ep, env, _ = play(world, store, [block("x = 1")] * 3, config=AgentConfig(max_steps=3))
    assert ep.steps == 3 and ep.stop_reason == "max_steps" and not env.completed
    ep, _, _ = play(world, store, [block("x = 1")] * 10, config=AgentConfig(max_steps=10, token_budget=2500))
    assert ep.stop_reason == "token_budget" and ep.steps < 10
    assert ep.prompt_tokens + ep.completion_tokens >= 2500


def test_a_failing_reply_written_again_and_again_stops_the_episode(world, store):
    # x = 1 succeeds, so repeating it is not a failure loop: only the step limit stops it.
    ep, _, _ = play(world, store, [block("x = 1")] * 6, config=AgentConfig(max_steps=6))
    assert ep.stop_reason == "max_steps" and ep.steps == 6
    # The same failing reply: the first and max_repeats more, then the episode stops.
    ep, env, _ = play(world, store, [block("1 / 0")] * 6, config=AgentConfig(max_steps=6, max_repeats=2))
    assert ep.stop_reason == "repeated" and ep.steps == 3 and not env.completed
    # A reply without code counts as failing too; a different reply in between resets the count.
    replies = ["no code"] * 2 + [block("1 / 0"), "no code", "no code", "no code"]
    ep, _, _ = play(world, store, replies, config=AgentConfig(max_steps=6, max_repeats=2))
    assert ep.stop_reason == "repeated" and ep.steps == 6
    ep, _, _ = play(world, store, [block("1 / 0")] * 6, config=AgentConfig(max_steps=6, max_repeats=None))
    assert ep.stop_reason == "max_steps" and ep.steps == 6
    with pytest.raises(ValidationError, match="max_repeats"):
        AgentConfig(max_repeats=0)


def test_broken_skills_are_dropped_at_preload(world, store):
    promote(store, "def count_notes(word):\n    return undefined_name\n")  # loads fine: fails only when called
    promote(store, "import no_such_module_xyz\n\n\ndef note_titles(word):\n    return []\n", scenario="count")
    ep, _, policy = play(world, store, [block("answer = 2\n" + DONE)])
    assert ep.loaded == ("count_notes",)
    assert ep.dropped == ("note_titles@1",)
    assert policy.infos[0].skill_names == ("count_notes",)


def test_other_runs_candidates_are_not_retrieved(world, store):
    play(world, store, [block(COUNT_SKILL + "\nanswer = count_notes('shop')\n" + DONE)], run_id="run-a")
    ep_b, _, _ = play(world, store, [block("answer = 2\n" + DONE)], task_id="count-2", run_id="run-b")
    ep_a, _, _ = play(world, store, [block("answer = count_notes('work')\n" + DONE)], task_id="count-2",
                      run_id="run-a")
    assert ep_b.loaded == () and ep_a.loaded == ("count_notes",)
    assert kinds(ep_a) == [(K.USE, "count_notes", True)]


class CountingEmbedder:
    def __init__(self):
        self.encoded: list[str] = []

    def encode(self, texts):
        import numpy as np

        self.encoded += list(texts)
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


def test_library_indexes_only_what_the_run_may_see_and_embeds_each_text_once(world, store):
    from skillbank.retrieval import EmbeddingRetriever

    embedder = CountingEmbedder()
    retriever = EmbeddingRetriever("query-embedding", embedder=embedder)
    promote(store, COUNT_SKILL)
    store.put_version(BROKEN_COUNT_SKILL.replace("count_notes", "other_runs_skill"),
                      provenance=Provenance(run_id="someone-else", query="zzz other"), actor="test")
    library = RunLibrary(store, retriever, run_id="mine")
    first = library.retrieve(world.task("count-1"))
    assert [v.name for v in first] == ["count_notes"]
    assert not any("zzz" in t for t in embedder.encoded)  # another run's candidate: not embedded
    n = len(embedder.encoded)
    library.retrieve(world.task("count-2"))
    assert len(embedder.encoded) == n + 1  # only the new query, the index was kept
