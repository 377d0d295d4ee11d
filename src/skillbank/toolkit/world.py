"""`ToolkitWorld`: your apps, your data and your tasks as a skillbank world.

A task is an instruction plus a checker: a function that reads the task's
:class:`Outcome` (the state changes it made, its answer, its API calls, its outbound
ledger) and returns a :class:`~skillbank.worlds.base.Grade`. :func:`check_state` builds
the usual checker: the requested changes were made and the answer matches after the one
answer normalisation (*task* tests: the partial credit `Grade.fraction` counts only
these), and the *guards* hold: completed, nothing else changed (collateral damage),
nothing sent or done irreversibly that the task did not ask for (the ledger), and any
guards you add. Doing nothing therefore earns zero, as in the apps world.

Tools flagged ``destructive`` (or ``outbound``) write every successful call to the
task's append-only outbound ledger, which deleting what the call wrote does not erase.

Tasks are grouped into scenarios (a procedure worth a skill, and the tasks that need
it); a scenario may carry an expert solution, which ``--policy expert`` plays in the
skill-library style: its skills are defined on the scenario's first task and reused on
the others. Every task starts from a copy-on-write view of the base data, so a reset
costs nothing and grading is a diff. All of this is the world engine's
(`skillbank.worlds.engine`), shared with the built-in apps world; a toolkit world is a
catalogue of your apps and tasks over it.

Errors inside your tools never crash a run: a :class:`ToolError` reaches the agent as
its message, any other exception as ``app.tool failed: <type>: <message>``, and the
call's partial writes are rolled back. The tracebacks are kept on the task's env
(``env.tool_failures``) for you, not shown to the agent.
"""

from __future__ import annotations

import ast
import datetime as dt
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from skillbank.errors import NotFoundError, ValidationError
from skillbank.skill import parse_skill
from skillbank.toolkit.app import App, ToolContext, ToolError, api_doc
from skillbank.worlds.base import GUARD, ApiError, ExpertSolution, Grade, Task, TestResult
from skillbank.worlds.engine import answers, grading
from skillbank.worlds.engine.api import NOW, ApiSpec
from skillbank.worlds.engine.builtin import BUILTIN_APPS, SupervisorDocs, api_docs_app, supervisor_app
from skillbank.worlds.engine.grading import Allow, Expect
from skillbank.worlds.engine.state import BaseBuilder, BaseState, Change, OutboundEntry, State
from skillbank.worlds.engine.world import BuiltTask, EngineTaskEnv, EngineWorld

#: Bounds on what a tool may return (the sandbox bounds it again on its side).
_MAX_DEPTH = 32

#: How a toolkit world's `supervisor` app describes the person the agent acts for (the
#: profile is the world's or the task's `supervisor` mapping; toolkit apps need no login).
SUPERVISOR_DOCS = SupervisorDocs(
    description="The person you act for, and completing the task.",
    profile="Show the profile of the person you act for.",
    profile_response="object",
    passwords="Show the supervisor's app passwords (toolkit apps need no login: the list is empty).",
    addresses=False,
)


@dataclass(frozen=True)
class CallRecord:
    """One API call a task made, as its checker sees it."""

    app: str
    api: str
    arguments: dict[str, Any]
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What a checker reads: the task, the state it left, what it answered."""

    task: Task
    changes: tuple[Change, ...]
    completed: bool
    status: str | None
    answer: Any
    calls: tuple[CallRecord, ...]
    state: State = field(repr=False)
    #: The outbound ledger: every successful call of a tool flagged ``destructive`` (or
    #: ``outbound``) that wrote something, in order; deletions do not erase entries.
    outbound: tuple[OutboundEntry, ...] = ()

    def rows(self, app: str, table: str, **where: Any) -> list[dict[str, Any]]:
        """The task's final records of `app.table` matching `where`."""
        return [r for r in self.state.table(app, table).rows() if all(r.get(k) == v for k, v in where.items())]

    def base_rows(self, app: str, table: str, **where: Any) -> list[dict[str, Any]]:
        """The records as they were before the task."""
        rows = self.state.base.tables[(app, table)].rows.values()
        return [r for r in rows if all(r.get(k) == v for k, v in where.items())]

    def changes_to(self, app: str, table: str, kind: str | None = None) -> list[Change]:
        return [c for c in self.changes if (c.app, c.table) == (app, table) and (kind is None or c.kind == kind)]

    def grade(self, *tests: TestResult | Iterable[TestResult]) -> Grade:
        flat: list[TestResult] = []
        for t in tests:
            flat.extend([t] if isinstance(t, TestResult) else t)
        return Grade(self.task.id, tuple(flat))


Checker = Callable[[Outcome], Grade]
Guard = Callable[[Outcome], "TestResult | Iterable[TestResult]"]
_UNSET = object()


