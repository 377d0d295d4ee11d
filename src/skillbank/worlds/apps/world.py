"""The built-in apps world: AppWorld's shape with our own apps, people and scenarios.

``AppsWorld(seed)`` builds the base state and the tasks once; ``start(task_id)`` gives a
task its own copy-on-write state in microseconds. The sandbox broker forwards each
``apis.<app>.<api>(**kwargs)`` of agent code to :meth:`AppsTaskEnv.call`.
"""

from __future__ import annotations

import difflib
import importlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from skillbank.errors import NotFoundError, ValidationError
from skillbank.worlds.apps.core import ApiSpec, AppDef, CallContext
from skillbank.worlds.apps.people import Population, generate_population
from skillbank.worlds.apps.scenario import NO_ANSWER, ScenarioDef, TaskSpec, grade_changes
from skillbank.worlds.apps.answers import describe
from skillbank.worlds.apps.state import BaseState, BaseTable, OutboundEntry, State
from skillbank.worlds.base import ApiError, AppInfo, ExpertSolution, Grade, Task

SPLITS = ("train", "dev", "test_normal", "test_challenge")

#: App modules in `skillbank.worlds.apps.apps`, in the order their docs list them.
APP_MODULES = (
    "supervisor", "api_docs", "phone", "mail", "notes", "todo", "calendar", "files",
    "wallet", "music", "shop", "splitbill",
)
#: Scenario modules in `skillbank.worlds.apps.scenarios`.
SCENARIO_MODULES = ("personal", "media_commerce", "social_money", "cross_app")


