"""A whole run (runner + traces + `skillbank runs`) on the fake world with the expert,
its code run in the real sandbox (one pool for the module)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from test_agent_fakes import FakeWorld

from skillbank.agent.config import RunConfig
from skillbank.agent.runner import ordered_tasks, run_split
from skillbank.agent.trace import list_runs, load_run
from skillbank.cli import main
from skillbank.errors import NotFoundError, ValidationError
from skillbank.llm.expert import ExpertPolicy
from skillbank.metrics import tgc
from skillbank.retrieval import make_retriever
from skillbank.sandbox import SandboxConfig, SandboxPool
from skillbank.store import open_store

_SESSIONS: list = []


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(SandboxConfig(workers=1)) as p:
        yield p


@pytest.fixture(autouse=True)
def _real_sandbox(pool):
    _SESSIONS[:] = [lambda host, task_id: pool.session(host, task_id=task_id)]
    yield
    _SESSIONS.clear()


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "lib.db")
    yield s
    s.close()


def run(world, store, tmp_path, **kw):
    config = RunConfig(runs_dir=str(tmp_path / "runs"), **kw)
    retriever = make_retriever(config.retrieval, top_k=config.top_k)
    return run_split(world, ExpertPolicy(world), store, _SESSIONS[0], retriever, config)


def test_expert_run_matches_world_grading_and_reuses_skills(tmp_path, store):
    world = FakeWorld()
    s = run(world, store, tmp_path)
    _, episodes = load_run(tmp_path / "runs", s.run_id)
    # Regrade independently by replaying nothing: the trace's per-task success is the world's grade.
    assert s.tasks == 6 and s.scenarios == 2 and len(episodes) == 6
    assert s.tgc == sum(e["success"] for e in episodes) / 6 == 1.0 and s.sgc == 1.0
    by_index = {e["task_id"]: e for e in episodes}
    for sid in ("count", "titles"):
        first = by_index[f"{sid}-1"]
        assert [op["kind"] for t in first["turns"] for op in t["operations"]] == ["create"]
        assert len(first["saved"]) == 1 and first["steps"] == 2
        for later in (f"{sid}-2", f"{sid}-3"):
            kinds = [op["kind"] for t in by_index[later]["turns"] for op in t["operations"]]
            assert kinds == ["use"] and by_index[later]["steps"] == 1
    assert (s.skills_created, s.skills_used, s.skills_saved, s.skills_updated) == (2, 4, 2, 0)
    assert s.skill_usage_rate == pytest.approx(4 / 6)


def test_skills_cut_steps_and_tokens_and_no_skills_leaves_library_untouched(tmp_path, store):
    world = FakeWorld()
    without = run(world, store, tmp_path, with_skills=False)
    assert store.list_versions() == [] and store.events(namespace=None) == []
    with_ = run(world, store, tmp_path)
    assert without.tgc == with_.tgc == 1.0
    assert with_.mean_steps < without.mean_steps and with_.mean_tokens < without.mean_tokens
    assert without.skills_used == 0 and without.skills_saved == 0 and without.retrieval == "none"


def test_repeated_runs_on_one_library_each_build_their_own(tmp_path, store):
    world = FakeWorld()
    first = run(world, store, tmp_path)
    second = run(world, store, tmp_path)
    assert first.run_id != second.run_id
    assert second.skills_used == first.skills_used == 4  # re-derived, not borrowed
    assert len(store.list_versions()) == 2  # one version per content


def test_limit_cuts_tasks_in_scenario_order(tmp_path, store):
    world = FakeWorld()
    s = run(world, store, tmp_path, limit=4)
    assert s.tasks == 4 and s.scenarios == 2
    assert [t.id for t in ordered_tasks(world.tasks("dev"), 4)] == ["count-1", "count-2", "count-3", "titles-1"]
    assert s.sgc == 1.0


def test_tgc_and_sgc_follow_the_world_grades_when_a_task_fails(tmp_path, store):
    world = FakeWorld()
    real_solution = world.expert_solution

    def sabotaged(task_id):
        sol = real_solution(task_id)
        if task_id == "titles-2":  # a wrong answer, reported as success: only the grade knows
            return dataclasses.replace(sol, call_block="apis.supervisor.complete_task(answer=['wrong'])")
        return sol

    world.expert_solution = sabotaged
    s = run(world, store, tmp_path)
    _, eps = load_run(tmp_path / "runs", s.run_id)
    assert {e["task_id"]: e["success"] for e in eps if not e["success"]} == {"titles-2": False}
    assert s.tgc == pytest.approx(5 / 6) and s.sgc == pytest.approx(1 / 2)
    assert s.tgc == tgc(world_grade(world, e) for e in eps)


def world_grade(world, episode):
    from skillbank.worlds.base import Grade
    from skillbank.worlds.base import TestResult as Check

    return Grade(episode["task_id"], (Check("recorded", bool(episode["success"])),))


def test_unknown_split_and_bad_config_are_clear_errors(tmp_path, store):
    with pytest.raises(ValidationError, match="unknown split 'nope'"):
        run(FakeWorld(), store, tmp_path, split="nope")
    with pytest.raises(ValidationError, match="top_k"):
        RunConfig(top_k=0)


def test_runs_ls_and_show_cli(tmp_path, store, capsys):
    s = run(FakeWorld(), store, tmp_path)
    runs_dir = str(tmp_path / "runs")
    assert main(["runs", "ls", "--runs-dir", runs_dir, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in rows] == [s.run_id] and rows[0]["tgc"] == 1.0 and rows[0]["finished"]
    assert main(["runs", "show", s.run_id[:10], "--runs-dir", runs_dir, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["summary"]["skills_saved"] == 2 and len(shown["episodes"]) == 6
    assert shown["episodes"][0]["turns"][0]["code"]
    assert main(["runs", "show", "latest", "--runs-dir", runs_dir]) == 0
    assert "count-2" in capsys.readouterr().out
    assert main(["runs", "show", "nope", "--runs-dir", runs_dir]) == 1
    assert "no run 'nope'" in capsys.readouterr().err
    with pytest.raises(NotFoundError):
        load_run(runs_dir, "zzz")
    assert list_runs(tmp_path / "missing") == []
