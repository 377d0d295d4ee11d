"""The options that several command groups share, spelt once so `--library`, `--namespace`
and `--json` mean the same in each."""

from __future__ import annotations

from typing import Annotated

import typer

from skillbank.store import DEFAULT_LOCATION

LibraryOpt = Annotated[
    str,
    typer.Option("--library", "-L", envvar="SKILLBANK_LIBRARY", help="Library: SQLite path or sqlite:///, postgresql:// URL."),
]
NamespaceOpt = Annotated[str, typer.Option("--namespace", "-n", help="Namespace.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
DEFAULT_LIBRARY = str(DEFAULT_LOCATION)
