"""`skillbank world …`: explore a world (the built-in apps world by default; `--world
support` or your own `package.module:make_world`): apps, API docs, tasks, and the
expert's solution of a task run in the sandbox and graded."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from skillbank.commands._options import JsonOpt
from skillbank.console import console, emit, err_console, markup, print_code, table
from skillbank.errors import NotFoundError, ValidationError
from skillbank.toolkit.loader import open_world
from skillbank.worlds.base import ApiError, seed_for

app = typer.Typer(no_args_is_help=True)

SeedOpt = Annotated[str, typer.Option(
    "--seed", help="World seed (the same seed gives the same people, data and tasks), or 'random' for a fresh one "
    "(printed on stderr; evaluation splits draw from the held-out evaluation seeds).")]
WorldOpt = Annotated[str, typer.Option("--world", help="apps, support, or your own: package.module:make_world.")]

SOLVE_POLICIES = ("expert",)


def _world(seed: str | int, name: str = "apps", split: str | None = None) -> Any:
    chosen = seed_for(seed, split)
    if str(chosen) != str(seed).strip():
        err_console.print(f"world seed: {chosen}")
    return open_world(name, seed=chosen)


@app.command("apps")
def apps(seed: SeedOpt = "0", world_name: WorldOpt = "apps", as_json: JsonOpt = False) -> None:
    """The apps and how many APIs each has."""
    infos = _world(seed, world_name).app_infos()
    rows = [{"name": a.name, "description": a.description, "api_count": a.api_count, "apis": list(a.apis)} for a in infos]
    data = {"apps": rows, "app_count": len(rows), "api_count": sum(r["api_count"] for r in rows)}

    def render(d: dict[str, Any]) -> None:
        t = table("app", "APIs", "description", title=f"{d['app_count']} apps, {d['api_count']} APIs",
                  keep=("app",), flex=("description",))
        for r in d["apps"]:
            t.add_row(r["name"], str(r["api_count"]), r["description"])
        console.print(t)

    emit(data, as_json, render)


def _lookup(world: Any, app_name: str, api_name: str | None) -> Any:
    try:
        return world.api(app_name, api_name or "login")
    except ApiError as exc:
        raise NotFoundError(str(exc)) from None


@app.command("docs")
def docs(
    app_name: Annotated[str, typer.Argument(metavar="APP", help="An app, e.g. notes.")],
    api_name: Annotated[str | None, typer.Argument(metavar="[API]", help="One of its APIs, e.g. show_notes.")] = None,
    seed: SeedOpt = "0",
    world_name: WorldOpt = "apps",
    as_json: JsonOpt = False,
) -> None:
    """An app's APIs, or one API's full documentation."""
    world = _world(seed, world_name)
    if app_name not in world.apps:
        _lookup(world, app_name, None)  # raises the not-found error with a suggestion
    if api_name is None:
        a = world.apps[app_name]
        data: dict[str, Any] = {
            "app_name": a.name,
            "description": a.description,
            "apis": [{"name": s.name, "description": s.description} for s in a.apis.values()],
        }

        def render_app(d: dict[str, Any]) -> None:
            t = table("API", "description", title=f"{d['app_name']}: {d['description']}", keep=("API",),
                      flex=("description",))
            for r in d["apis"]:
                t.add_row(r["name"], r["description"])
            console.print(t)

        emit(data, as_json, render_app)
        return
    doc = _lookup(world, app_name, api_name).doc()
    if hasattr(world, "api_doc"):  # toolkit worlds add the side-effect flags
        doc = world.api_doc(app_name, api_name)

    def render_api(d: dict[str, Any]) -> None:
        console.print(markup("[bold]{}.{}[/bold]: {}", d["app_name"], d["api_name"], d["description"]))
        t = table("name", "type", "required", "default", "constraints", "description", title="parameters",
                  keep=("name",), flex=("constraints", "description"))
        for p in d["parameters"]:
            t.add_row(
                p["name"], p["type"], "yes" if p["required"] else "no",
                "" if p["required"] else repr(p.get("default")),
                json.dumps(p.get("constraints")) if p.get("constraints") else "", p["description"],
            )
        console.print(t)
        console.print(f"response: {json.dumps(d['response'])}")
        if "mutates" in d:
            effects = "destructive (irreversible)" if d.get("destructive") else "mutates state" if d["mutates"] else "read only"
            console.print(f"side effects: {effects}")
        console.print("errors:")
        for e in d["errors"]:
            console.print(f"  - {e}")

    emit(doc, as_json, render_api)


def _task_row(t: Any) -> dict[str, Any]:
    return {
        "id": t.id, "scenario_id": t.scenario_id, "split": t.split, "difficulty": t.difficulty,
        "apps": list(t.apps), "index_in_scenario": t.index_in_scenario, "instruction": t.instruction,
    }


@app.command("tasks")
def tasks(
    split: Annotated[str | None, typer.Option("--split", help="train, dev, test_normal or test_challenge; default all.")] = None,
    seed: SeedOpt = "0",
    world_name: WorldOpt = "apps",
    as_json: JsonOpt = False,
) -> None:
    """The tasks (of one split), with their scenario, difficulty and apps."""
    rows = [_task_row(t) for t in _world(seed, world_name, split).tasks(split)]

    def render(rs: list[dict[str, Any]]) -> None:
        # One table per split: the split is its title, not a column taking room.
        by_split: dict[str, list[dict[str, Any]]] = {}
        for r in rs:
            by_split.setdefault(r["split"], []).append(r)
        for name, group in by_split.items():
            scenarios = len({r["scenario_id"] for r in group})
            t = table("task", "diff.", "apps", "instruction",
                      title=f"{name}: {len(group)} tasks in {scenarios} scenarios",
                      keep=("task",), flex=("instruction",), flex_min=40)
            for r in group:
                t.add_row(r["id"], str(r["difficulty"]), ", ".join(r["apps"]), r["instruction"])
            console.print(t)

    emit(rows, as_json, render)


@app.command("show")
def show(
    task_id: Annotated[str, typer.Argument(metavar="TASK_ID")],
    seed: SeedOpt = "0",
    world_name: WorldOpt = "apps",
    as_json: JsonOpt = False,
) -> None:
    """One task: instruction, supervisor, scenario, apps, difficulty, split."""
    world = _world(seed, world_name)
    task = world.task(task_id)
    data = _task_row(task) | {"supervisor": dict(task.supervisor)}
    scenario = world.scenario_of(task_id)
    data["scenario_description"] = scenario.description
    data["scenario_tasks"] = [t.id for t in world.tasks(task.split) if t.scenario_id == task.scenario_id]

    def render(d: dict[str, Any]) -> None:
        sup = d["supervisor"]
        console.print(markup("[bold]{}[/bold]  ({}, difficulty {}, apps: {})", d["id"], d["split"], d["difficulty"],
                             ", ".join(d["apps"])))
        console.print(f"scenario: {d['scenario_id']}: {d['scenario_description']}  tasks: {', '.join(d['scenario_tasks'])}")
        console.print(f"supervisor: {sup.get('first_name', '')} {sup.get('last_name', '')} <{sup.get('email', '')}> {sup.get('phone', '')}")
        console.print(f"instruction: {d['instruction']}")

    emit(data, as_json, render)


def _call_row(c: Any) -> dict[str, Any]:
    return {"app": c.app, "api": c.api, "arguments": c.arguments, "ok": c.ok, "error": c.error}


def solve_task(world: Any, task_id: str, policy: str = "expert") -> dict[str, Any]:
    """Run `policy`'s code for `task_id` in the sandbox and grade the result."""
    if policy not in SOLVE_POLICIES:
        raise ValidationError(f"unknown policy {policy!r} for `world solve`; policies: {', '.join(SOLVE_POLICIES)}")
    from skillbank.sandbox import SandboxConfig, SandboxPool

    solution = world.expert_solution(task_id)
    skills = "\n\n".join(s.strip() for s in solution.skill_sources)
    blocks = []
    if solution.explore_block:
        blocks.append(("explore", solution.explore_block.strip()))
    blocks.append(("solve", f"{skills}\n\n{solution.call_block.strip()}" if skills else solution.call_block.strip()))
    env = world.start(task_id)
    ran = []
    with SandboxPool(SandboxConfig(workers=1)) as pool, pool.session(env, task_id=task_id) as session:
        for name, code in blocks:
            r = session.run(code)
            ran.append({
                "name": name, "code": code, "ok": r.ok, "stdout": r.stdout,
                "error_type": r.error_type, "error_message": r.error_message,
                "api_calls": [_call_row(c) for c in r.api_calls],
            })
    grade = env.evaluate()
    return {
        "task_id": task_id,
        "policy": policy,
        "skill_names": list(solution.skill_names),
        "blocks": ran,
        "api_call_count": sum(len(b["api_calls"]) for b in ran),
        "grade": {
            "success": grade.success,
            "fraction": grade.fraction,
            "tests": [{"name": t.name, "passed": t.passed, "message": t.message, "kind": t.kind} for t in grade.tests],
        },
    }


