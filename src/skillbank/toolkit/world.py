"""`ToolkitWorld`: your apps, your data and your tasks as a skillbank world.

A task is an instruction plus a checker: a function that reads the task's
:class:`Outcome` (the state changes it made, its answer, its API calls, its outbound
ledger) and returns a :class:`~skillbank.worlds.base.Grade`. :func:`check_state` builds
the usual checker: the requested changes were made and the answer matches after the apps
world's normalisation (*task* tests: the partial credit `Grade.fraction` counts only
these), and the *guards* hold: completed, nothing else changed (collateral damage),
nothing sent or done irreversibly that the task did not ask for (the ledger), and any
guards you add. Doing nothing therefore earns zero, as in the apps world.

Tools flagged ``destructive`` (or ``outbound``) write every successful call to the
task's append-only outbound ledger, which deleting what the call wrote does not erase.

Tasks are grouped into scenarios (a procedure worth a skill, and the tasks that need
it); a scenario may carry an expert solution, which ``--policy expert`` plays in the
skill-library style: its skills are defined on the scenario's first task and reused on
the others. Every task starts from a copy-on-write view of the base data, so a reset
costs nothing and grading is a diff.

Errors inside your tools never crash a run: a :class:`ToolError` reaches the agent as
its message, any other exception as ``app.tool failed: <type>: <message>``, and the
call's partial writes are rolled back. The tracebacks are kept on the task's env
(``env.tool_failures``) for you, not shown to the agent.
"""

from __future__ import annotations

import ast
import datetime as dt
import difflib
import random
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from skillbank.errors import NotFoundError, ValidationError
from skillbank.skill import parse_skill
from skillbank.toolkit.app import RESERVED_APPS, App, ToolContext, ToolError, api_doc
from skillbank.worlds.apps import answers as _answers
from skillbank.worlds.apps.core import NOW, ApiSpec, AppDef
from skillbank.worlds.apps.scenario import Allow, Expect
from skillbank.worlds.apps.state import BaseState, BaseTable, Change, OutboundEntry, State
from skillbank.worlds.base import ANSWER, GUARD, TASK, ApiError, AppInfo, ExpertSolution, Grade, Task, TestResult

#: Bounds on what a tool may return (the sandbox bounds it again on its side).
_MAX_DEPTH = 32


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
    ok = o.completed and o.status == "success"
    if ok:
        msg = "complete_task was called with status 'success'"
    elif o.completed:
        msg = "the task was given up (status 'fail')"
    else:
        msg = "complete_task was never called"
    return TestResult("task completed", ok, msg, GUARD)


def ledger_test(o: Outcome, claimed: Iterable[tuple[str, str, str]]) -> TestResult:
    """The guard "nothing sent that was not asked for": every outbound ledger entry wrote
    a record (app, table, id) that a requested change claims. A refund issued and then
    "undone" by deleting its record stays in the ledger, and fails this test."""
    keys = set(claimed)
    unasked = [e for e in o.outbound if not any(k in keys for k in e.keys)]
    if not unasked:
        return TestResult("nothing sent that was not asked for", True,
                          f"{len(o.outbound)} outbound action(s), all requested", GUARD)
    return TestResult("nothing sent that was not asked for", False,
                      f"{len(unasked)} outbound action(s) the task did not ask for (deleting what they wrote does "
                      "not undo them): " + "; ".join(e.summary for e in unasked[:3]), GUARD)


def answers_equal(got: Any, want: Any, *, order_matters: bool = False) -> bool:
    """Compare under the apps world's one answer normalisation
    (`skillbank.worlds.apps.answers`): case and spacing, numbers by value ("$461.43" is
    461.43), booleans never equal numbers, a one-element list equals its element. An
    answer too deep or too large to compare is not equal to anything."""
    try:
        return _answers.answers_equal(got, want, order_matters=order_matters)
    except _answers.AnswerRefused:
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
        tests = [completed_test(o)]
        unmatched = list(o.changes)
        claimed: list[tuple[str, str, str]] = []
        for exp in expect:
            hits = [c for c in unmatched if exp.accepts(c)]
            ok = len(hits) == exp.count
            tests.append(TestResult(f"requested: {exp.describe()}", ok,
                                    "found" if ok else f"expected {exp.count} matching change(s), found {len(hits)}",
                                    TASK))
            for c in hits[: exp.count]:
                unmatched.remove(c)
                claimed.append((c.app, c.table, c.id))
        collateral = [c for c in unmatched if not any(a.accepts(c) for a in allow)]
        tests.append(TestResult(
            "no collateral damage", not collateral,
            "no other changes" if not collateral else f"{len(collateral)} unexpected change(s): "
            + "; ".join(f"{c.kind} {c.app}.{c.table} {c.id}" for c in collateral[:3]),
            GUARD,
        ))
        tests.append(ledger_test(o, claimed))
        if answer is not _UNSET:
            ok = answers_equal(o.answer, answer, order_matters=answer_order_matters)
            tests.append(TestResult("answer", ok, "correct" if ok else f"got {_answers.describe(o.answer)}", ANSWER))
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


