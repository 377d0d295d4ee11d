"""`skillbank skills …` (being built; see its issue)."""

import typer

app = typer.Typer(no_args_is_help=True)