def completed_test(o: Outcome) -> TestResult:
    """The guard every task has: `complete_task` was called with status 'success'."""
    return grading.completed_test(o.completed, o.status)


def ledger_test(o: Outcome, claimed: Iterable[tuple[str, str, str]]) -> TestResult:
    """The guard "nothing sent that was not asked for": every outbound ledger entry wrote
    a record (app, table, id) that a requested change claims. A refund issued and then
    "undone" by deleting its record stays in the ledger, and fails this test."""
    return grading.ledger_test(o.outbound, claimed)


def answers_equal(got: Any, want: Any, *, order_matters: bool = False) -> bool:
    """Compare under the one answer normalisation
    (`skillbank.worlds.engine.answers`): case and spacing, numbers by value ("$461.43" is
    461.43), booleans never equal numbers, a one-element list equals its element. An
    answer too deep or too large to compare is not equal to anything."""
    try:
        return answers.answers_equal(got, want, order_matters=order_matters)
    except answers.AnswerRefused:
        return False


def check_state(
    expect: Sequence[Expect] = (),
    allow: Sequence[Allow] = (),
    *,
    answer: Any = _UNSET,
    answer_order_matters: bool = False,
    guards: Sequence[Guard] = (),
) -> Checker:
    """The standard checker. Task tests (what `Grade.fraction` credits): every
    `expect`ed change made (exactly `count` each) and the `answer` right (when given).
    Guards (they earn nothing, and any failing one zeroes the grade): completed, no
    change outside `expect` and `allow`, nothing in the outbound ledger that no requested
    change claims, and every one of `guards` passing. A guard returns one or more named
    :class:`TestResult`; they count as guards whatever kind they carry."""
    expect, allow, guards = tuple(expect), tuple(allow), tuple(guards)

    def check(o: Outcome) -> Grade:
        requested, unmatched, claimed = grading.requested_tests(expect, o.changes)
        tests = [completed_test(o), *requested, grading.collateral_test(unmatched, allow), ledger_test(o, claimed)]
        if answer is not _UNSET:
            tests.append(grading.answer_test(o.answer, answer, order_matters=answer_order_matters))
        for guard in guards:
            got = guard(o)
            for t in [got] if isinstance(got, TestResult) else got:
                tests.append(t if t.kind == GUARD else replace(t, kind=GUARD))
        return o.grade(tests)

    return check


@dataclass(frozen=True)
class TaskDef:
    """One task. `solution` is the expert's code for it, usually one call of the
    scenario's skill: an expression becomes ``answer = <expr>`` followed by
    ``complete_task(answer=answer)``; statements run as written (a
    ``complete_task()`` is appended when they do not call it)."""

    instruction: str
    check: Checker
    solution: str | None = None
    supervisor: Mapping[str, Any] | None = None
    id: str | None = None


@dataclass(frozen=True)
class Scenario:
    """A procedure worth a skill and the tasks (at least one) that need it.

    `skills` are the expert's reusable functions (each one top-level function);
    `explore` is the block a careful agent runs before writing them (reading docs).
    """

    id: str
    split: str
    tasks: tuple[TaskDef, ...]
    skills: tuple[str, ...] = ()
    explore: str | None = None
    description: str = ""
    apps: tuple[str, ...] = ()
    difficulty: int = 1


def _split_order(scenarios: Sequence[Scenario]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(sc.split for sc in scenarios))