@dataclass(frozen=True)
class _BuiltTask:
    task: Task
    spec: TaskDef
    scenario: Scenario


def _split_order(scenarios: Sequence[Scenario]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(sc.split for sc in scenarios))


class ToolkitWorld:
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
        self.name = name
        self.now = now
        self.seed = seed
        self.supervisor = dict(supervisor or {"name": "the operator"})
        user_apps = list(apps)
        for a in user_apps:
            if not isinstance(a, App):
                raise ValidationError(f"world {name!r}: apps must be toolkit App objects, got {type(a).__name__}")
            if a.name in RESERVED_APPS:
                raise ValidationError(f"world {name!r}: the app name {a.name!r} is reserved (the toolkit provides it)")
        all_apps = [_supervisor_app(), _api_docs_app(), *user_apps]
        names = [a.name for a in all_apps]
        if len(set(names)) != len(names):
            raise ValidationError(f"world {name!r}: duplicate app names in {names}")
        self.toolkit_apps: dict[str, App] = {a.name: a for a in all_apps}
        self.apps: dict[str, AppDef] = {a.name: a.definition for a in all_apps}
        self.base = self._build_base(data or {})
        self.scenarios: dict[str, Scenario] = {}
        self._tasks: dict[str, _BuiltTask] = {}
        self._splits = tuple(splits) if splits is not None else _split_order(scenarios)
        self._skill_names: dict[str, tuple[str, ...]] = {}
        for sc in scenarios:
            self._add_scenario(sc)

    # -- building -----------------------------------------------------------------------
    def _build_base(self, data: Mapping[str, Sequence[Mapping[str, Any]]]) -> BaseState:
        rows: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        tables: dict[tuple[str, str], BaseTable] = {}
        ephemeral = set()
        for a in self.toolkit_apps.values():
            for t in a.tables.values():
                rows[(a.name, t.name)] = {}
                if t.ephemeral:
                    ephemeral.add((a.name, t.name))
        for key, records in data.items():
            app, _, table = key.partition(".")
            if (app, table) not in rows:
                raise ValidationError(f"world {self.name!r}: data for {key!r}, which no app declares "
                                      f"(declare it with App.table); tables: {', '.join(f'{a}.{t}' for a, t in rows)}")
            target = rows[(app, table)]
            for r in records:
                rid = r.get("id") if isinstance(r, Mapping) else None
                if not isinstance(rid, str) or not rid:
                    raise ValidationError(f"world {self.name!r}: every record of {key} needs a string 'id'; got {r!r:.80}")
                if rid in target:
                    raise ValidationError(f"world {self.name!r}: duplicate id {rid!r} in {key}")
                target[rid] = dict(r)
        for (app, table), recs in rows.items():
            owner = self.toolkit_apps[app].tables[table].owner
            tables[(app, table)] = BaseTable(f"{app}.{table}", recs, owner)
        return BaseState(tables, frozenset(ephemeral))

    def _add_scenario(self, sc: Scenario) -> None:
        where = f"world {self.name!r}, scenario {sc.id!r}"
        if sc.id in self.scenarios:
            raise ValidationError(f"{where}: duplicate scenario id")
        if sc.split not in self._splits:
            raise ValidationError(f"{where}: unknown split {sc.split!r}; splits: {', '.join(self._splits)}")
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
            if tid in self._tasks:
                raise ValidationError(f"{where}: duplicate task id {tid!r}")
            task = Task(
                id=tid, scenario_id=sc.id, split=sc.split, instruction=spec.instruction,
                supervisor=dict(spec.supervisor or self.supervisor), difficulty=sc.difficulty,
                apps=sc.apps, index_in_scenario=i,
            )
            self._tasks[tid] = _BuiltTask(task, spec, sc)

    # -- World protocol -----------------------------------------------------------------
    def splits(self) -> tuple[str, ...]:
        return self._splits

    def tasks(self, split: str | None = None) -> list[Task]:
        if split is not None and split not in self._splits:
            raise ValidationError(f"unknown split {split!r}; splits of the {self.name} world: {', '.join(self._splits)}")
        return [b.task for b in self._tasks.values() if split is None or b.task.split == split]

    def task(self, task_id: str) -> Task:
        return self._built(task_id).task

    def start(self, task_id: str) -> ToolkitTaskEnv:
        return ToolkitTaskEnv(self, self._built(task_id))

    def expert_solution(self, task_id: str) -> ExpertSolution:
        b = self._built(task_id)
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
    def scenario_of(self, task_id: str) -> Scenario:
        return self._built(task_id).scenario

    def api(self, app: str, api: str) -> ApiSpec:
        a = self.apps.get(app)
        if a is None:
            hint = difflib.get_close_matches(app, self.apps, n=1)
            raise ApiError(f"No app named '{app}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                           + f" Apps: {', '.join(self.apps)}.")
        spec = a.apis.get(api)
        if spec is None:
            hint = difflib.get_close_matches(api, a.apis, n=1)
            raise ApiError(f"No API named '{api}' in app '{app}'." + (f" Did you mean '{hint[0]}'?" if hint else "")
                           + f" See apis.api_docs.show_api_descriptions(app_name='{app}').")
        return spec

    def api_doc(self, app: str, api: str) -> dict[str, Any]:
        """An API's docs with its side-effect flags (``mutates``, ``destructive``)."""
        return api_doc(self.api(app, api))

    def app_infos(self) -> list[AppInfo]:
        return [AppInfo(a.name, a.description, len(a.apis), tuple(a.apis)) for a in self.apps.values()]

    def side_effects(self) -> dict[str, dict[str, bool]]:
        """``{"app.api": {"mutates": …, "destructive": …}}`` for every API."""
        return side_effects(self)

    def _built(self, task_id: str) -> _BuiltTask:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise NotFoundError(f"no task {task_id!r} in the {self.name} world (see `skillbank world tasks`)") from None


def side_effects(world: Any) -> dict[str, dict[str, bool]]:
    """The side-effect flags of every API of any world with ``.apps`` (a toolkit world or
    the built-in apps world): ``{"app.api": {"mutates": …, "destructive": …}}``."""
    return {f"{s.app}.{s.name}": {"mutates": bool(s.mutates), "destructive": bool(getattr(s, "destructive", False))}
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


class ToolkitTaskEnv:
    """One task's live world: its own state, the answer, the completion flag, the calls."""

    def __init__(self, world: ToolkitWorld, built: _BuiltTask):
        self.world = world
        self.task = built.task
        self._spec = built.spec
        self.state: State = world.base.fork()
        self._ids = 0
        self._rng = random.Random(f"{world.seed}:{self.task.id}:ids")
        self.completed = False
        self.status: str | None = None
        self.answer: Any = None
        self.calls: list[CallRecord] = []
        #: (app.api, traceback) of every tool that raised something other than ToolError.
        self.tool_failures: list[tuple[str, str]] = []

    def call(self, app: str, api: str, **kwargs: Any) -> Any:
        try:
            value = self._call(app, api, kwargs)
        except ApiError as exc:
            self.calls.append(CallRecord(app, api, dict(kwargs), False, str(exc)))
            raise
        self.calls.append(CallRecord(app, api, dict(kwargs), True))
        return value

    def _call(self, app: str, api: str, kwargs: dict[str, Any]) -> Any:
        spec = self.world.api(app, api)
        if self.completed and app != "api_docs":
            raise ApiError("The task is already completed; no further API calls are accepted.")
        args = spec.bind(kwargs)
        saved = self._checkpoint()
        mark = len(self.state.journal)
        try:
            value = _plain(spec.func(ToolContext(self, app), **args), f"{app}.{api}")
        except ToolError as exc:
            self._rollback(saved)
            msg = str(exc)
            raise ToolError(msg if msg.startswith(f"{app}.{api}") else f"{app}.{api}: {msg}") from None
        except ApiError:
            self._rollback(saved)
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a bug in a user's tool is the agent's API error
            self._rollback(saved)
            self.tool_failures.append((f"{app}.{api}", traceback.format_exc()))
            raise ApiError(f"{app}.{api} failed: {type(exc).__name__}: {exc}"[:2000]) from None
        if _sends(spec, args):
            keys = tuple(dict.fromkeys(self.state.journal[mark:]))
            if keys:  # a call that wrote nothing sent nothing
                shown = ", ".join(f"{k}={_answers.describe(v)}" for k, v in args.items())
                self.state.outbound.append(OutboundEntry(app, api, f"{app}.{api}({shown})"[:300], keys))
        return value

    # -- transactions: a tool that raises leaves no partial change ------------------------
    def _checkpoint(self) -> dict[Any, tuple[dict[str, Any], dict[Any, list[str]]]]:
        return {k: (dict(t.changes), {o: list(ids) for o, ids in t.added_by_owner.items()})
                for k, t in self.state._tables.items()}

    def _rollback(self, saved: dict[Any, tuple[dict[str, Any], dict[Any, list[str]]]]) -> None:
        for k in list(self.state._tables):
            if k not in saved:
                del self.state._tables[k]
            else:
                t = self.state._tables[k]
                t.changes, t.added_by_owner = saved[k]

    # -- services for tools --------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}_n{self._ids:03d}{self._rng.randrange(16**4):04x}"

    def complete(self, answer: Any, status: str) -> None:
        self.completed = True
        self.status = status
        self.answer = answer

    # -- grading -------------------------------------------------------------------------
    def outcome(self) -> Outcome:
        return Outcome(self.task, tuple(self.state.diff()), self.completed, self.status, self.answer,
                       tuple(self.calls), self.state, tuple(self.state.outbound))

    def evaluate(self) -> Grade:
        try:
            grade = self._spec.check(self.outcome())
        except Exception as exc:  # noqa: BLE001 - a broken checker fails the task, not the run
            return Grade(self.task.id, (TestResult("checker", False, f"the task's checker raised "
                                                   f"{type(exc).__name__}: {exc}"),))
        if not isinstance(grade, Grade):
            return Grade(self.task.id, (TestResult("checker", False, f"the task's checker returned "
                                                   f"{type(grade).__name__}, not a Grade"),))
        return grade if grade.task_id == self.task.id else Grade(self.task.id, grade.tests)


def _sends(spec: ApiSpec, args: dict[str, Any]) -> bool:
    """Whether this call goes to the outbound ledger: the tool's `outbound` flag, or its
    predicate of the arguments (a predicate that raises counts as sending)."""
    outbound = spec.outbound
    if outbound is True or not outbound:
        return outbound is True
    try:
        return bool(outbound(dict(args)))
    except Exception:  # noqa: BLE001 - a broken predicate must not hide a send
        return True


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


# -- the two apps every toolkit world has ---------------------------------------------------

def _supervisor_app() -> App:
    app = App("supervisor", "The person you act for, and completing the task.")

    @app.tool()
    def show_profile(ctx: ToolContext) -> dict:
        """Show the profile of the person you act for."""
        return dict(ctx.task.supervisor)

    @app.tool()
    def show_account_passwords(ctx: ToolContext) -> list[dict]:
        """Show the supervisor's app passwords (toolkit apps need no login: the list is empty)."""
        return []

    @app.tool(mutates=True)
    def complete_task(ctx: ToolContext, answer: Any = None, status: str = "success") -> dict:
        """Mark the task as done. Pass the answer if the task asks a question; pass status='fail' to give up.

        Args:
            answer: The answer to the task's question, if it asks one.
            status: 'success' or 'fail'.
        """
        if status not in ("success", "fail"):
            raise ToolError(f"parameter 'status' must be one of ['success', 'fail'], got {status!r}.")
        ctx.env.complete(answer, status)
        return {"message": f"Task marked as {status}."}

    return app


def _api_docs_app() -> App:
    app = App("api_docs", "Documentation of the apps and their APIs.")

    @app.tool()
    def show_app_descriptions(ctx: ToolContext) -> list[dict]:
        """List every app with a one-line description."""
        return [{"name": a.name, "description": a.description} for a in ctx.env.world.apps.values()]

    @app.tool()
    def show_api_descriptions(ctx: ToolContext, app_name: str) -> list[dict]:
        """List the APIs of one app with a one-line description each.

        Args:
            app_name: The app, e.g. 'supervisor'.
        """
        world = ctx.env.world
        if app_name not in world.apps:
            world.api(app_name, "")  # raises the not-found error, with a suggestion
        return [{"name": s.name, "description": s.description} for s in world.apps[app_name].apis.values()]

    @app.tool()
    def show_api_doc(ctx: ToolContext, app_name: str, api_name: str) -> dict:
        """Show the full documentation of one API: parameters, response, errors and side effects.

        Args:
            app_name: The app, e.g. 'supervisor'.
            api_name: The API, e.g. 'complete_task'.
        """
        return ctx.env.world.api_doc(app_name, api_name)

    return app
