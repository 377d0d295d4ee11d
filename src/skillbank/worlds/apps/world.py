"""The built-in apps world: AppWorld's shape with our own apps, people and scenarios, a
catalogue over the world engine (`skillbank.worlds.engine`).

``AppsWorld(seed)`` builds the base state and the tasks once; ``start(task_id)`` gives a
task its own copy-on-write state in microseconds. The sandbox broker forwards each
``apis.<app>.<api>(**kwargs)`` of agent code to :meth:`AppsTaskEnv.call`. What is this
world's own: its people (logins, passwords, the supervisor's profile and addresses), its
apps and scenarios, and grading by `grade_changes`.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from skillbank.worlds.apps.context import CallContext
from skillbank.worlds.apps.people import Population, generate_population
from skillbank.worlds.apps.scenario import NO_ANSWER, ScenarioDef, TaskSpec, grade_changes
from skillbank.worlds.base import ApiError, ExpertSolution, Grade, Task
from skillbank.worlds.engine.api import ApiSpec
from skillbank.worlds.engine.builtin import api_docs_app, supervisor_app
from skillbank.worlds.engine.state import BaseBuilder, BaseState
from skillbank.worlds.engine.world import BuiltTask, EngineTaskEnv, EngineWorld

SPLITS = ("train", "dev", "test_normal", "test_challenge")

#: App modules in `skillbank.worlds.apps.apps`, in the order their docs list them (after
#: the engine's `supervisor` and `api_docs`).
APP_MODULES = ("phone", "mail", "notes", "todo", "calendar", "files", "wallet", "music", "shop", "splitbill")
#: Scenario modules in `skillbank.worlds.apps.scenarios`.
SCENARIO_MODULES = ("personal", "media_commerce", "social_money", "cross_app")


class WorldData:
    """Read-only access to the base world for scenario builders and app seeders."""

    def __init__(self, population: Population, base: BaseState, seed: int):
        self.population = population
        self.people = population.people
        self.people_by_id = {p.id: p for p in population.people}
        self.base = base
        self.seed = seed

    def rows(self, app: str, table: str) -> list[dict[str, Any]]:
        return list(self.base.tables[(app, table)].rows.values())

    def rows_of(self, app: str, table: str, owner: Any) -> list[dict[str, Any]]:
        t = self.base.tables[(app, table)]
        return [t.rows[rid] for rid in t.by_owner.get(owner, ())]

    def person(self, pid: str):
        return self.people_by_id[pid]


def _load(package: str, names: Sequence[str]) -> list[ModuleType]:
    return [importlib.import_module(f"{package}.{n}") for n in names]


class AppsWorld(EngineWorld[TaskSpec, ScenarioDef]):
    """The default world. Deterministic: the same seed gives the same people, data and tasks."""

    def __init__(self, seed: int = 0, *, people: int = 72):
        super().__init__("apps", seed, SPLITS)
        self.population = generate_population(seed, people)
        self.people_by_id = {p.id: p.to_dict() for p in self.population.people}
        self.people_by_email = {p.email.lower(): self.people_by_id[p.id] for p in self.population.people}
        self.people_by_phone = {p.phone: self.people_by_id[p.id] for p in self.population.people}
        self.app_modules = _load("skillbank.worlds.apps.apps", APP_MODULES)
        builtin = (supervisor_app(), api_docs_app())
        self.apps = {a.name: a for a in (*builtin, *(m.APP for m in self.app_modules))}
        builder = BaseBuilder()
        for m in self.app_modules:  # each declares APP, its TABLES and seed(builder, population, rng)
            for name, owner in m.TABLES.items():
                builder.table(m.APP.name, name, owner)
            m.seed(builder, self.population, random.Random(f"{seed}:{m.APP.name}"))
        self.base = builder.freeze()
        self.data = WorldData(self.population, self.base, seed)
        self.scenarios: dict[str, ScenarioDef] = {}
        for m in _load("skillbank.worlds.apps.scenarios", SCENARIO_MODULES):
            for sc in m.SCENARIOS:
                if sc.id in self.scenarios:
                    raise ValueError(f"duplicate scenario id {sc.id}")
                if sc.split not in SPLITS:
                    raise ValueError(f"scenario {sc.id}: unknown split {sc.split}")
                self.scenarios[sc.id] = sc
        for sc in self.scenarios.values():
            specs = sc.build(self.data, random.Random(f"{seed}:{sc.id}"))
            if len(specs) < 3:
                raise ValueError(f"scenario {sc.id} builds {len(specs)} tasks; at least 3 are needed")
            for i, spec in enumerate(specs):
                person = self.people_by_id[spec.supervisor]
                task = Task(
                    id=f"{sc.id}-{i + 1}",
                    scenario_id=sc.id,
                    split=sc.split,
                    instruction=spec.instruction,
                    supervisor={k: person[k] for k in ("first_name", "last_name", "email", "phone")},
                    difficulty=sc.difficulty,
                    apps=sc.apps,
                    index_in_scenario=i,
                )
                self.add_task(BuiltTask(task, spec, sc))

    def start(self, task_id: str) -> AppsTaskEnv:
        return AppsTaskEnv(self, self.built(task_id))

    def expert_solution(self, task_id: str) -> ExpertSolution:
        b = self.built(task_id)
        sc, spec = b.scenario, b.spec
        if spec.answer is NO_ANSWER:
            call = f"{spec.call}\napis.supervisor.complete_task()"
        else:
            call = f"answer = {spec.call}\nprint(answer)\napis.supervisor.complete_task(answer=answer)"
        return ExpertSolution(
            task_id=task_id,
            skill_sources=(sc.skill_source.strip() + "\n",),
            skill_names=(sc.skill_name,),
            call_block=call,
            explore_block=sc.explore_block,
        )


class AppsTaskEnv(EngineTaskEnv[TaskSpec, ScenarioDef]):
    """One task's live world: its own state, logins, the answer and completion flag."""

    world: AppsWorld

    def __init__(self, world: AppsWorld, built: BuiltTask[TaskSpec, ScenarioDef]):
        super().__init__(world, built)
        self.supervisor_id = built.spec.supervisor
        self._tokens: dict[str, tuple[str, str]] = {}

    def authorise(self, spec: ApiSpec, args: dict[str, Any]) -> str | None:
        if not spec.auth:
            return None
        token = args.pop("access_token")
        owner = self._tokens.get(token)
        if owner is None or owner[0] != spec.app:
            raise ApiError(
                f"{spec.app}.{spec.name}: unauthorised: invalid or missing access token; call apis.{spec.app}.login first."
            )
        return owner[1]

    def context(self, app: str, user: str | None) -> CallContext:
        return CallContext(self, app, user)

    # -- services for APIs ----------------------------------------------------------
    def login(self, app: str, username: str, password: str) -> dict[str, Any]:
        field = self.world.apps[app].username_field
        lookup = self.world.people_by_phone if field == "phone" else self.world.people_by_email
        person = lookup.get(username if field == "phone" else username.lower())
        if person is None or self.world.population.passwords.get((app, person["id"])) != password:
            raise ApiError(f"{app}.login: invalid credentials for {username!r}.")
        token = "".join(self.rng.choice("abcdef0123456789") for _ in range(24))
        self._tokens[token] = (app, person["id"])
        return {"access_token": token, "token_type": "Bearer"}

    def supervisor_profile(self) -> dict[str, Any]:
        p = self.world.people_by_id[self.supervisor_id]
        return {k: p[k] for k in ("first_name", "last_name", "email", "phone", "birthday", "city")}

    def account_passwords(self) -> list[dict[str, str]]:
        pw = self.world.population.passwords
        sid = self.supervisor_id
        return [{"account_name": app, "password": pw[(app, sid)]} for app in self.world.apps if (app, sid) in pw]

    def supervisor_addresses(self) -> list[dict[str, str]]:
        p = self.world.people_by_id[self.supervisor_id]
        return [{"name": "home", "street": f"{(int(p['id'][1:]) * 7) % 180 + 1} Harbour Street", "city": p["city"]}]

    # -- grading --------------------------------------------------------------------
    def evaluate(self) -> Grade:
        tests = grade_changes(
            self.spec, self.state.diff(), completed=self.completed, status=self.status, answer=self.answer,
            outbound=self.state.outbound,
        )
        return Grade(self.task.id, tests)
