"""The agent on the real apps world, through the real sandbox: the expert reaches TGC
100% on dev reusing skills; skills cut steps and tokens on test_normal; operations are
detected from real sandbox results; `skillbank run --json`."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from test_agent_fakes import block

from skillbank.agent.config import AgentConfig, RunConfig
from skillbank.agent.library import RunLibrary
from skillbank.agent.loop import SkillAgent
from skillbank.agent.operations import OperationKind as K
from skillbank.agent.runner import run_split
from skillbank.agent.trace import load_run
from skillbank.cli import main
from skillbank.llm.expert import ExpertPolicy
from skillbank.llm.replay import ReplayPolicy
from skillbank.retrieval import make_retriever
from skillbank.sandbox import SandboxConfig, SandboxPool
from skillbank.store import open_store
from skillbank.worlds.apps import AppsWorld


@pytest.fixture(scope="module")
def world():
    return AppsWorld(seed=0)


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(SandboxConfig(workers=2)) as p:
        yield p


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "lib.db")
    yield s
    s.close()


def sessions(pool):
    return lambda host, task_id: pool.session(host, task_id=task_id)


def expert_run(world, pool, store, tmp_path, **kw):
    config = RunConfig(runs_dir=str(tmp_path / "runs"), **kw)
    retriever = make_retriever(config.retrieval, top_k=config.top_k)
    summary = run_split(world, ExpertPolicy(world), store, sessions(pool), retriever, config)
    return summary, load_run(tmp_path / "runs", summary.run_id)[1]


def test_expert_on_dev_reaches_full_tgc_and_reuses_skills(world, pool, store, tmp_path):
    s, episodes = expert_run(world, pool, store, tmp_path, split="dev")
    tasks = world.tasks("dev")
    assert s.tasks == len(tasks) >= 6 and s.scenarios == len({t.scenario_id for t in tasks})
    assert s.tgc == 1.0 and s.sgc == 1.0
    grades_ok = {e["task_id"]: e["success"] for e in episodes}
    assert all(grades_ok.values())
    by_scenario = defaultdict(dict)
    for e in episodes:
        by_scenario[e["scenario_id"]][e["index_in_scenario"]] = e
    for sid, eps in by_scenario.items():
        first_ops = [op["kind"] for t in eps[0]["turns"] for op in t["operations"]]
        assert "create" in first_ops and eps[0]["saved"], sid
        for i in (1, 2):
            later = [op["kind"] for t in eps[i]["turns"] for op in t["operations"]]
            assert "use" in later and "create" not in later, (sid, i, later)
    assert s.skills_used >= 2 * s.scenarios and s.skills_saved >= s.scenarios
    assert s.skill_usage_rate >= 2 / 3 - 1e-9


def test_skills_cut_steps_and_tokens_on_test_normal(world, pool, store, tmp_path):
    without, _ = expert_run(world, pool, store, tmp_path, split="test_normal", with_skills=False)
    with_, _ = expert_run(world, pool, store, tmp_path, split="test_normal")
    assert without.tgc == with_.tgc == 1.0
    assert with_.mean_steps < without.mean_steps
    assert with_.mean_tokens < without.mean_tokens
    assert with_.mean_prompt_tokens < without.mean_prompt_tokens
    assert without.skills_used == 0 and with_.skills_used > 0


def test_operations_from_real_sandbox_results(world, pool, store, tmp_path):
    """Update after a failure, a syntax error and a no-code reply on a real task."""
    task = world.tasks("dev")[0]
    solution = world.expert_solution(task.id)
    (name,) = solution.skill_names
    source = solution.skill_sources[0]
    broken = source.replace("apis.", "apis.no_such_app_", 1)
    replies = [
        "Let me think about it first.",
        block("def oops(:\n    pass"),
        block(broken + "\n" + solution.call_block),
        block(source + "\n" + solution.call_block, "It failed; I will fix the function and call it again."),
    ]
    policy = ReplayPolicy(replies)
    library = RunLibrary(store, make_retriever("same-scenario"), run_id="r1")
    env = world.start(task.id)
    ep = SkillAgent(policy, library, sessions(pool), AgentConfig(max_steps=6)).play(env, episode_id="e1")
    assert ep.turns[0].error == "no_code" and ep.turns[0].code is None
    assert "no code block" in policy.prompts[1][-1].content
    assert ep.turns[1].operations == () and "syntax" in ep.turns[1].observation.lower()
    got = [(op.kind, op.name, op.ok) for op in ep.operations()]
    assert got == [(K.CREATE, name, False), (K.UPDATE, name, True)]
    assert "no_such_app_" in ep.operations()[1].failure_log
    assert ep.stop_reason == "completed" and env.evaluate().success
    (ref,) = ep.saved
    v = store.get_version(name)
    assert ref == v.ref and v.provenance.task_id == task.id and v.provenance.run_id == "r1"
    assert "no_such_app_" in v.provenance.failure_log and "no_such_app_" not in v.source
    # The next task of the scenario, played by the expert, uses what was saved.
    nxt = next(t for t in world.tasks("dev") if t.scenario_id == task.scenario_id and t.index_in_scenario == 1)
    env2 = world.start(nxt.id)
    ep2 = SkillAgent(ExpertPolicy(world), library, sessions(pool)).play(env2)
    assert [(op.kind, op.name, op.ok) for op in ep2.operations()] == [(K.USE, name, True)]
    assert env2.evaluate().success and store.call_stats(v.id).successes == 1


def test_run_command_json(world, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--policy", "expert", "--split", "dev", "--limit", "3", "--json",
                 "--library", str(tmp_path / "lib.db"), "--runs-dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0, out
    data = json.loads(out)
    for key in ("tgc", "sgc", "mean_steps", "mean_tokens", "skills_created", "skills_used", "skills_saved",
                "skills_updated", "skill_usage_rate", "run_id", "policy", "split"):
        assert key in data
    assert data["tasks"] == 3 and data["tgc"] == 1.0 and data["policy"] == "expert"
    assert "scripted expert" in data["note"]
    assert (tmp_path / "runs" / data["run_id"] / "summary.json").exists()
    assert main(["run", "--split", "nope", "--library", str(tmp_path / "lib.db")]) == 1
    assert "unknown split 'nope'" in capsys.readouterr().err


def test_run_command_replays_recorded_replies_and_passes_options_through(world, tmp_path, capsys):
    from skillbank.agent.runner import ordered_tasks

    first = ordered_tasks(world.tasks("dev"), 1)[0]
    sol = world.expert_solution(first.id)
    reply = block("\n\n".join(sol.skill_sources) + "\n" + sol.call_block, "I will write the skill and call it.")
    recorded = tmp_path / "replies.jsonl"
    recorded.write_text(json.dumps(reply) + "\n")
    args = ["--split", "dev", "--limit", "1", "--library", str(tmp_path / "lib.db"), "--runs-dir", str(tmp_path / "r")]
    assert main(["run", "--policy", "replay", "--responses", str(recorded), "--json", *args]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["policy"] == "replay" and data["tgc"] == 1.0 and data["skills_created"] == 1
    assert data["skills_saved"] == 1 and "note" not in data
    assert main(["run", "--policy", "local", "--base-url", "http://x", *args]) == 1
    assert "--base-url applies to --policy openai" in capsys.readouterr().err
