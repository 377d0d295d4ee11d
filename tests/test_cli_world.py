"""`skillbank world …` and `skillbank bench world`, through `skillbank.cli.main`.

Most tests hand the CLI the module's world (building one per command would dominate
the run time); `test_seed_reaches_the_world` goes through the real `make_world`.
"""

from __future__ import annotations

import json

import pytest

import skillbank.commands.world as world_cmd
from skillbank.cli import main
from skillbank.worlds.apps import AppsWorld

TASK = "notes_tag_mentioning-1"


@pytest.fixture(scope="module")
def world():
    return AppsWorld(0)


@pytest.fixture
def cli(world, monkeypatch, capsys):
    seeds = []

    def fake_make_world(name, seed=0, **options):
        assert name == "apps" and not options
        seeds.append(seed)
        return world

    monkeypatch.setattr(world_cmd, "open_world", fake_make_world)

    def run(*args):
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    run.seeds = seeds
    return run


def run_json(cli, *args):
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_apps_lists_every_app_with_its_api_count(cli, world):
    data = run_json(cli, "world", "apps")
    assert [a["name"] for a in data["apps"]] == list(world.apps)
    counts = {a["name"]: a["api_count"] for a in data["apps"]}
    assert counts == {name: len(app.apis) for name, app in world.apps.items()}
    assert data["api_count"] == sum(counts.values()) and data["app_count"] == len(world.apps)
    assert "login" in next(a for a in data["apps"] if a["name"] == "notes")["apis"]
    code, out, _ = cli("world", "apps")
    assert code == 0 and "notes" in out and f"{data['api_count']} APIs" in out


def test_docs_of_an_app_and_of_one_api(cli, world):
    app = run_json(cli, "world", "docs", "notes")
    assert app["app_name"] == "notes" and [a["name"] for a in app["apis"]] == list(world.apps["notes"].apis)
    doc = run_json(cli, "world", "docs", "notes", "add_tag")
    assert doc == world.api("notes", "add_tag").doc()
    assert [p["name"] for p in doc["parameters"]] == ["access_token", "note_id", "tag"]
    code, out, _ = cli("world", "docs", "notes", "show_notes")
    assert code == 0 and "page_limit" in out and "401 unauthorised" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (("world", "docs", "nots"), "error: No app named 'nots'. Did you mean 'notes'?"),
        (("world", "docs", "notes", "add_tags"), "error: No API named 'add_tags' in app 'notes'. Did you mean 'add_tag'?"),
        (("world", "tasks", "--split", "validation"), "error: unknown split 'validation'; splits: train, dev, test_normal, test_challenge"),
        (("world", "show", "no_such_task-1"), "error: no task 'no_such_task-1' in the apps world"),
        (("world", "solve", "no_such_task-1"), "error: no task 'no_such_task-1' in the apps world"),
        (("world", "solve", TASK, "--policy", "gpt"), "error: unknown policy 'gpt' for `world solve`; policies: expert"),
    ],
)
def test_unknown_names_give_one_line_errors(cli, args, message):
    code, out, err = cli(*args)
    assert code == 1 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_tasks_lists_ids_scenarios_difficulty_and_apps(cli, world):
    rows = run_json(cli, "world", "tasks")
    assert [r["id"] for r in rows] == [t.id for t in world.tasks()]
    train = run_json(cli, "world", "tasks", "--split", "train")
    assert train and {r["split"] for r in train} == {"train"}
    assert [r["id"] for r in train] == [t.id for t in world.tasks("train")]
    first = next(r for r in train if r["id"] == TASK)
    assert first["scenario_id"] == "notes_tag_mentioning" and first["apps"] == ["notes"] and first["difficulty"] == 1
    assert first["instruction"] == world.task(TASK).instruction
    code, out, _ = cli("world", "tasks", "--split", "train")
    assert code == 0 and f"train: {len(train)} tasks in" in out


