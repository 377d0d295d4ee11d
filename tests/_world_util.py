"""Test helpers for the apps world: run the *project's own* expert solutions in-process.

Only trusted, project-written code runs this way, and only in tests; agent code always
goes through the sandbox.
"""

from __future__ import annotations

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
