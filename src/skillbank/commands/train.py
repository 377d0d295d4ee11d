"""`skillbank train …`: fine-tune the local policy."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from skillbank.commands._output import console, emit, err_console

app = typer.Typer(no_args_is_help=True)


def _render(data: dict[str, Any]) -> None:
    table = Table(title=f"SFT run → {data['out_dir']}", show_header=False)
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    loss = lambda x: "-" if x is None else f"{x:.4f}"  # noqa: E731
    rows = [
        ("records kept / dropped (too long)", f"{data['examples']} / {data['dropped_too_long']}"),
        ("records trained / optimizer steps", f"{data['records_seen']} / {data['optimizer_steps']}"),
        ("loss first → last step", f"{loss(data['first_loss'])} → {loss(data['last_loss'])}"),
        ("time", f"{data['duration_s'] / 60:.1f} min ({data['stopped']})"),
        ("adapter", data["adapter_dir"]),
        ("loss curve", data["loss_png"] or "(matplotlib not installed)"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command("sft", help="LoRA SFT of the local model (Gemma 3 270M) on records from `skillbank data sft`, on CPU.")
def sft(
    config_path: Annotated[str, typer.Option("--config", help="The run's TOML config (fields of SftConfig).")],
    fresh: Annotated[bool, typer.Option("--fresh", help="Ignore an existing checkpoint in out_dir and start over.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    from skillbank.train.sft_config import load_config
    from skillbank.train.sft_trainer import train_sft

    config = load_config(config_path)
    with Progress(
        TextColumn("[bold]SFT"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, disable=as_json,
    ) as progress:
        bar = progress.add_task("sft", total=None, loss="-")

        def on_progress(done: int, planned: int, loss: float | None) -> None:
            progress.update(bar, completed=done, total=planned, loss="-" if loss is None else f"{loss:.3f}")

        result = train_sft(config, resume=not fresh, on_progress=on_progress)
    emit(dataclasses.asdict(result), as_json, _render)
