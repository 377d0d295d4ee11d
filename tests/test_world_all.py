"""The whole apps world: its size and shape (AppWorld's, scaled down), the split rules,
and the expert at TGC = SGC = 100% on every split."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from _world_util import run_expert

from skillbank.metrics import sgc, summarise, tgc
from skillbank.worlds.apps import SPLITS, AppsWorld
from skillbank.worlds.engine.api import _TYPES, MAX_PAGE_LIMIT

SERVICE_APPS = ("supervisor", "api_docs")
DEV_OR_CHALLENGE_ONLY = ("calendar", "splitbill")


@pytest.fixture(scope="module")
def world():
    return AppsWorld(0)


@pytest.fixture(scope="module")
def scenarios(world):
    return world.scenarios


def test_enough_apps_and_apis(world):
    user_apps = [a for a in world.apps if a not in SERVICE_APPS]
    assert len(user_apps) >= 9, user_apps
    assert sum(len(a.apis) for a in world.apps.values()) >= 150
    for name in user_apps:
        apis = world.apps[name].apis
        assert "login" in apis, name
        assert len(apis) >= 8, f"{name} has only {len(apis)} APIs"
        assert any(s.paginated for s in apis.values()), f"{name} has no paginated list API"
        assert any(s.mutates for s in apis.values()), f"{name} has no API that changes anything"


def test_every_api_is_documented(world):
    problems = []
    for app in world.apps.values():
        assert app.description.strip(), app.name
        for spec in app.apis.values():
            where = f"{app.name}.{spec.name}"
            doc = spec.doc()
            if len(spec.description.strip()) < 10:
                problems.append(f"{where}: no description")
            if spec.response is None:
                problems.append(f"{where}: no documented response")
            if not doc["errors"]:
                problems.append(f"{where}: no documented errors")
            names = [p.name for p in spec.params]
            if len(set(names)) != len(names):
                problems.append(f"{where}: duplicate parameter")
            for p in spec.params:
                if not p.description.strip():
                    problems.append(f"{where}: parameter {p.name} has no description")
                if p.type not in _TYPES:
                    problems.append(f"{where}: parameter {p.name} has unknown type {p.type}")
                if p.choices is not None and not p.required and p.default is not None and p.default not in p.choices:
                    problems.append(f"{where}: parameter {p.name} defaults outside its choices")
            if spec.auth and names[:1] != ["access_token"]:
                problems.append(f"{where}: auth API without access_token first")
            if spec.paginated:
                by = {p.name: p for p in spec.params}
                if "page_index" not in by or by.get("page_limit") is None or by["page_limit"].maximum != MAX_PAGE_LIMIT:
                    problems.append(f"{where}: paginated without page_index/page_limit")
    assert not problems, "\n".join(problems)


def test_enough_people(world):
    people = world.population.people
    assert len(people) >= 60
    assert len({p.email for p in people}) == len({p.phone for p in people}) == len(people)
    relations = Counter(r for p in people for r in p.relationships.values())
    assert {"family", "friend", "coworker"} <= set(relations)


def test_enough_scenarios_and_tasks(world, scenarios):
    tasks = world.tasks()
    assert len(scenarios) >= 50
    assert len(tasks) >= 150
    assert len({t.id for t in tasks}) == len(tasks)
    per_scenario = Counter(t.scenario_id for t in tasks)
    assert set(per_scenario) == set(scenarios)
    small = {s: n for s, n in per_scenario.items() if n < 3}
    assert not small, small
    for sc in scenarios.values():
        assert 1 <= sc.difficulty <= 3, sc.id
        assert sc.skill_name and f"def {sc.skill_name}(" in sc.skill_source, sc.id
        assert set(sc.apps) <= set(world.apps), sc.id
        assert sc.explore_block, f"{sc.id} has no explore block"
        mine = [t for t in tasks if t.scenario_id == sc.id]
        variants = {(t.instruction, t.supervisor["email"]) for t in mine}
        assert len(variants) == len(mine), f"{sc.id} repeats a task (same instruction, same supervisor)"


def test_multi_app_and_harder_scenarios_exist(scenarios):
    assert sum(len(s.apps) >= 2 for s in scenarios.values()) >= 5
    assert {s.difficulty for s in scenarios.values()} == {1, 2, 3}


def test_splits_are_disjoint_by_scenario(world, scenarios):
    split_of = defaultdict(set)
    for t in world.tasks():
        split_of[t.scenario_id].add(t.split)
    assert all(len(s) == 1 for s in split_of.values())
    by_split = defaultdict(set)
    for sid, (split,) in split_of.items():
        by_split[split].add(sid)
    assert set(by_split) == set(SPLITS), dict(by_split)
    for split in SPLITS:
        assert {t.scenario_id for t in world.tasks(split)} == by_split[split]


def test_calendar_and_splitbill_stay_out_of_train_and_test_normal(scenarios):
    wrong = [s.id for s in scenarios.values() if set(s.apps) & set(DEV_OR_CHALLENGE_ONLY) and s.split not in ("dev", "test_challenge")]
    assert not wrong, wrong


def test_test_challenge_uses_an_app_no_train_scenario_touches(scenarios):
    train_apps = {a for s in scenarios.values() if s.split == "train" for a in s.apps}
    challenge_apps = {a for s in scenarios.values() if s.split == "test_challenge" for a in s.apps}
    assert challenge_apps - train_apps, (challenge_apps, train_apps)


@pytest.mark.parametrize("split", SPLITS)
def test_the_expert_solves_every_task_of_the_split(world, split):
    tasks = world.tasks(split)
    assert tasks
    grades = []
    failures = []
    for t in tasks:
        _, grade = run_expert(world, t.id)
        grades.append(grade)
        if not grade.success:
            failures.append(f"{t.id}: " + "; ".join(f"{x.name}: {x.message}" for x in grade.tests if not x.passed))
    assert not failures, "\n".join(failures)
    assert tgc(grades) == 1.0 and sgc(grades, tasks) == 1.0
    summary = summarise(grades, tasks)
    assert summary["tasks_passed"] == len(tasks) and summary["scenarios"] == len({t.scenario_id for t in tasks})