class SeedBuilder:
    """Collects base rows while apps seed their data."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.owner_fields: dict[tuple[str, str], str | None] = {}
        self.ephemeral: set[tuple[str, str]] = set()

    def table(self, app: str, name: str, owner_field: str | None = None, *, ephemeral: bool = False) -> None:
        self.rows.setdefault((app, name), {})
        self.owner_fields[(app, name)] = owner_field
        if ephemeral:
            self.ephemeral.add((app, name))

    def add(self, app: str, name: str, rid: str, row: dict[str, Any]) -> None:
        table = self.rows[(app, name)]
        if rid in table:
            raise ValueError(f"duplicate id {rid} in {app}.{name}")
        table[rid] = row

    def freeze(self) -> BaseState:
        return BaseState(
            {k: BaseTable(f"{k[0]}.{k[1]}", rows, self.owner_fields.get(k)) for k, rows in self.rows.items()},
            frozenset(self.ephemeral),
        )


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


@dataclass(frozen=True)
class _BuiltTask:
    task: Task
    spec: TaskSpec
    scenario: ScenarioDef


def _load(package: str, names: Sequence[str]) -> list[ModuleType]:
    return [importlib.import_module(f"{package}.{n}") for n in names]


class AppsWorld:
    """The default world. Deterministic: the same seed gives the same people, data and tasks."""

    name = "apps"

    def __init__(self, seed: int = 0, *, people: int = 72):
        self.seed = seed
        self.population = generate_population(seed, people)
        self.people_by_id = {p.id: p.to_dict() for p in self.population.people}
        self.people_by_email = {p.email.lower(): self.people_by_id[p.id] for p in self.population.people}
        self.people_by_phone = {p.phone: self.people_by_id[p.id] for p in self.population.people}
        self.app_modules = _load("skillbank.worlds.apps.apps", APP_MODULES)
        self.apps: dict[str, AppDef] = {m.APP.name: m.APP for m in self.app_modules}
        builder = SeedBuilder()
        for m in self.app_modules:
            seed_fn = getattr(m, "seed", None)
            for name, owner in getattr(m, "TABLES", {}).items():
                builder.table(m.APP.name, name, owner)
            if seed_fn is not None:
                seed_fn(builder, self.population, random.Random(f"{seed}:{m.APP.name}"))
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
        self._tasks: dict[str, _BuiltTask] = {}
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
                self._tasks[task.id] = _BuiltTask(task, spec, sc)

    # -- World protocol -------------------------------------------------------------
    def splits(self) -> tuple[str, ...]:
        return SPLITS

    def tasks(self, split: str | None = None) -> list[Task]:
        if split is not None and split not in SPLITS:
            raise ValidationError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
        return [b.task for b in self._tasks.values() if split is None or b.task.split == split]

    def task(self, task_id: str) -> Task:
        return self._built(task_id).task

    def start(self, task_id: str) -> AppsTaskEnv:
        return AppsTaskEnv(self, self._built(task_id))

    def expert_solution(self, task_id: str) -> ExpertSolution:
        b = self._built(task_id)
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

    # -- helpers --------------------------------------------------------------------
    def _built(self, task_id: str) -> _BuiltTask:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise NotFoundError(f"no task {task_id!r} in the apps world (see `skillbank world tasks`)") from None

    def scenario_of(self, task_id: str) -> ScenarioDef:
        return self._built(task_id).scenario

    def api(self, app: str, api: str) -> ApiSpec:
        a = self.apps.get(app)
        if a is None:
            hint = difflib.get_close_matches(app, self.apps, n=1)
            raise ApiError(
                f"No app named '{app}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                + f" Apps: {', '.join(self.apps)}."
            )
        spec = a.apis.get(api)
        if spec is None:
            hint = difflib.get_close_matches(api, a.apis, n=1)
            raise ApiError(
                f"No API named '{api}' in app '{app}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                + f" See apis.api_docs.show_api_descriptions(app_name='{app}')."
            )
        return spec

    def app_infos(self) -> list[AppInfo]:
        return [AppInfo(a.name, a.description, len(a.apis), tuple(a.apis)) for a in self.apps.values()]


class AppsTaskEnv:
    """One task's live world: its own state, logins, the answer and completion flag."""

    def __init__(self, world: AppsWorld, built: _BuiltTask):
        self.world = world
        self.task = built.task
        self._spec = built.spec
        self.state: State = world.base.fork()
        self.supervisor_id = built.spec.supervisor
        self._tokens: dict[str, tuple[str, str]] = {}
        self._ids = 0
        self._rng = random.Random(f"{world.seed}:{self.task.id}:ids")
        self.completed = False
        self.status: str | None = None
        self.answer: Any = None
        self.api_calls = 0

    def call(self, app: str, api: str, **kwargs: Any) -> Any:
        spec = self.world.api(app, api)
        self.api_calls += 1
        if self.completed and app != "api_docs":
            raise ApiError("The task is already completed; no further API calls are accepted.")
        args = spec.bind(kwargs)
        user = None
        if spec.auth:
            token = args.pop("access_token")
            owner = self._tokens.get(token)
            if owner is None or owner[0] != app:
                raise ApiError(f"{app}.{api}: unauthorised: invalid or missing access token; call apis.{app}.login first.")
            user = owner[1]
        outbound = spec.outbound
        if not outbound or (outbound is not True and not outbound(args)):
            return spec.func(CallContext(self, app, user), **args)
        journal = self.state.journal
        mark = len(journal)
        result = spec.func(CallContext(self, app, user), **args)
        keys = tuple(dict.fromkeys(journal[mark:]))
        if keys:  # a call that wrote nothing sent nothing
            shown = ", ".join(f"{k}={describe(v)}" for k, v in args.items())
            self.state.outbound.append(OutboundEntry(app, api, f"{app}.{api}({shown})"[:300], keys))
        return result

    # -- services for APIs ----------------------------------------------------------
    def login(self, app: str, username: str, password: str) -> dict[str, Any]:
        field = self.world.apps[app].username_field
        lookup = self.world.people_by_phone if field == "phone" else self.world.people_by_email
        person = lookup.get(username if field == "phone" else username.lower())
        if person is None or self.world.population.passwords.get((app, person["id"])) != password:
            raise ApiError(f"{app}.login: invalid credentials for {username!r}.")
        token = "".join(self._rng.choice("abcdef0123456789") for _ in range(24))
        self._tokens[token] = (app, person["id"])
        return {"access_token": token, "token_type": "Bearer"}

    def new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}_n{self._ids:03d}{self._rng.randrange(16**4):04x}"

    def complete(self, answer: Any, status: str) -> None:
        self.completed = True
        self.status = status
        self.answer = answer

    # -- grading --------------------------------------------------------------------
    def evaluate(self) -> Grade:
        tests = grade_changes(
            self._spec, self.state.diff(), completed=self.completed, status=self.status, answer=self.answer,
            outbound=self.state.outbound,
        )
        return Grade(self.task.id, tests)