class ToolkitWorld(EngineWorld[TaskDef, Scenario]):
    """A world made of :class:`App` s, base data and :class:`Scenario` s.

    Args:
        name: the world's name (shown in runs and traces).
        apps: your apps; ``supervisor`` (``complete_task``, the supervisor's profile)
            and ``api_docs`` (the docs of every tool) are added.
        data: base records per table, ``{"app.table": [ {"id": ..., ...}, ... ]}``;
            every record needs a string ``id``.
        scenarios: the tasks, grouped.
        splits: split names in order (default: as the scenarios first name them).
        supervisor: who the agent works for, shown in its prompt (a task may override).
        now: the frozen clock (`ToolContext.now`).
        seed: seeds the ids new records get.
    """

    def __init__(
        self,
        name: str,
        apps: Sequence[App],
        *,
        data: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        scenarios: Sequence[Scenario] = (),
        splits: Sequence[str] | None = None,
        supervisor: Mapping[str, Any] | None = None,
        now: dt.datetime = NOW,
        seed: int = 0,
    ):
        super().__init__(name, seed, splits if splits is not None else _split_order(scenarios))
        self.now = now
        self.supervisor = dict(supervisor or {"name": "the operator"})
        user_apps = list(apps)
        for a in user_apps:
            if not isinstance(a, App):
                raise ValidationError(f"world {name!r}: apps must be toolkit App objects, got {type(a).__name__}")
            if a.name in BUILTIN_APPS:
                raise ValidationError(f"world {name!r}: the app name {a.name!r} is reserved (the toolkit provides it)")
        builtin = (supervisor_app(SUPERVISOR_DOCS), api_docs_app(example=("supervisor", "complete_task"),
                                                                  side_effects=True))
        names = [*(a.name for a in builtin), *(a.name for a in user_apps)]
        if len(set(names)) != len(names):
            raise ValidationError(f"world {name!r}: duplicate app names in {names}")
        self.toolkit_apps: dict[str, App] = {a.name: a for a in user_apps}
        self.apps = {a.name: a for a in builtin} | {a.name: a.definition for a in user_apps}
        self.base = self._build_base(data or {})
        self.scenarios: dict[str, Scenario] = {}
        self._skill_names: dict[str, tuple[str, ...]] = {}
        for sc in scenarios:
            self._add_scenario(sc)

    # -- building -----------------------------------------------------------------------
    def _build_base(self, data: Mapping[str, Sequence[Mapping[str, Any]]]) -> BaseState:
        builder = BaseBuilder()
        for a in self.toolkit_apps.values():
            for t in a.tables.values():
                builder.table(a.name, t.name, t.owner, ephemeral=t.ephemeral)
        for key, records in data.items():
            app, _, table = key.partition(".")
            if (app, table) not in builder.rows:
                raise ValidationError(f"world {self.name!r}: data for {key!r}, which no app declares "
                                      f"(declare it with App.table); tables: "
                                      f"{', '.join(f'{a}.{t}' for a, t in builder.rows)}")
            target = builder.rows[(app, table)]
            for r in records:
                rid = r.get("id") if isinstance(r, Mapping) else None
                if not isinstance(rid, str) or not rid:
                    raise ValidationError(f"world {self.name!r}: every record of {key} needs a string 'id'; got {r!r:.80}")
                if rid in target:
                    raise ValidationError(f"world {self.name!r}: duplicate id {rid!r} in {key}")
                builder.add(app, table, rid, dict(r))
        return builder.freeze()

    def _add_scenario(self, sc: Scenario) -> None:
        where = f"world {self.name!r}, scenario {sc.id!r}"
        if sc.id in self.scenarios:
            raise ValidationError(f"{where}: duplicate scenario id")
        if sc.split not in self.splits():
            raise ValidationError(f"{where}: unknown split {sc.split!r}; splits: {', '.join(self.splits())}")
        if not sc.tasks:
            raise ValidationError(f"{where}: a scenario needs at least one task")
        names = []
        for src in sc.skills:
            names.append(parse_skill(src).name)  # raises a clear error for a bad skill
        self._skill_names[sc.id] = tuple(names)
        self.scenarios[sc.id] = sc
        for i, spec in enumerate(sc.tasks):
            if not callable(spec.check):
                raise ValidationError(f"{where}: task {i + 1} has no checker (check=...)")
            tid = spec.id or f"{sc.id}-{i + 1}"
            if self.has_task(tid):
                raise ValidationError(f"{where}: duplicate task id {tid!r}")
            task = Task(
                id=tid, scenario_id=sc.id, split=sc.split, instruction=spec.instruction,
                supervisor=dict(spec.supervisor or self.supervisor), difficulty=sc.difficulty,
                apps=sc.apps, index_in_scenario=i,
            )
            self.add_task(BuiltTask(task, spec, sc))

    # -- World protocol ---------------------------------------------------------------
    def start(self, task_id: str) -> ToolkitTaskEnv:
        return ToolkitTaskEnv(self, self.built(task_id))

    def expert_solution(self, task_id: str) -> ExpertSolution:
        b = self.built(task_id)
        if b.spec.solution is None:
            raise NotFoundError(f"task {task_id!r} of the {self.name} world has no expert solution")
        return ExpertSolution(
            task_id=task_id,
            skill_sources=tuple(s.strip() + "\n" for s in b.scenario.skills),
            skill_names=self._skill_names[b.scenario.id],
            call_block=solution_block(b.spec.solution),
            explore_block=b.scenario.explore,
        )

    # -- what the CLI and api_docs read -------------------------------------------------
    def api_doc(self, app: str, api: str) -> dict[str, Any]:
        """An API's docs with its side-effect flags (``mutates``, ``destructive``)."""
        return api_doc(self.api(app, api))

    def side_effects(self) -> dict[str, dict[str, bool]]:
        """``{"app.api": {"mutates": …, "destructive": …}}`` for every API."""
        return side_effects(self)


