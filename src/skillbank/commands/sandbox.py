"""`skillbank sandbox …` and `skillbank doctor`: run code in the sandbox, show its layers."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import typer

from rich.text import Text

from skillbank.bounded import bounded_jsonable, bounded_repr, terminal_text
from skillbank.commands._output import console, emit
from skillbank.errors import ValidationError

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
    emit(bounded_jsonable(result), as_json, _render_result)


def doctor(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Start one worker and report which isolation layers it actually locked down."""
    from skillbank.sandbox import LAYERS, SandboxConfig, SandboxDegradedWarning, SandboxPool, probe

    kernel = probe()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SandboxDegradedWarning)
        with SandboxPool(SandboxConfig(workers=1)) as pool:
            layers = pool.layers
    report = {
        "kernel": kernel,
        "layers": layers,
        "active": [name for name in LAYERS if layers.get(name) == "active"],
        "missing": [name for name in LAYERS if layers.get(name) != "active"],
        "warnings": [str(w.message) for w in caught],
    }

    def render(data: dict[str, Any]) -> None:
        console.print(f"kernel: {data['kernel']['platform']}", highlight=False)
        for name in LAYERS:
            status = data["layers"].get(name, "missing: not reported")
            colour = "green" if status == "active" else "red"
            console.print(f"  {name:<13} [{colour}]{status}[/{colour}]", highlight=False)
        if "capabilities" in data["layers"]:
            console.print(f"  {'capabilities':<13} {data['layers']['capabilities']}", highlight=False)
        if "landlock_abi" in data["layers"]:
            console.print(f"  landlock ABI  {data['layers']['landlock_abi']}", highlight=False)
        for text in data["warnings"]:
            console.print(f"[yellow]warning: {text}[/yellow]", highlight=False)

    emit(report, as_json, render)
