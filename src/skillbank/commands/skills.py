"""`skillbank skills …`: the library's functions, one command each.

Every command opens the library named by ``--library`` (or ``SKILLBANK_LIBRARY``; a
SQLite path or URL, default ``./.skillbank/library.db``) and closes it before returning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from skillbank.commands._output import console, emit
from skillbank.errors import NotFoundError, ValidationError
from skillbank.skill import parse_skill
from skillbank.store import DEFAULT_LOCATION, DEFAULT_NAMESPACE, LibraryStore, Provenance, VersionStatus, open_store
from skillbank.store.base import Alias, Event, StoredVersion

app = typer.Typer(no_args_is_help=True)
alias_app = typer.Typer(no_args_is_help=True)
app.add_typer(alias_app, name="alias", help="Show and move aliases (compare-and-set).")

LibraryOpt = Annotated[
    str,
    typer.Option("--library", "-L", envvar="SKILLBANK_LIBRARY", help="Library: SQLite path or sqlite:///, postgresql:// URL."),
]
NamespaceOpt = Annotated[str, typer.Option("--namespace", "-n", help="Namespace.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
DEFAULT_LIBRARY = str(DEFAULT_LOCATION)


@contextmanager
def _library(location: str) -> Iterator[LibraryStore]:
    store = open_store(location)
    try:
        yield store
    finally:
        store.close()


def split_ref(ref: str) -> tuple[str, str | None]:
    """``name``, ``name@3`` or ``name@promoted`` → (name, ref or None)."""
    name, _, version = ref.partition("@")
    if not name or (ref.endswith("@")):
        raise ValidationError(f"invalid skill reference {ref!r}: use NAME, NAME@VERSION or NAME@ALIAS")
    return name, version or None


def _parse_time(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{option}: {text!r} is not an ISO 8601 time (e.g. 2025-01-31T12:00:00)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _short_time(when: dt.datetime | None) -> str:
    return "" if when is None else when.strftime("%Y-%m-%d %H:%M:%S")


# -- add / ls / show -----------------------------------------------------------------


@app.command("add")
def add(
    file: Annotated[Path, typer.Argument(help="A .py file holding one public function (plus imports and _helpers).")],
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    actor: Annotated[str, typer.Option("--actor", help="Who adds it (recorded in provenance and events).")] = "user",
    task_id: Annotated[Optional[str], typer.Option("--task-id")] = None,
    scenario_id: Annotated[Optional[str], typer.Option("--scenario-id")] = None,
    query: Annotated[Optional[str], typer.Option("--query", help="The task instruction that produced the skill.")] = None,
    failure_log: Annotated[
        Optional[Path], typer.Option("--failure-log", help="File with the failure this version answers.")
    ] = None,
    status: Annotated[VersionStatus, typer.Option("--status")] = VersionStatus.CANDIDATE,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Add FILE as a new version (or report the identical version already stored)."""
    data = _read_file(file)
    # Parse before the library is even opened: bad input must leave it untouched.
    parse_skill(data)
    log = None if failure_log is None else _read_file(failure_log).decode("utf-8", "replace")
    prov = Provenance(created_by=actor, task_id=task_id, scenario_id=scenario_id, query=query, failure_log=log)
    with _library(library) as store:
        version, created = store.put_version(
            data.decode("utf-8"), namespace=namespace, provenance=prov, status=status, actor=actor
        )

    def render(_: Any) -> None:
        verb = "added" if created else "already stored as"
        console.print(f"[green]{verb}[/] [bold]{version.ref}[/] ({version.namespace}) {escape(version.signature)}")

    emit({"created": created, "version": version}, json_, render)


def _read_file(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"file {str(file)!r} does not exist") from None
    except IsADirectoryError:
        raise ValidationError(f"{str(file)!r} is a directory, not a file") from None
    except OSError as exc:
        raise ValidationError(f"cannot read {str(file)!r}: {exc.strerror}") from None