def side_effects(world: EngineWorld[Any, Any]) -> dict[str, dict[str, bool]]:
    """The side-effect flags of every API of an engine world (a toolkit world or the
    built-in apps world): ``{"app.api": {"mutates": …, "destructive": …}}``."""
    return {f"{s.app}.{s.name}": {"mutates": bool(s.mutates), "destructive": bool(s.destructive)}
            for a in world.apps.values() for s in a.apis.values()}


def solution_block(solution: str) -> str:
    """The expert's call block for a task's `solution` (see :class:`TaskDef`)."""
    code = solution.strip()
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise ValidationError(f"expert solution does not parse: {exc.msg} (line {exc.lineno})") from None
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr) and "complete_task" not in code:
        return f"answer = {code}\nprint(answer)\napis.supervisor.complete_task(answer=answer)"
    if "complete_task" not in code:
        code += "\napis.supervisor.complete_task()"
    return code


class ToolkitTaskEnv(EngineTaskEnv[TaskDef, Scenario]):
    """One task's live world: its own state, the answer, the completion flag, the calls."""

    world: ToolkitWorld

    def __init__(self, world: ToolkitWorld, built: BuiltTask[TaskDef, Scenario]):
        super().__init__(world, built)
        self.calls: list[CallRecord] = []
        #: (app.api, traceback) of every tool that raised something other than ToolError.
        self.tool_failures: list[tuple[str, str]] = []

    def call(self, app: str, api: str, **kwargs: Any) -> Any:
        try:
            value = super().call(app, api, **kwargs)
        except ApiError as exc:
            self.calls.append(CallRecord(app, api, dict(kwargs), False, str(exc)))
            raise
        self.calls.append(CallRecord(app, api, dict(kwargs), True))
        return value

    def perform(self, spec: ApiSpec, args: dict[str, Any]) -> Any:
        """Run the tool as a transaction: a tool that raises leaves no partial change."""
        app, api = spec.app, spec.name
        saved = self.state.checkpoint()
        mark = len(self.state.journal)
        try:
            value = _plain(spec.func(self.context(app, None), **args), f"{app}.{api}")
        except ToolError as exc:
            self.state.rollback(saved)
            msg = str(exc)
            raise ToolError(msg if msg.startswith(f"{app}.{api}") else f"{app}.{api}: {msg}") from None
        except ApiError:
            self.state.rollback(saved)
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a bug in a user's tool is the agent's API error
            self.state.rollback(saved)
            self.tool_failures.append((f"{app}.{api}", traceback.format_exc()))
            raise ApiError(f"{app}.{api} failed: {type(exc).__name__}: {exc}"[:2000]) from None
        self.record_outbound(spec, args, mark)
        return value

    def context(self, app: str, user: str | None) -> ToolContext:
        return ToolContext(self, app)

    # -- grading -------------------------------------------------------------------------
    def outcome(self) -> Outcome:
        return Outcome(self.task, tuple(self.state.diff()), self.completed, self.status, self.answer,
                       tuple(self.calls), self.state, tuple(self.state.outbound))

    def evaluate(self) -> Grade:
        try:
            grade = self.spec.check(self.outcome())
        except Exception as exc:  # noqa: BLE001 - a broken checker fails the task, not the run
            return Grade(self.task.id, (TestResult("checker", False, f"the task's checker raised "
                                                   f"{type(exc).__name__}: {exc}"),))
        if not isinstance(grade, Grade):
            return Grade(self.task.id, (TestResult("checker", False, f"the task's checker returned "
                                                   f"{type(grade).__name__}, not a Grade"),))
        return grade if grade.task_id == self.task.id else Grade(self.task.id, grade.tests)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any, where: str, depth: int = 0) -> Any:
    """A fresh copy of a tool's result made of JSON-like data (dicts with string keys,
    lists, tuples, str, int, float, bool, None): the caller may not edit base records,
    and a result the sandbox could not send is a clear error here, not a crash there."""
    t = type(value)
    if t in _SCALARS:
        return value
    if depth >= _MAX_DEPTH:
        raise ApiError(f"{where} returned data nested more than {_MAX_DEPTH} levels deep")
    if t is list or t is tuple:
        return [v if type(v) in _SCALARS else _plain(v, where, depth + 1) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise ApiError(f"{where} returned a dict with a non-string key {k!r:.40}")
            out[k] = v if type(v) in _SCALARS else _plain(v, where, depth + 1)
        return out
    if isinstance(value, (str, int, float)):  # subclasses (an IntEnum, a str Enum): their plain value
        return (str if isinstance(value, str) else float if isinstance(value, float) else int)(value)
    raise ApiError(f"{where} returned a {t.__name__}, which is not JSON-like data "
                   "(return dicts, lists, strings, numbers, booleans or None)")
