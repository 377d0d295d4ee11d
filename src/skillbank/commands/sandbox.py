"""`skillbank sandbox …` and `skillbank doctor`: run code in the sandbox, show its layers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from skillbank.commands._output import console, emit, to_jsonable
from skillbank.errors import ValidationError

app = typer.Typer(no_args_is_help=True)


def _render_result(data: dict[str, Any]) -> None:
    if data["stdout"]:
        console.print(data["stdout"], end="" if data["stdout"].endswith("\n") else "\n", markup=False, highlight=False)
    if data["result_repr"] is not None:
        console.print(data["result_repr"], markup=False, highlight=False)
    for call in data["api_calls"]:
        status = "ok" if call["ok"] else f"error: {call['error']}"
        console.print(f"[dim]api {call['app']}.{call['api']}({call['arguments']}) -> {status}[/dim]", highlight=False)
    if not data["ok"]:
        if data["traceback"]:
            console.print(data["traceback"].rstrip(), markup=False, highlight=False)
        label = f" (killed: {data['killed']})" if data["killed"] else ""
        if data["static_errors"]:
            console.print(f"[red]{data['error_type']}: the code was refused before running[/red]", highlight=False)
            for problem in data["static_errors"]:
                console.print(f"  - {problem}", markup=False, highlight=False)
        else:
            console.print(f"[red]{data['error_type']}{label}: {data['error_message']}[/red]", highlight=False)
    console.print(f"[dim]{'ok' if data['ok'] else 'failed'} in {data['duration_s'] * 1000:.1f} ms[/dim]")


@app.command("exec")
def exec_file(
    file: Path = typer.Argument(..., help="Python file to run in a fresh sandbox session."),
    as_json: bool = typer.Option(False, "--json", help="Print the ExecutionResult as JSON."),
    no_static_check: bool = typer.Option(False, "--no-static-check", help="Skip the AST check (the kernel boundary still holds)."),
    timeout: float = typer.Option(30.0, "--timeout", help="Wall-clock limit in seconds."),
) -> None:
    """Run FILE in a fresh session whose `apis` has the built-in `echo` app.

    Exits 0 whenever the run completed, even if the code raised or was killed.
    """
    from skillbank.sandbox import EchoHost, SandboxConfig, SandboxPool

    if not file.is_file():
        raise ValidationError(f"no such file: {file}")
    try:
        code = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {file}: {exc}") from exc
    config = SandboxConfig(workers=1, static_check=not no_static_check, timeout_s=timeout)
    with SandboxPool(config) as pool, pool.session(EchoHost(), task_id=f"exec:{file.name}") as session:
        result = session.run(code)
    emit(to_jsonable(result), as_json, _render_result)


def doctor(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Start one worker and report each isolation layer it set up, and what this kernel lacks."""
    from skillbank.sandbox.doctor import sandbox_report

    report = sandbox_report().to_dict()

    def render(data: dict[str, Any]) -> None:
        console.print(f"kernel: {data['kernel']['platform']}", highlight=False)
        for layer in data["layers"]:
            colour = "green" if layer["status"] == "active" else "red"
            console.print(f"  {layer['name']:<13} [{colour}]{escape(layer['status'])}[/{colour}]  {escape(layer['detail'])}", highlight=False)
        sec = data["seccomp"]
        counts = ", ".join(f"{n} {v}" for v, n in sorted(sec["counts"].items()))
        console.print(f"  seccomp list  {counts}; anything else EPERM ({sec['instructions']} BPF instructions)", highlight=False)
        ll = data["landlock"]
        console.print(f"  read roots    standard library {', '.join(ll['stdlib'])} (site-packages left out)", highlight=False)
        console.print(f"                packages: {', '.join(ll['packages']) or 'none'}", highlight=False)
        for text in ll["refused_imports"]:
            console.print(f"                [yellow]not granted: {escape(text)}[/yellow]", highlight=False)
        for text in data["lacks"]:
            console.print(f"  [yellow]kernel lacks: {escape(text)}[/yellow]", highlight=False)
        for text in data["warnings"]:
            console.print(f"[yellow]warning: {escape(text)}[/yellow]", highlight=False)

    emit(report, as_json, render)
