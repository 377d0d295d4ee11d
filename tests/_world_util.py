"""Test helpers for the apps world: run the *project's own* expert solutions in-process.

Only trusted, project-written code runs this way, and only in tests; agent code always
goes through the sandbox.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from skillbank.bench._inprocess import InProcessApis


def run_expert(world: Any, task_id: str, *, with_explore: bool = True):
    """Play the expert's blocks for one task in a fresh env; return (env, grade)."""
    env = world.start(task_id)
    sol = world.expert_solution(task_id)
    ns: dict[str, Any] = {"apis": InProcessApis(env)}
    if with_explore and sol.explore_block:
        exec(compile(sol.explore_block, "<explore>", "exec"), ns)
    for src in sol.skill_sources:
        exec(compile(src, "<skill>", "exec"), ns)
    exec(compile(sol.call_block, "<call>", "exec"), ns)
    return env, env.evaluate()


def run_code(world: Any, task_id: str, code: str):
    """Run trusted test code against a fresh env; return (env, namespace)."""
    env = world.start(task_id)
    ns: dict[str, Any] = {"apis": InProcessApis(env)}
    exec(compile(code, "<test>", "exec"), ns)
    return env, ns


@functools.lru_cache(maxsize=8)
def world_at(seed: int) -> Any:
    """One shared world per seed for the test session (building one takes a few hundred ms)."""
    from skillbank.worlds.apps import AppsWorld

    return AppsWorld(seed)


class TamperHost:
    """An env whose calls pass through `tampers[(app, api)](env, kwargs) -> kwargs` first:
    the expert's own code with one detail done differently (wrong, or right but written
    differently)."""

    def __init__(self, env: Any, tampers: dict[tuple[str, str], Callable[[Any, dict[str, Any]], dict[str, Any]]]):
        self.env = env
        self.tampers = tampers
        self.tampered = 0

    def call(self, app: str, api: str, **kwargs: Any) -> Any:
        fix = self.tampers.get((app, api))
        if fix is not None:
            kwargs = fix(self.env, dict(kwargs))
            self.tampered += 1
        return self.env.call(app, api, **kwargs)


def run_tampered(world: Any, task_id: str, tampers: dict, *, before: str = ""):
    """Play the expert's blocks for one task with `tampers` applied (and trusted test code
    `before` run first, with the same `apis`); return (env, grade). Fails if no tamper fired."""
    env = world.start(task_id)
    host = TamperHost(env, tampers)
    sol = world.expert_solution(task_id)
    ns: dict[str, Any] = {"apis": InProcessApis(host)}
    if before:
        exec(compile(before, "<before>", "exec"), ns)
    for src in sol.skill_sources:
        exec(compile(src, "<skill>", "exec"), ns)
    exec(compile(sol.call_block, "<call>", "exec"), ns)
    assert host.tampered or not tampers, f"{task_id}: no tampered call was made"
    return env, env.evaluate()