@app.command("ls")
def ls(
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A")] = False,
    status: Annotated[Optional[list[VersionStatus]], typer.Option("--status", help="Repeatable.")] = None,
    alias: Annotated[Optional[str], typer.Option("--alias", help="Only versions this alias points at.")] = None,
    text: Annotated[Optional[str], typer.Option("--text", "-q", help="Substring of name, docstring, source or query.")] = None,
    all_versions: Annotated[bool, typer.Option("--all-versions", help="Every version, not only the latest per name.")] = False,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1)] = None,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """List skills (latest version per name unless --all-versions)."""
    with _library(library) as store:
        found = store.list_versions(
            namespace=None if all_namespaces else namespace, status=status or None, alias=alias, text=text,
            latest_only=not all_versions, limit=limit,
        )
    emit(found, json_, _render_versions)


def _render_versions(found: list[StoredVersion]) -> None:
    if not found:
        console.print("[dim]no skills[/]")
        return
    table = Table("namespace", "skill", "status", "signature", "created", "by")
    for sv in found:
        table.add_row(sv.namespace, sv.ref, sv.status.value, escape(sv.signature), _short_time(sv.created_at), escape(sv.provenance.created_by))
    console.print(table)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS.")],
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Show one version: source, signature, provenance, aliases and call stats."""
    name, version = split_ref(ref)
    with _library(library) as store:
        sv = store.get_version(name, version, namespace=namespace)
        aliases = [a for a in store.list_aliases(name, namespace=namespace) if a.version_id == sv.id]
        stats = store.call_stats(sv.id)
    data = {"version": sv, "aliases": [a.alias for a in aliases], "stats": stats}

    def render(_: Any) -> None:
        meta = Table.grid(padding=(0, 2))
        meta.add_row("id", sv.id)
        meta.add_row("status", sv.status.value)
        meta.add_row("aliases", ", ".join(a.alias for a in aliases) or "-")
        meta.add_row("signature", escape(sv.signature))
        meta.add_row("hash", sv.content_hash)
        meta.add_row("created", f"{_short_time(sv.created_at)} by {escape(sv.provenance.created_by)}")
        for key in ("task_id", "scenario_id", "run_id", "episode_id", "query", "parent_version_id"):
            value = getattr(sv.provenance, key)
            if value:
                meta.add_row(key, escape(str(value)))
        meta.add_row("calls", f"{stats.calls} ({stats.successes} ok, {stats.failures} failed)")
        console.print(Panel(meta, title=escape(f"{sv.ref} [{sv.namespace}]"), expand=False))
        console.print(Syntax(sv.source, "python", line_numbers=True))
        if sv.provenance.failure_log:
            console.print(Panel(escape(sv.provenance.failure_log), title="failure log", style="red", expand=False))

    emit(data, json_, render)


@app.command("history")
def history(
    name: str,
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Every version of NAME, oldest first, with the aliases on each."""
    with _library(library) as store:
        versions = store.history(name, namespace=namespace)
        aliases = store.list_aliases(name, namespace=namespace)
    by_id: dict[str, list[str]] = {}
    for a in aliases:
        by_id.setdefault(a.version_id, []).append(a.alias)
    rows = [{"version": sv, "aliases": by_id.get(sv.id, [])} for sv in versions]

    def render(_: Any) -> None:
        table = Table("version", "status", "aliases", "created", "by", "failure log")
        for row in rows:
            sv = row["version"]
            log = (sv.provenance.failure_log or "").strip().splitlines()
            table.add_row(sv.ref, sv.status.value, ", ".join(row["aliases"]), _short_time(sv.created_at),
                          escape(sv.provenance.created_by), escape(log[-1]) if log else "")
        console.print(table)

    emit(rows, json_, render)


