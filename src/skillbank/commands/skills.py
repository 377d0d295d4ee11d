"""`skillbank skills …`: the library's functions, one command each.

Every command opens the library named by ``--library`` (or ``SKILLBANK_LIBRARY``; a
SQLite path or URL, default ``./.skillbank/library.db``) and closes it before returning.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from skillbank.commands._options import DEFAULT_LIBRARY, JsonOpt, LibraryOpt, NamespaceOpt
from skillbank.console import console, emit, markup, table, write_plain
from skillbank.errors import NotFoundError, ValidationError
from skillbank.refs import check_version, parse_ref
from skillbank.skill import parse_skill
from skillbank.store import DEFAULT_NAMESPACE, LibraryStore, Provenance, VersionStatus, open_store
from skillbank.store.base import Alias, Event, EventType, StoredVersion

app = typer.Typer(no_args_is_help=True)
alias_app = typer.Typer(no_args_is_help=True)
app.add_typer(alias_app, name="alias", help="Show and move aliases (compare-and-set).")



def sqlite_file(location: str) -> Path | None:
    """The file a SQLite library location names (None: not a SQLite file, e.g. a
    PostgreSQL URL or an in-memory database)."""
    loc = str(location)
    if loc.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return None
    if loc.startswith("sqlite:///"):
        loc = loc[len("sqlite:///"):]
        if not loc or loc == ":memory:":
            return None
    elif "://" in loc:
        return None  # open_store names the problem
    return Path(loc).expanduser()


@contextmanager
def _library(location: str, *, create: bool = False, skill: str | None = None,
             namespace: str = DEFAULT_NAMESPACE) -> Iterator[LibraryStore]:
    """Open the library. Only commands that write (`create=True`) may create it: a
    read-only command on a path where no library exists fails and leaves no trace.

    `skill`: the skill name the command was given; when it is not in `namespace`, a
    not-found error names the closest skills there (a typo's fix).
    """
    path = sqlite_file(location)
    if not create and path is not None and not path.exists():
        raise NotFoundError(
            f"no library at {str(path)!r}: `skillbank skills add` creates one "
            "(choose another with --library or SKILLBANK_LIBRARY)"
        )
    store = open_store(location)
    try:
        yield store
    except NotFoundError as exc:
        hint = "" if skill is None else _did_you_mean(store, skill, namespace)
        if hint:
            raise NotFoundError(f"{exc}{hint}") from None
        raise
    finally:
        store.close()


def _did_you_mean(store: LibraryStore, name: str, namespace: str) -> str:
    """"; did you mean 'a' or 'b'?" naming the skills of `namespace` closest to `name`;
    "" when `name` exists there (the error is about a version or alias) or none is close."""
    names = {sv.name for sv in store.list_versions(namespace=namespace, latest_only=True)}
    close = [repr(c) for c in difflib.get_close_matches(name, sorted(names), n=3)]
    if name in names or not close:
        return ""
    return "; did you mean " + (", ".join(close[:-1]) + " or " if len(close) > 1 else "") + close[-1] + "?"


def _parse_time(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{option}: {text!r} is not an ISO 8601 time (e.g. 2025-01-31T12:00:00)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _short_time(when: dt.datetime | None, *, minutes: bool = False) -> str:
    return "" if when is None else when.strftime("%Y-%m-%d %H:%M" if minutes else "%Y-%m-%d %H:%M:%S")


# -- add / ls / show / rm --------------------------------------------------------------


@app.command("add")
def add(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A .py file holding one public function (plus imports and _helpers).")],
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    actor: Annotated[str, typer.Option("--actor", help="Who adds it (recorded in provenance and events).")] = "user",
    task_id: Annotated[str | None, typer.Option("--task-id")] = None,
    scenario_id: Annotated[str | None, typer.Option("--scenario-id")] = None,
    query: Annotated[str | None, typer.Option("--query", help="The task instruction that produced the skill.")] = None,
    failure_log: Annotated[
        Path | None, typer.Option("--failure-log", help="File with the failure this version answers.")
    ] = None,
    status: Annotated[
        VersionStatus | None,
        typer.Option("--status", help="Status of the new version (default candidate). On a source already "
                                      "stored, changes that version's status (logged as status_changed)."),
    ] = None,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Add FILE as a new version (or report the identical version already stored).

    The source must pass the sandbox's static check (allowed imports, no dunder access,
    no exec/eval/open ...): a skill the sandbox refuses could never be loaded.
    """
    from skillbank.sandbox.static import StaticCheckError, check_source

    data = _read_file(file)
    # Check before the library is even opened: bad input must leave it untouched.
    try:
        parse_skill(data)  # names bad encoding, syntax errors, no or several public functions
    except ValidationError as exc:
        raise ValidationError(f"{file.name}: {exc}") from None
    text = data.decode("utf-8")
    try:
        check_source(text, filename=str(file))
    except StaticCheckError as exc:
        raise ValidationError(f"{file.name}: the sandbox refuses this skill: {exc}") from None
    log = None if failure_log is None else _read_file(failure_log).decode("utf-8", "replace")
    prov = Provenance(created_by=actor, task_id=task_id, scenario_id=scenario_id, query=query, failure_log=log)
    status_changed = None
    with _library(library, create=True) as store:
        version, created = store.put_version(
            text, namespace=namespace, provenance=prov, status=status or VersionStatus.CANDIDATE, actor=actor
        )
        if not created and status is not None and version.status != status:
            status_changed = {"from": version.status.value, "to": status.value}
            version = store.set_status(version.id, status, actor=actor, reason="skills add --status")

    def render(_: Any) -> None:
        verb = "added" if created else "already stored as"
        console.print(markup("[green]{}[/] [bold]{}[/] ({}) {}", verb, version.ref, version.namespace, version.signature))
        if status_changed:
            console.print(markup("status {} → [bold]{}[/]", status_changed["from"], status_changed["to"]))

    emit({"created": created, "version": version, "status_changed": status_changed}, json_, render)


def _read_file(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"file {str(file)!r} does not exist") from None
    except IsADirectoryError:
        raise ValidationError(f"{str(file)!r} is a directory, not a file") from None
    except OSError as exc:
        raise ValidationError(f"cannot read {str(file)!r}: {exc.strerror}") from None


def _check_namespace(namespace: str | None) -> None:
    from skillbank.store.sql import check_namespace

    if namespace is not None:
        check_namespace(namespace)


@app.command("ls")
def ls(
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A")] = False,
    status: Annotated[list[VersionStatus] | None, typer.Option("--status", help="Repeatable.")] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="Only versions this alias points at.")] = None,
    text: Annotated[str | None, typer.Option("--text", "-q", help="Substring of name, docstring, source or query.")] = None,
    all_versions: Annotated[bool, typer.Option("--all-versions", help="Every version, not only the latest per name.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1)] = None,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """List skills (latest version per name unless --all-versions)."""
    _check_namespace(None if all_namespaces else namespace)
    with _library(library) as store:
        found = store.list_versions(
            namespace=None if all_namespaces else namespace, status=status or None, alias=alias, text=text,
            latest_only=not all_versions, limit=limit,
        )
    emit(found, json_, _render_versions)


def _render_versions(found: list[StoredVersion]) -> None:
    if not found:
        console.print(markup("[dim]no skills[/]"))
        return
    several = len({sv.namespace for sv in found}) > 1
    cols = ("namespace",) * several + ("skill", "status", "signature", "created", "by")
    # The signature is code: whole on one line, or the rows become blocks.
    t = table(*cols, keep=("skill", "signature"))
    for sv in found:
        # The name is in the first column: the signature column shows what follows it.
        params = sv.signature.removeprefix(f"def {sv.name}")
        row = (sv.ref, sv.status.value, params, _short_time(sv.created_at, minutes=True), sv.provenance.created_by)
        t.add_row(*((sv.namespace,) * several + row))
    console.print(t)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(metavar="REF", help="NAME, NAME@VERSION or NAME@ALIAS.")],
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    source_only: Annotated[
        bool, typer.Option("--source", help="Print only the stored source, byte for byte (e.g. `> skill.py`).")
    ] = False,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Show one version: source, signature, provenance, aliases and call stats."""
    name, version = parse_ref(ref)
    with _library(library, skill=name, namespace=namespace) as store:
        sv = store.get_version(name, version, namespace=namespace)
        aliases = [a for a in store.list_aliases(name, namespace=namespace) if a.version_id == sv.id]
        stats = store.call_stats(sv.id)
    if source_only and not json_:
        write_plain(sv.source)
        return
    data = {"version": sv, "aliases": [a.alias for a in aliases], "stats": stats}

    def render(_: Any) -> None:
        meta = Table.grid(padding=(0, 2))
        meta.add_column(overflow="fold")
        meta.add_column(overflow="fold")
        meta.add_row("id", sv.id)
        meta.add_row("status", sv.status.value)
        meta.add_row("aliases", ", ".join(a.alias for a in aliases) or "-")
        meta.add_row("signature", sv.signature)
        meta.add_row("hash", sv.content_hash)
        meta.add_row("created", f"{_short_time(sv.created_at)} by {sv.provenance.created_by}")
        for key in ("task_id", "scenario_id", "run_id", "episode_id", "query", "parent_version_id"):
            value = getattr(sv.provenance, key)
            if value:
                meta.add_row(key, str(value))
        meta.add_row("calls", f"{stats.calls} ({stats.successes} ok, {stats.failures} failed)")
        console.print(Panel(meta, title=Text(f"{sv.ref} [{sv.namespace}]"), expand=False))
        _print_code(sv.source, "python", line_numbers=True)
        if sv.provenance.failure_log:
            console.print(Panel(sv.provenance.failure_log, title="failure log", style="red", expand=False))

    emit(data, json_, render)


def _print_code(text: str, lexer: str, *, line_numbers: bool = False) -> None:
    """Highlighted on a terminal, wrapped (never cropped); exact text when piped."""
    if not sys.stdout.isatty():
        write_plain(text if text.endswith("\n") or not text else text + "\n")
        return
    console.print(Syntax(text, lexer, line_numbers=line_numbers, word_wrap=True))


@app.command("rm")
def rm(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The skill to delete, with all its versions.")],
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    actor: Annotated[str, typer.Option("--actor")] = "user",
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Delete a skill: every version, its aliases and call stats. The event log keeps its
    history and records a `deleted` event naming what went."""
    if "@" in name:
        raise ValidationError(f"skills rm deletes a whole skill; give its NAME, not {name!r}")
    with _library(library, skill=name, namespace=namespace) as store:
        versions = store.history(name, namespace=namespace)
        if not yes:
            if not sys.stdin.isatty():
                raise ValidationError(f"refusing to delete {name!r} ({len(versions)} versions) without --yes")
            if not typer.confirm(f"Delete {name!r} and its {len(versions)} version(s)?", default=False):
                raise typer.Abort()
        gone = store.delete_skill(name, namespace=namespace, actor=actor, reason=reason)
    data = {"name": name, "namespace": namespace, "deleted": [sv.ref for sv in gone]}
    emit(data, json_, lambda d: console.print(markup("deleted {} ({})", d["name"], ", ".join(d["deleted"]))))


@app.command("history")
def history(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Every version of NAME, oldest first, with the aliases on each."""
    with _library(library, skill=name, namespace=namespace) as store:
        versions = store.history(name, namespace=namespace)
        aliases = store.list_aliases(name, namespace=namespace)
    by_id: dict[str, list[str]] = {}
    for a in aliases:
        by_id.setdefault(a.version_id, []).append(a.alias)
    rows = [{"version": sv, "aliases": by_id.get(sv.id, [])} for sv in versions]

    def render(_: Any) -> None:
        t = table("version", "status", "aliases", "created", "by", "failure log", keep=("version",),
                  flex=("failure log",))
        for sv in versions:
            log = (sv.provenance.failure_log or "").strip().splitlines()
            t.add_row(sv.ref, sv.status.value, ", ".join(by_id.get(sv.id, [])), _short_time(sv.created_at),
                      sv.provenance.created_by, log[-1] if log else "")
        console.print(t)

    emit(rows, json_, render)


@app.command("diff")
def diff(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    v1: Annotated[str, typer.Argument(metavar="V1", help="Version number or alias.")],
    v2: Annotated[str, typer.Argument(metavar="V2", help="Version number or alias.")],
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Unified diff between two versions of NAME (plain text when piped: a patch)."""
    check_version(v1)
    check_version(v2)
    with _library(library, skill=name, namespace=namespace) as store:
        text = store.diff(name, v1, v2, namespace=namespace)

    def render(_: Any) -> None:
        if text:
            _print_code(text, "diff")
        else:
            console.print(markup("[dim]no differences[/]"))

    emit({"name": name, "from": v1, "to": v2, "diff": text}, json_, render)


@app.command("events")
def events(
    name: Annotated[str | None, typer.Argument(metavar="[NAME]", help="Only this skill's events.")] = None,
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    type_: Annotated[list[str] | None, typer.Option("--type", "-t", help="Event type; repeatable.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO 8601 time, inclusive.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO 8601 time, exclusive.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the most recent N.")] = None,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """The append-only event log, oldest first."""
    _check_namespace(namespace)
    when_from, when_to = _parse_time(since, "--since"), _parse_time(until, "--until")
    with _library(library, skill=name, namespace=namespace) as store:
        if type_:
            known = {e.value for e in EventType} | set(store.event_types(namespace=None))
            unknown = [k for k in type_ if k not in known]
            if unknown:
                raise ValidationError(f"--type: unknown event type {unknown[0]!r}; types: {', '.join(sorted(known))}")
        found = store.events(namespace=namespace, name=name, type=type_ or None, since=when_from,
                             until=when_to, limit=limit)
        if name is not None and not found and not store.events(namespace=namespace, name=name, limit=1):
            raise NotFoundError(f"no skill {name!r} in namespace {namespace!r} (and no event names it)")
    emit(found, json_, render_events)


def render_events(found: list[Event]) -> None:
    if not found:
        console.print(markup("[dim]no events[/]"))
        return
    t = table("#", "at", "type", "skill", "actor", "reason / details", keep=("skill",), flex=("reason / details",))
    for ev in found:
        detail = ev.reason or ", ".join(
            f"{k}={v}" for k, v in ev.payload.items() if k in ("version", "alias", "from_version", "to_version", "from", "to")
        )
        t.add_row(str(ev.id), _short_time(ev.at), ev.type, ev.name or "", ev.actor, detail)
    console.print(t)


# -- aliases ---------------------------------------------------------------------------


@alias_app.command("set")
def alias_set(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    alias: Annotated[str, typer.Argument(metavar="ALIAS")],
    version: Annotated[str, typer.Argument(metavar="VERSION", help="Version number, another alias, or a version id.")],
    expect: Annotated[
        int | None,
        typer.Option("--expect", help="Generation the alias must still have (default: the one read just before)."),
    ] = None,
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    actor: Annotated[str, typer.Option("--actor")] = "user",
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Point ALIAS of NAME at VERSION (compare-and-set on the alias generation).

    An alias is a movable pointer; it does not change the version's status (see
    README: alias versus status). Pointing it where it already points changes nothing.
    """
    if not re.fullmatch(r"[0-9a-f]{32}", version):
        check_version(version)
    with _library(library, skill=name, namespace=namespace) as store:
        if expect is None:
            current = store.get_alias(name, alias, namespace=namespace)
            expected = None if current is None else current.generation
        else:
            expected = expect
        moved = store.set_alias(
            name, alias, version, expected_generation=expected, namespace=namespace, actor=actor, reason=reason
        )

    def render(a: Alias) -> None:
        console.print(markup("[green]{}@{}[/] → version {} (generation {})", a.name, a.alias, a.version, a.generation))

    emit(moved, json_, render)


@alias_app.command("rm")
def alias_rm(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    alias: Annotated[str, typer.Argument(metavar="ALIAS")],
    expect: Annotated[int | None, typer.Option("--expect", help="Generation the alias must still have.")] = None,
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    actor: Annotated[str, typer.Option("--actor")] = "user",
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Remove ALIAS of NAME (logged as an `alias_removed` event); versions stay."""
    with _library(library, skill=name, namespace=namespace) as store:
        gone = store.remove_alias(name, alias, expected_generation=expect, namespace=namespace, actor=actor,
                                  reason=reason)
    emit(gone, json_, lambda a: console.print(markup("removed {}@{} (was version {})", a.name, a.alias, a.version)))


@alias_app.command("ls")
def alias_ls(
    name: Annotated[str | None, typer.Argument(metavar="[NAME]")] = None,
    namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """List aliases (of NAME, or all in the namespace)."""
    with _library(library) as store:
        found = store.list_aliases(name, namespace=namespace)

    def render(items: list[Alias]) -> None:
        if not items:
            console.print(markup("[dim]no aliases[/]"))
            return
        t = table("skill", "alias", "version", "generation", "updated", keep=("skill", "alias"))
        for a in items:
            t.add_row(a.name, a.alias, str(a.version), str(a.generation), _short_time(a.updated_at))
        console.print(t)

    emit(found, json_, render)


# -- export / import ------------------------------------------------------------------


@app.command("export")
def export(
    directory: Annotated[Path, typer.Argument(metavar="DIRECTORY", help="New or empty directory.")],
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Write the library as one .py per version plus skillbank-library.json."""
    from skillbank.store.portable import export_library

    with _library(library) as store:
        try:
            counts = export_library(store, directory)
        except OSError as exc:
            raise ValidationError(f"cannot export to {str(directory)!r}: {exc.strerror or exc}") from None
    emit({"directory": str(directory), **counts}, json_,
         lambda c: console.print(f"exported {c['versions']} versions, {c['aliases']} aliases, {c['events']} events to {directory}"))


def _remove_new_library(path: Path, made_dirs: list[Path]) -> None:
    """Undo the creation of a library file (and the directories made for it)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            Path(str(path) + suffix).unlink()
        except FileNotFoundError:
            pass
    for d in made_dirs:
        try:
            d.rmdir()
        except OSError:
            break


@app.command("import")
def import_(
    directory: Annotated[Path, typer.Argument(metavar="DIRECTORY", help="A directory written by `skills export`.")],
    library: LibraryOpt = DEFAULT_LIBRARY,
    json_: JsonOpt = False,
) -> None:
    """Load an export: exactly into an empty library (ids, versions, aliases, events),
    merged into a non-empty one (same content skipped, alias conflicts reported, never
    overwritten). All or nothing."""
    from skillbank.store.portable import import_into

    if not directory.is_dir():
        raise NotFoundError(f"export directory {str(directory)!r} does not exist")
    counts = import_into(library, directory)

    def render(c: dict[str, Any]) -> None:
        console.print(f"imported {c['versions']} versions ({c['skipped']} already stored), "
                      f"{c['aliases']} aliases, {c['events']} events")
        for line in c["renumbered"]:
            console.print(f"  renumbered: {line}")
        for line in c["conflicts"]:
            console.print(f"  conflict: {line}")

    emit({"directory": str(directory), **counts}, json_, render)

