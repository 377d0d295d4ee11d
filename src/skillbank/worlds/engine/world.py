"""A world and its task envs, written once: the task catalogue, API lookup, app infos,
and a task env that validates each call, runs it on the task's copy-on-write state and
keeps the outbound ledger.

A world (the built-in apps world, a toolkit world) subclasses `EngineWorld`: it declares
its apps (`self.apps`), freezes its base data (`self.base`), adds its tasks (`add_task`)
and says how a task starts and what the expert does. Its task env subclasses
`EngineTaskEnv`: it says who a call acts as (`authorise`), what a tool sees
(`context`), who the supervisor is and how the task is graded (`evaluate`).
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from skillbank.errors import NotFoundError, ValidationError
from skillbank.worlds.base import ApiError, AppInfo, Grade, Task
from skillbank.worlds.engine.answers import describe
from skillbank.worlds.engine.api import ApiSpec, AppDef
from skillbank.worlds.engine.state import BaseState, OutboundEntry, State

SpecT = TypeVar("SpecT")
ScenarioT = TypeVar("ScenarioT")


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    """"; did you mean 'a', 'b' or 'c'?" naming the closest `choices` (a typo's fix), or ""."""
    close = [repr(c) for c in difflib.get_close_matches(word, list(choices), n=3)]
    if not close:
        return ""
    return "; did you mean " + (", ".join(close[:-1]) + " or " if len(close) > 1 else "") + close[-1] + "?"


@dataclass(frozen=True)
class BuiltTask(Generic[SpecT, ScenarioT]):
    """A task, its declaration (how it is graded, what the expert calls) and its scenario."""

    task: Task
    spec: SpecT
    scenario: ScenarioT


class EngineWorld(Generic[SpecT, ScenarioT]):
    """The task catalogue and API surface every engine world shares (see the module doc)."""

    def __init__(self, name: str, seed: int, splits: Iterable[str]) -> None:
        self.name = name
        self.seed = seed
        self.apps: dict[str, AppDef] = {}
        self.base = BaseState({})
        self._splits = tuple(splits)
        self._tasks: dict[str, BuiltTask[SpecT, ScenarioT]] = {}

    # -- the catalogue ---------------------------------------------------------------
    def add_task(self, built: BuiltTask[SpecT, ScenarioT]) -> None:
        self._tasks[built.task.id] = built

    def has_task(self, task_id: str) -> bool:
        return task_id in self._tasks

    def built(self, task_id: str) -> BuiltTask[SpecT, ScenarioT]:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise NotFoundError(
                f"no task {task_id!r} in the {self.name} world{_did_you_mean(task_id, self._tasks)} "
                "(see `skillbank world tasks`)"
            ) from None

    # -- World protocol (start and expert_solution are the world's own) ----------------
    def splits(self) -> tuple[str, ...]:
        return self._splits

    def tasks(self, split: str | None = None) -> list[Task]:
        if split is not None and split not in self._splits:
            raise ValidationError(f"unknown split {split!r}; splits: {', '.join(self._splits)}")
        return [b.task for b in self._tasks.values() if split is None or b.task.split == split]

    def task(self, task_id: str) -> Task:
        return self.built(task_id).task

    def scenario_of(self, task_id: str) -> ScenarioT:
        return self.built(task_id).scenario

    # -- what the CLI and api_docs read ------------------------------------------------
    def api(self, app: str, api: str) -> ApiSpec:
        """The spec of `app.api`, or an `ApiError` naming the closest app or API."""
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

    def api_doc(self, app: str, api: str) -> dict[str, Any]:
        """One API's documentation as the agent reads it."""
        return self.api(app, api).doc()

    def app_infos(self) -> list[AppInfo]:
        return [AppInfo(a.name, a.description, len(a.apis), tuple(a.apis)) for a in self.apps.values()]


def sends(spec: ApiSpec, args: dict[str, Any]) -> bool:
    """Whether this call goes to the outbound ledger: the API's `outbound` flag, or its
    predicate of the arguments (a predicate that raises counts as sending)."""
    outbound = spec.outbound
    if outbound is True or not outbound:
        return outbound is True
    try:
        return bool(outbound(dict(args)))
    except Exception:  # noqa: BLE001 - a broken predicate must not hide a send
        return True


class EngineTaskEnv(Generic[SpecT, ScenarioT]):
    """One task's live world: its own state, the answer and the completion flag.

    `call` is what the sandbox broker forwards ``apis.<app>.<api>(**kwargs)`` to: it looks
    the API up, refuses calls after completion (but the docs), validates the arguments
    and `perform` runs it; a successful outbound call that wrote something goes to the
    task's append-only ledger.
    """

    def __init__(self, world: EngineWorld[SpecT, ScenarioT], built: BuiltTask[SpecT, ScenarioT]):
        self.world = world
        self.task = built.task
        self.spec = built.spec
        self.state: State = world.base.fork()
        self._ids = 0
        self.rng = random.Random(f"{world.seed}:{self.task.id}:ids")
        self.completed = False
        self.status: str | None = None
        self.answer: Any = None
        self.api_calls = 0

    def call(self, app: str, api: str, **kwargs: Any) -> Any:
        spec = self.world.api(app, api)
        self.api_calls += 1
        if self.completed and app != "api_docs":
            raise ApiError("The task is already completed; no further API calls are accepted.")
        return self.perform(spec, spec.bind(kwargs))

    def perform(self, spec: ApiSpec, args: dict[str, Any]) -> Any:
        """Run one validated call as the user `authorise` names, and keep the ledger."""
        user = self.authorise(spec, args)
        mark = len(self.state.journal)
        result = spec.func(self.context(spec.app, user), **args)
        self.record_outbound(spec, args, mark)
        return result

    def record_outbound(self, spec: ApiSpec, args: dict[str, Any], mark: int) -> None:
        """Write a successful outbound call to the ledger with the records it wrote since
        the journal stood at `mark`; a call that wrote nothing sent nothing."""
        if not sends(spec, args):
            return
        keys = tuple(dict.fromkeys(self.state.journal[mark:]))
        if keys:
            shown = ", ".join(f"{k}={describe(v)}" for k, v in args.items())
            self.state.outbound.append(OutboundEntry(spec.app, spec.name, f"{spec.app}.{spec.name}({shown})"[:300], keys))

    # -- what a world's env says -----------------------------------------------------
    def authorise(self, spec: ApiSpec, args: dict[str, Any]) -> str | None:
        """The user the call acts as (taking any credentials out of `args`); none by default."""
        return None

    def context(self, app: str, user: str | None) -> Any:
        """What an API function gets as its first argument."""
        raise NotImplementedError

    def evaluate(self) -> Grade:
        raise NotImplementedError

    # -- services for APIs -----------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}_n{self._ids:03d}{self.rng.randrange(16**4):04x}"

    def complete(self, answer: Any, status: str) -> None:
        self.completed = True
        self.status = status
        self.answer = answer

    def supervisor_profile(self) -> dict[str, Any]:
        return dict(self.task.supervisor)

    def account_passwords(self) -> list[dict[str, str]]:
        return []

    def supervisor_addresses(self) -> list[dict[str, str]]:
        return []
