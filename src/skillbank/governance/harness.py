"""Runs skills for governance: always in the sandbox, always against a fresh copy of a
task's world, never in this process.

Everything that comes back (results, recorded calls, the world's diff) is bounded
before it is used: skill calls as the sandbox's parent recorded them (`recorder.calls_of`),
API call records by count.
"""

from __future__ import annotations

import ast
import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from skillbank.errors import NotFoundError, ValidationError
from skillbank.governance.recorder import RecordedCall, calls_of
from skillbank.worlds.base import Grade, World

MAX_API_CALLS_KEPT = 200
MAX_CHANGES_KEPT = 200


@dataclass(frozen=True)
class Change:
    """One state change a run caused, as the world's diff reports it."""

    app: str
    table: str
    kind: str
    id: str


class StateChange(Protocol):
    """One row a run inserted, updated or deleted, as a world's state diff reports it."""

    @property
    def app(self) -> str: ...

    @property
    def table(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def id(self) -> str: ...


@runtime_checkable
class DiffableState(Protocol):
    """A task's live state that can list its changes against the world's base."""

    def diff(self) -> Iterable[StateChange]: ...


@runtime_checkable
class DiffableEnv(Protocol):
    """A task env whose state can be diffed (the built-in apps world and toolkit worlds);
    the side-effect audit reads what a skill changed from it. Other envs report no diff."""

    @property
    def state(self) -> DiffableState: ...


@dataclass(frozen=True)
class SkillRun:
    """What one sandboxed run of a skill did."""

    ok: bool
    error: str | None
    killed: str | None
    calls: tuple[RecordedCall, ...]  # the skill's own calls, recorded
    api_calls: tuple[tuple[str, str], ...]  # (app, api) in order
    changes: tuple[Change, ...] | None  # None: the world cannot diff its state
    value: str | None = None  # the block's tail expression's repr, when asked
    grade: Grade | None = None  # the task's grade after the run, when asked
    duration_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def grade_success(self) -> bool | None:
        return None if self.grade is None else self.grade.success

    @property
    def grade_fraction(self) -> float | None:
        return None if self.grade is None else self.grade.fraction

    @property
    def failed_tests(self) -> tuple[str, ...]:
        """The grade's failing tests as ``name: message`` (each cut to 200 characters)."""
        if self.grade is None:
            return ()
        return tuple(f"{t.name}: {t.message}"[:200] for t in self.grade.tests if not t.passed)


def strip_definitions(code: str, names: set[str]) -> str:
    """`code` without its top-level definitions of `names` (so a preloaded version is the
    one that runs)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    kept = [n for n in tree.body if not (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name in names)]
    if len(kept) == len(tree.body):
        return code
    tree.body = kept
    return ast.unparse(tree) + "\n"


def call_code(name: str, args: list[Any] | tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """One call of `name` as a task's code would write it (JSON data as Python literals)."""
    args, kwargs = json.loads(json.dumps([list(args), kwargs], allow_nan=False))
    return f"{name}(*{args!r}, **{kwargs!r})\n"


class WorldCache:
    """Worlds by seed, built once (building one costs a fraction of a second)."""

    def __init__(self, factory: Callable[[int], World], default_seed: int = 0):
        self.factory = factory
        self.default_seed = default_seed
        self._worlds: dict[int, World] = {}

    def get(self, seed: int | None) -> World:
        seed = self.default_seed if seed is None else int(seed)
        if seed not in self._worlds:
            self._worlds[seed] = self.factory(seed)
        return self._worlds[seed]

    def add(self, seed: int, world: World) -> None:
        self._worlds[seed] = world


def default_task(world: World, source_task: str | None) -> str:
    if source_task is not None:
        try:
            world.task(source_task)
            return source_task
        except NotFoundError:
            pass
    tasks = world.tasks()
    if not tasks:
        raise ValidationError("the world has no tasks to run a skill against")
    return tasks[0].id


class Harness:
    """A sandbox pool and worlds: runs a skill version's code against fresh task worlds."""

    def __init__(self, pool: Any, worlds: WorldCache):
        self.pool = pool
        self.worlds = worlds

    def run(self, name: str, source: str, code: str, *, task_id: str | None, seed: int | None,
            grade: bool = False, tail: str | None = None) -> SkillRun:
        """Preload `source` (defining `name`), run `code`, take the skill's calls as the
        sandbox's parent recorded them; optionally grade the task and evaluate `tail`."""
        world = self.worlds.get(seed)
        task = default_task(world, task_id)
        env = world.start(task)
        started = time.perf_counter()
        with self.pool.session(env, task) as session:
            loaded = session.preload({name: source})
            if not loaded[name].ok:
                r = loaded[name]
                return SkillRun(False, f"{r.error_type or 'Error'}: {r.error_message or r.killed or ''}"[:500],
                                r.killed, (), (), None, duration_s=time.perf_counter() - started)
            result = session.run(code)
            value = None
            if tail is not None and result.ok:
                tail_result = session.run(tail)
                value = tail_result.result_repr if tail_result.ok else None
            calls = tuple(calls_of(session))
        error = None if result.ok else (
            "; ".join(result.static_errors)[:500] if result.static_errors
            else f"{result.error_type or 'Error'}: {result.error_message or result.killed or ''}"[:500]
        )
        changes = _changes(env)
        graded = env.evaluate() if grade else None  # only now, after the run
        return SkillRun(
            ok=result.ok, error=error, killed=result.killed, calls=calls,
            api_calls=tuple((c.app, c.api) for c in result.api_calls[:MAX_API_CALLS_KEPT]),
            changes=changes, value=value, grade=graded, duration_s=time.perf_counter() - started,
        )

    def call(self, name: str, source: str, args: list[Any] | tuple[Any, ...], kwargs: dict[str, Any], *,
             task_id: str | None, seed: int | None, tail: str | None = None) -> SkillRun:
        return self.run(name, source, call_code(name, args, kwargs), task_id=task_id, seed=seed, tail=tail)


def _changes(env: object) -> tuple[Change, ...] | None:
    """What the run changed, when `env` can diff its state (else None)."""
    if not isinstance(env, DiffableEnv) or not isinstance(env.state, DiffableState):
        return None
    return tuple(Change(c.app, c.table, c.kind, c.id) for c in itertools.islice(env.state.diff(), MAX_CHANGES_KEPT))


def open_harness(*, timeout_s: float = 5.0, world: World | None = None, seed: int = 0,
                 world_factory: Callable[[int], World] | None = None) -> tuple[Harness, Callable[[], None]]:
    """A harness on its own one-worker sandbox pool (short wall clock: fuzzing may hang)
    and the built-in apps world by seed; returns (harness, close)."""
    from skillbank.sandbox import SandboxConfig, SandboxPool

    if world_factory is None:
        from skillbank.worlds.apps import AppsWorld

        world_factory = AppsWorld
    pool = SandboxPool(SandboxConfig(workers=1, timeout_s=timeout_s))
    worlds = WorldCache(world_factory, default_seed=seed)
    if world is not None:
        worlds.add(seed, world)
    return Harness(pool, worlds), pool.close
