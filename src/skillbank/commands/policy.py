"""`skillbank policy show`: the governance policy in force."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from skillbank.console import console, emit
from skillbank.console import table as new_table

app = typer.Typer(no_args_is_help=True)


@app.command("show")
def show(
    policy_file: Annotated[str | None, typer.Option("--policy-file", envvar="SKILLBANK_POLICY",
                                                       help="A policy TOML file (default: the shipped one).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the policy in force: gate, canary rule (with its false-alarm bound) and red-team thresholds."""
    from skillbank.governance import load_policy

    policy = load_policy(policy_file)

    def render(d: dict[str, Any]) -> None:
        table = new_table(title=f"governance policy ({d['source']})")
        table.add_column("setting")
        table.add_column("value", justify="right")
        for section in ("gate", "canary", "redteam"):
            for key, value in d[section].items():
                table.add_row(f"{section}.{key}", str(value))
        table.add_row("canary false-rollback bound (alpha / (1 - beta))", f"{100 * d['false_alarm_bound']:.2f}%")
        console.print(table)

    emit(policy.to_dict(), as_json, render)