@app.command("solve")
def solve(
    task_id: Annotated[str, typer.Argument(metavar="TASK_ID")],
    policy: Annotated[str, typer.Option("--policy", help="Who writes the code: expert (the world's reference solution).")] = "expert",
    seed: SeedOpt = "0",
    world_name: WorldOpt = "apps",
    as_json: JsonOpt = False,
) -> None:
    """Run a policy's code for one task in the sandbox; show the calls it made and the grade."""
    world = _world(seed, world_name)
    data = solve_task(world, task_id, policy) | {"seed": getattr(world, "seed", seed)}

    def render(d: dict[str, Any]) -> None:
        for b in d["blocks"]:
            console.rule(f"{b['name']} ({len(b['api_calls'])} API calls)")
            print_code(b["code"])
            for c in b["api_calls"]:
                if c["ok"]:
                    console.print(markup("  apis.{}.{}  [green]ok[/green]", c["app"], c["api"]))
                else:
                    console.print(markup("  apis.{}.{}  [red]error[/red] {}", c["app"], c["api"], c["error"]))
            out = b["stdout"].strip()
            if out:
                console.print("stdout:", out if len(out) <= 600 else out[:600] + " …")
            if not b["ok"]:
                console.print(markup("[red]{}: {}[/red]", b["error_type"], b["error_message"]))
        g = d["grade"]
        console.rule(f"grade: {'success' if g['success'] else 'failed'} (task credit {100 * g['fraction']:.0f}%)")
        for t in g["tests"]:
            mark = "[green]pass[/green]" if t["passed"] else "[red]FAIL[/red]"
            kind = " [dim](guard)[/dim]" if t.get("kind") == "guard" else ""
            console.print(markup(f"  {mark}  {{}}{kind}: {{}}", t["name"], t["message"]))

    emit(data, as_json, render)


@app.command("check")
def check(
    split: Annotated[str | None, typer.Option("--split", help="Check one split; default all.")] = None,
    seed: SeedOpt = "0",
    world_name: WorldOpt = "apps",
    as_json: JsonOpt = False,
) -> None:
    """Check a world's tasks in the sandbox: the expert passes, doing nothing fails, giving up fails."""
    import dataclasses

    from skillbank.toolkit.check import check_world

    result = check_world(_world(seed, world_name), split=split)
    data = {**dataclasses.asdict(result), "ok": result.ok, "problems": result.problems}

    def render(d: dict[str, Any]) -> None:
        n = len(d["tasks"])
        console.print(markup("[bold]{}[/bold]: {} tasks checked, {} problem(s), {} doc warning(s)",
                             d["world"], n, len(d["problems"]), len(d["doc_warnings"])))
        for p in d["problems"]:
            console.print(markup("  [red]problem[/red] {}", p))
        for w in d["doc_warnings"]:
            console.print(markup("  [yellow]docs[/yellow] {}", w))

    emit(data, as_json, render)
    if not result.ok:
        raise typer.Exit(1)
