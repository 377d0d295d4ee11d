"""`skillbank bench world`: the apps world's hot paths, measured in-process.

- **API call latency**: the representative mix is what the expert actually calls: the
  first task of every scenario (all splits, so every app with a scenario is covered) is
  solved once by the expert with a recording env; then each recorded call sequence
  (logins, paginated reads, writes, supervisor calls) is replayed on a fresh env of the
  same task `repeats` times, timing every `env.call` on its own. A fresh env replays
  identically (ids and tokens come from the task's own seeded generator), so every
  replayed call does the same work as in the recording. The baseline is a plain Python
  function called with the same keyword arguments under the same timer, in the same run;
  the ratio is API median / baseline median.
- **reset**: ``world.start(task_id)`` for every task of the split.
- **grading**: ``env.evaluate()`` after the expert's solution ran (untimed) in that env.
- **expert throughput**: the expert's blocks (explore, skills, call) for every task of
  the split, executed in-process with ``exec``: acceptable for this figure because it is
  the project's own trusted expert code; agent code always goes through the sandbox
  (see ``skillbank bench sandbox`` for that cost).

The garbage collector is paused while timing (as `timeit` does), so a collection
triggered by one call is not charged to another.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import platform
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from skillbank.bench._inprocess import InProcessApis
from skillbank.bench._stats import ms, render_timings, timing_ms
from skillbank.console import console, emit, markup
from skillbank.errors import ValidationError
from skillbank.worlds.base import ApiError
from skillbank.worlds.registry import make_world

API_CALL_TARGET_MS = 0.030
RESET_PLUS_GRADING_TARGET_MS = 10.0
THROUGHPUT_NOTE = (
    "expert tasks/s executes the project's own trusted expert code in-process (exec, no sandbox); "
    "agent code always runs in the sandbox"
)


def _run_expert(world: Any, task_id: str, env: Any, *, explore: bool = True, record: list | None = None) -> None:
    sol = world.expert_solution(task_id)

    def call(app: str, api: str, **kw: Any) -> Any:
        if record is not None:
            record.append((app, api, kw))
        return env.call(app, api, **kw)

    ns: dict[str, Any] = {"apis": InProcessApis(SimpleNamespace(call=call))}
    blocks = ([sol.explore_block] if explore and sol.explore_block else []) + [*sol.skill_sources, sol.call_block]
    # The expert prints its findings as an agent would; captured, as the sandbox would, so
    # the bench's own JSON stays the only thing on stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        for code in blocks:
            exec(compile(code, "<expert>", "exec"), ns)  # noqa: S102 - the project's own expert code


def _plain(**kwargs: Any) -> Any:
    return kwargs


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _us(samples: list[float]) -> dict[str, Any]:
    """Sub-millisecond timings: milliseconds with microsecond resolution."""
    return timing_ms(samples, digits=6)


def _ms(samples: list[float]) -> dict[str, Any]:
    return timing_ms(samples)


def _kind(world: Any, app: str, api: str) -> str:
    if api == "login":
        return "login"
    try:
        return "write" if world.api(app, api).mutates else "read"
    except ApiError:
        return "read"  # an unknown API is refused at lookup, which costs what a read does


def run_bench(seed: int = 0, split: str = "train", repeats: int = 5) -> dict[str, Any]:
    """Run the benchmark and return the JSON-ready result."""
    if repeats < 1:
        raise ValidationError("repeats must be at least 1")
    perf = time.perf_counter
    started = perf()
    world = make_world("apps", seed=seed)
    build_s = perf() - started
    split_tasks = world.tasks(split)
    if not split_tasks:
        raise ValidationError(f"split {split!r} has no tasks")

    # -- the call mix: what the expert calls on the first task of each scenario ------------
    firsts: dict[str, str] = {}
    for t in world.tasks():
        firsts.setdefault(t.scenario_id, t.id)
    recordings: list[tuple[str, list[tuple[str, str, dict[str, Any]]]]] = []
    for task_id in firsts.values():
        calls: list[tuple[str, str, dict[str, Any]]] = []
        _run_expert(world, task_id, world.start(task_id), explore=False, record=calls)
        recordings.append((task_id, calls))

    by_kind: dict[str, list[float]] = {"read": [], "write": [], "login": []}
    by_app: dict[str, list[float]] = {}
    api_all: list[float] = []
    app_calls: list[float] = []  # without supervisor/api_docs, whose calls are cheap lookups
    baseline: list[float] = []
    refused = 0
    with _gc_paused():
        for _ in range(repeats):
            for task_id, calls in recordings:
                env = world.start(task_id)
                for app, api, kw in calls:
                    t0 = perf()
                    try:
                        env.call(app, api, **kw)
                    except ApiError:
                        refused += 1
                    dt = perf() - t0
                    api_all.append(dt)
                    by_kind[_kind(world, app, api)].append(dt)
                    by_app.setdefault(app, []).append(dt)
                    if app not in ("supervisor", "api_docs"):
                        app_calls.append(dt)
                    t0 = perf()
                    _plain(**kw)
                    baseline.append(perf() - t0)

    # -- reset and grading over the split -------------------------------------------------
    resets: list[float] = []
    grades: list[float] = []
    both: list[float] = []
    for t in split_tasks:
        with _gc_paused():
            t0 = perf()
            env = world.start(t.id)
            reset = perf() - t0
        _run_expert(world, t.id, env)
        with _gc_paused():
            t0 = perf()
            env.evaluate()
            grade = perf() - t0
        resets.append(reset)
        grades.append(grade)
        both.append(reset + grade)

    # -- expert throughput over the whole split -------------------------------------------
    passed = 0
    t0 = perf()
    for t in split_tasks:
        env = world.start(t.id)
        _run_expert(world, t.id, env)
        passed += env.evaluate().success
    wall = perf() - t0

    api_summary = _us(api_all)
    base_summary = _us(baseline)
    reset_grade = _ms(both)
    return {
        "bench": "world",
        "world": "apps",
        "seed": seed,
        "split": split,
        "world_build_ms": ms(build_s, 1),
        "api_call": {
            **api_summary,
            "by_kind": {k: _us(v) for k, v in by_kind.items()},
            "apps_only": _us(app_calls),
            "by_app": {k: _us(v) for k, v in sorted(by_app.items())},
            "mix": {"scenarios": len(recordings), "calls_per_repeat": len(api_all) // repeats, "repeats": repeats,
                    "refused_calls": refused // repeats},
            "target_ms": API_CALL_TARGET_MS,
            "meets_target": api_summary["median_ms"] <= API_CALL_TARGET_MS,
        },
        "baseline_plain_call": base_summary,
        "api_vs_plain_call_ratio": round(api_summary["median_ms"] / base_summary["median_ms"], 1)
        if base_summary["median_ms"] else None,
        "reset": _ms(resets),
        "grading": _ms(grades),
        "reset_plus_grading": {
            **reset_grade,
            "target_ms": RESET_PLUS_GRADING_TARGET_MS,
            "meets_target": reset_grade["median_ms"] <= RESET_PLUS_GRADING_TARGET_MS,
        },
        "expert_throughput": {
            "tasks": len(split_tasks),
            "passed": passed,
            "wall_ms": ms(wall, 1),
            "tasks_per_s": round(len(split_tasks) / wall, 1) if wall else None,
            "execution": "in-process",
            "note": THROUGHPUT_NOTE,
        },
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }


def command(
    seed: Annotated[int, typer.Option("--seed", help="World seed.")] = 0,
    split: Annotated[str, typer.Option("--split", help="Split for reset, grading and throughput.")] = "train",
    repeats: Annotated[int, typer.Option("--repeats", help="Times the API call mix is replayed.")] = 5,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the summary.")] = False,
) -> None:
    """API call latency vs a plain call, reset and grading time, expert tasks/second."""
    result = run_bench(seed=seed, split=split, repeats=repeats)

    def render(r: dict[str, Any]) -> None:
        a, rg, e = r["api_call"], r["reset_plus_grading"], r["expert_throughput"]
        ok = lambda b: "meets target" if b else "MISSES target"
        render_timings(
            f"apps world (seed {r['seed']}, built in {r['world_build_ms']} ms)",
            [("API call", a, (f"{r['api_vs_plain_call_ratio']}x a plain call; target {a['target_ms']} ms: "
                              f"{ok(a['meets_target'])}")),
             *((f"  {k}", v, "") for k, v in a["by_kind"].items()),
             ("plain call (baseline)", r["baseline_plain_call"], ""),
             ("reset", r["reset"], ""),
             ("grading", r["grading"], ""),
             ("reset + grading", rg, f"target {rg['target_ms']} ms: {ok(rg['meets_target'])}")],
        )
        console.print(markup("expert: {} tasks/s over {} {} tasks ({} passed; in-process)",
                             e["tasks_per_s"], e["tasks"], r["split"], e["passed"]))

    emit(result, json_, render)