def test_show_gives_the_task(cli, world):
    data = run_json(cli, "world", "show", TASK)
    task = world.task(TASK)
    assert data["instruction"] == task.instruction and data["supervisor"] == task.supervisor
    assert data["scenario_id"] == task.scenario_id and data["split"] == task.split
    assert data["apps"] == list(task.apps) and data["difficulty"] == task.difficulty
    assert data["scenario_tasks"] == ["notes_tag_mentioning-1", "notes_tag_mentioning-2", "notes_tag_mentioning-3"]
    code, out, _ = cli("world", "show", TASK)
    assert code == 0 and task.supervisor["email"] in out


def test_solve_runs_the_expert_in_the_sandbox_and_grades_it(cli, world):
    data = run_json(cli, "world", "solve", "notes_tag_mentioning-2", "--policy", "expert")
    sol = world.expert_solution("notes_tag_mentioning-2")
    assert [b["name"] for b in data["blocks"]] == ["explore", "solve"]
    solve = data["blocks"][1]
    assert solve["ok"] and "def tag_notes_mentioning(" in solve["code"] and sol.call_block.strip() in solve["code"]
    calls = [(c["app"], c["api"]) for c in solve["api_calls"]]
    assert calls[:3] == [("supervisor", "show_profile"), ("supervisor", "show_account_passwords"), ("notes", "login")]
    assert calls[-1] == ("supervisor", "complete_task") and ("notes", "add_tag") in calls
    assert all(c["ok"] for c in solve["api_calls"])
    assert data["api_call_count"] == len(calls) + len(data["blocks"][0]["api_calls"])
    assert solve["stdout"].strip() == str(world.built("notes_tag_mentioning-2").spec.answer)
    grade = data["grade"]
    assert grade["success"] is True and grade["fraction"] == 1.0
    assert {t["name"] for t in grade["tests"]} >= {"task completed", "no collateral damage", "answer"}
    code, out, _ = cli("world", "solve", "notes_tag_mentioning-2")
    assert code == 0 and "grade: success" in out and "apis.notes.add_tag" in out


def test_solve_reports_a_failing_grade(cli, world, monkeypatch):
    real = world.expert_solution

    def broken(task_id):
        sol = real(task_id)
        return type(sol)(sol.task_id, sol.skill_sources, sol.skill_names,
                         sol.call_block.replace("complete_task(answer=answer)", "complete_task(answer=-1)"))

    monkeypatch.setattr(world, "expert_solution", broken)
    data = run_json(cli, "world", "solve", TASK)
    assert [b["name"] for b in data["blocks"]] == ["solve"]
    assert data["grade"]["success"] is False and data["grade"]["fraction"] < 1.0
    answer = next(t for t in data["grade"]["tests"] if t["name"] == "answer")
    assert not answer["passed"] and answer["message"] == "got -1"


def test_seed_option_is_passed_on(cli):
    run_json(cli, "world", "tasks", "--seed", "7")
    run_json(cli, "world", "apps")
    assert cli.seeds == [7, 0]


def test_seed_reaches_the_world(capsys, world):
    assert main(["world", "tasks", "--split", "train", "--seed", "1", "--json"]) == 0
    seed1 = json.loads(capsys.readouterr().out)
    assert {r["scenario_id"] for r in seed1} == {t.scenario_id for t in world.tasks("train")}
    assert [r["instruction"] for r in seed1] != [t.instruction for t in world.tasks("train")]


def test_bench_world_prints_one_json_object(capsys):
    assert main(["bench", "world", "--split", "dev", "--repeats", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["bench"] == "world" and data["split"] == "dev"
    api = data["api_call"]
    assert api["n"] == api["mix"]["calls_per_repeat"] > 0 and api["median_ms"] > 0
    assert api["by_kind"]["read"]["n"] > 0 and api["by_kind"]["write"]["n"] > 0 and api["by_kind"]["login"]["n"] > 0
    assert api["meets_target"] == (api["median_ms"] <= 0.030)
    assert data["api_vs_plain_call_ratio"] == pytest.approx(api["median_ms"] / data["baseline_plain_call"]["median_ms"], rel=0.01)
    for key in ("reset", "grading", "reset_plus_grading"):
        assert data[key]["median_ms"] > 0 and data[key]["n"] == data["expert_throughput"]["tasks"]
    e = data["expert_throughput"]
    assert e["passed"] == e["tasks"] > 0 and e["tasks_per_s"] > 0
    assert e["execution"] == "in-process" and "trusted" in e["note"]
