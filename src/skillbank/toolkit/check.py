"""Check a world before an agent trains on it: a checker that passes doing nothing, or an
expert that fails its own task, turns every figure built on the world into noise.

For each task, in the sandbox: the expert's solution must pass; completing the task
without doing anything must fail and earn zero task credit (`Grade.fraction`: "zero work
earns zero", which a checker whose own checks are not marked as guards breaks); giving
up must fail. The
docs are linted too: a tool parameter without a description is a guess for the agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from skillbank.errors import NotFoundError

IDLE = 'apis.supervisor.complete_task()'
GIVE_UP = 'apis.supervisor.complete_task(status="fail")'


@dataclass(frozen=True)
class TaskCheck:
    task_id: str
    expert_passes: bool | None  # None: the task has no expert solution
    idle_fails: bool
    give_up_fails: bool
    expert_failures: tuple[str, ...] = ()
    #: the partial credit (`Grade.fraction`) a bare complete_task() earns; must be 0
    idle_credit: float = 0.0

    @property
    def ok(self) -> bool:
        return self.expert_passes is not False and self.idle_fails and self.give_up_fails and not self.idle_credit


@dataclass(frozen=True)
class WorldCheck:
    world: str
    tasks: tuple[TaskCheck, ...]
    doc_warnings: tuple[str, ...]

    @property
    def problems(self) -> list[str]:
        out = []
        for t in self.tasks:
            if t.expert_passes is False:
                out.append(f"{t.task_id}: the expert's solution fails ({'; '.join(t.expert_failures[:2])})")
            if not t.idle_fails:
                out.append(f"{t.task_id}: completing the task without doing anything passes its checker")
            elif t.idle_credit:
                out.append(f"{t.task_id}: completing the task without doing anything earns {t.idle_credit:.2f} "
                           "task credit (mark completion and no-collateral checks as guards: TestResult kind GUARD)")
            if not t.give_up_fails:
                out.append(f"{t.task_id}: giving up (status 'fail') passes its checker")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems


def doc_warnings(world: Any) -> list[str]:
    out = []
    for app in world.apps.values():
        for spec in app.apis.values():
            if not spec.description.strip():
                out.append(f"{spec.app}.{spec.name}: no description")
            for p in spec.params:
                if not p.description.strip():
                    out.append(f"{spec.app}.{spec.name}: parameter '{p.name}' has no description")
    return out


def check_world(world: Any, *, split: str | None = None, sandbox: Any = None) -> WorldCheck:
    """Run the checks over `split` (all tasks when None) in `sandbox` (a `SandboxPool`;
    one with a single worker is made when None)."""
    from skillbank.sandbox import SandboxConfig, SandboxPool

    own = sandbox is None
    pool = SandboxPool(SandboxConfig(workers=1)) if own else sandbox
    try:
        results = [_check_task(world, pool, t.id) for t in world.tasks(split)]
    finally:
        if own:
            pool.close()
    return WorldCheck(world.name, tuple(results), tuple(doc_warnings(world)))


def _attempt(world: Any, pool: Any, task_id: str, code: str) -> Any:
    env = world.start(task_id)
    with pool.session(env, task_id=task_id) as session:
        session.run(code)
    return env.evaluate()


def _check_task(world: Any, pool: Any, task_id: str) -> TaskCheck:
    try:
        sol = world.expert_solution(task_id)
    except NotFoundError:
        sol = None
    expert_passes: bool | None = None
    failures: tuple[str, ...] = ()
    if sol is not None:
        skills = "\n\n".join(s.strip() for s in sol.skill_sources)
        code = f"{skills}\n\n{sol.call_block.strip()}" if skills else sol.call_block
        grade = _attempt(world, pool, task_id, code)
        expert_passes = grade.success
        failures = tuple(f"{t.name}: {t.message}" for t in grade.tests if not t.passed)
    idle = _attempt(world, pool, task_id, IDLE)
    give_up = _attempt(world, pool, task_id, GIVE_UP)
    return TaskCheck(task_id, expert_passes, not idle.success, not give_up.success, failures, idle.fraction)