@app.command("diff")
def diff(
    name: str,
    v1: Annotated[str, typer.Argument(help="Version number or alias.")],
    v2: Annotated[str, typer.Argument(help="Version number or alias.")],
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Unified diff between two versions of NAME."""
    with _library(library) as store:
        text = store.diff(name, v1, v2, namespace=namespace)

    def render(_: Any) -> None:
        console.print(Syntax(text, "diff") if text else "[dim]no differences[/]")

    emit({"name": name, "from": v1, "to": v2, "diff": text}, json_, render)


@app.command("events")
def events(
    name: Annotated[Optional[str], typer.Argument(help="Only this skill's events.")] = None,
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    type_: Annotated[Optional[list[str]], typer.Option("--type", "-t", help="Event type; repeatable.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="ISO 8601 time, inclusive.")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="ISO 8601 time, exclusive.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the most recent N.")] = None,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """The append-only event log, oldest first."""
    with _library(library) as store:
        found = store.events(
            namespace=namespace, name=name, type=type_ or None, since=_parse_time(since, "--since"),
            until=_parse_time(until, "--until"), limit=limit,
        )
    emit(found, json_, render_events)


def render_events(found: list[Event]) -> None:
    if not found:
        console.print("[dim]no events[/]")
        return
    table = Table("#", "at", "type", "skill", "actor", "reason / details")
    for ev in found:
        detail = ev.reason or ", ".join(
            f"{k}={v}" for k, v in ev.payload.items() if k in ("version", "alias", "from_version", "to_version", "from", "to")
        )
        table.add_row(str(ev.id), _short_time(ev.at), ev.type, ev.name or "", escape(ev.actor), escape(detail))
    console.print(table)


# -- aliases ---------------------------------------------------------------------------


@alias_app.command("set")
def alias_set(
    name: str,
    alias: str,
    version: Annotated[str, typer.Argument(help="Version number, another alias, or a version id.")],
    expect: Annotated[
        Optional[int],
        typer.Option("--expect", help="Generation the alias must still have (default: the one read just before)."),
    ] = None,
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    actor: Annotated[str, typer.Option("--actor")] = "user",
    reason: Annotated[Optional[str], typer.Option("--reason")] = None,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Point ALIAS of NAME at VERSION (compare-and-set on the alias generation)."""
    with _library(library) as store:
        if expect is None:
            current = store.get_alias(name, alias, namespace=namespace)
            expected = None if current is None else current.generation
        else:
            expected = expect
        moved = store.set_alias(
            name, alias, version, expected_generation=expected, namespace=namespace, actor=actor, reason=reason
        )

    def render(a: Alias) -> None:
        console.print(f"[green]{a.name}@{a.alias}[/] → version {a.version} (generation {a.generation})")

    emit(moved, json_, render)


@alias_app.command("ls")
def alias_ls(
    name: Annotated[Optional[str], typer.Argument()] = None,
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """List aliases (of NAME, or all in the namespace)."""
    with _library(library) as store:
        found = store.list_aliases(name, namespace=namespace)

    def render(items: list[Alias]) -> None:
        table = Table("skill", "alias", "version", "generation", "updated")
        for a in items:
            table.add_row(a.name, a.alias, str(a.version), str(a.generation), _short_time(a.updated_at))
        console.print(table)

    emit(found, json_, render)


# -- export / import ------------------------------------------------------------------


@app.command("export")
def export(
    directory: Annotated[Path, typer.Argument(help="New or empty directory.")],
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Write the library as one .py per version plus skillbank-library.json."""
    from skillbank.store.portable import export_library

    with _library(library) as store:
        counts = export_library(store, directory)
    emit({"directory": str(directory), **counts}, json_,
         lambda c: console.print(f"exported {c['versions']} versions, {c['aliases']} aliases, {c['events']} events to {escape(str(directory))}"))


@app.command("import")
def import_(
    directory: Annotated[Path, typer.Argument(help="A directory written by `skills export`.")],
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Load an export into an empty library, keeping ids, versions, aliases and events."""
    from skillbank.store.portable import import_library

    with _library(library) as store:
        counts = import_library(store, directory)
    emit({"directory": str(directory), **counts}, json_,
         lambda c: console.print(f"imported {c['versions']} versions, {c['aliases']} aliases, {c['events']} events"))


# Governance's commands (eval, redteam, promote, rollback, approve, quarantine, release, cases).
from skillbank.commands import governance as _governance  # noqa: E402

_governance.register(app)
