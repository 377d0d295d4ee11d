"""`skillbank skills eval|redteam|promote|rollback|approve|quarantine|release|cases`:
governance's functions, one command each (`skillbank.governance.Governance`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from skillbank.commands._options import DEFAULT_LIBRARY, JsonOpt, LibraryOpt, NamespaceOpt
from skillbank.console import console, emit, markup, table
from skillbank.refs import parse_ref, parse_version_ref
from skillbank.store import DEFAULT_NAMESPACE, open_store

PolicyOpt = Annotated[str | None, typer.Option("--policy-file", envvar="SKILLBANK_POLICY", help="Governance policy TOML (default: the shipped one).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="World seed for cases that record none.")]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who does this (recorded in the events).")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (recorded in the events).")]

cases_app = typer.Typer(no_args_is_help=True)


@contextmanager
def _governance(library: str, namespace: str, policy_file: str | None, *, sandbox: bool = False,
                seed: int = 0) -> Iterator[Any]:
    from skillbank.governance import Governance, load_policy, open_harness

    policy = load_policy(policy_file)
    store = open_store(library)
    close = None
    try:
        harness = None
        if sandbox:
            harness, close = open_harness(timeout_s=policy.redteam.timeout_s, seed=seed)
        yield Governance(store, policy=policy, namespace=namespace, harness=harness)
    finally:
        if close is not None:
            close()
        store.close()


def _served(gov: Any) -> Any:
    """The served library (an `HttpLibraryStore`) behind `gov`, or None for a local one: a
    served library's transitions are its server's, asked for through its admin endpoints."""
    return gov.store if hasattr(gov.store, "govern") else None


def _move_render(data: dict[str, Any]) -> None:
    frm = "none" if data["from_version"] is None else f"@{data['from_version']}"
    console.print(f"{data['action']}: {data['name']} {frm} -> @{data['version']} (generation {data['generation']}): "
                  f"{data['reason']}")


def eval_command(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS (default: latest).")],
    library: LibraryOpt = DEFAULT_LIBRARY, namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    policy_file: PolicyOpt = None, seed: SeedOpt = 0, as_json: JsonOpt = False,
) -> None:
    """Run the version's suite (its evidence, its predecessor's, user cases) in the sandbox and check the gate."""
    name, version = parse_ref(ref)
    with _governance(library, namespace, policy_file, sandbox=True, seed=seed) as gov:
        report = gov.evaluate(name, version)
        gate = gov.check(name, parse_version_ref(report.ref)[1])
    data = {**report.to_dict(), "gate": gate.to_dict()}

    def render(d: dict[str, Any]) -> None:
        t = table("case", "kind", "origin", "passed", "detail", keep=("case",), flex=("detail",),
                  title=f"{d['ref']}: {d['passed']}/{d['cases']} cases passed"
                  + (f", {len(d['regressions'])} regression(s)" if d["regressions"] else ""))
        for o in d["outcomes"]:
            t.add_row(o["case_id"], o["kind"], o["origin"], "yes" if o["passed"] else Text("no", style="red"), o["detail"])
        console.print(t)
        g = d["gate"]
        console.print(f"gate: {'passes -> ' + g['target'] if g['passed'] else 'blocked: ' + '; '.join(g['reasons'])}")

    emit(data, as_json, render)


def redteam_command(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS (default: latest).")],
    library: LibraryOpt = DEFAULT_LIBRARY, namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    policy_file: PolicyOpt = None, seed: SeedOpt = 0,
    static_only: Annotated[bool, typer.Option("--static-only", help="Only the static scan (runs nothing).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Static scan, fuzzing and side-effect audit; a high finding quarantines the version."""
    name, version = parse_ref(ref)
    with _governance(library, namespace, policy_file, sandbox=not static_only, seed=seed) as gov:
        report, quarantined = gov.redteam(name, version, run=not static_only)
    data = {**report.to_dict(), "quarantined": quarantined}

    def render(d: dict[str, Any]) -> None:
        quarantined = markup(" — [red]quarantined[/red]") if d["quarantined"] else ""
        if not d["findings"]:
            console.print(Text.assemble(f"red-team {d['ref']}: no findings", quarantined))
            return
        t = table("kind", "severity", "line", "message", keep=("kind",), flex=("message",),
                  title=Text.assemble(f"red-team {d['ref']}: {len(d['findings'])} finding(s)", quarantined))
        for f in d["findings"]:
            t.add_row(f["kind"], f["severity"], "" if f["line"] is None else str(f["line"]), f["message"])
        console.print(t)

    emit(data, as_json, render)


def promote_command(
    ref: Annotated[str, typer.Argument(help="NAME (its active canary, else its latest) or NAME@VERSION.")],
    library: LibraryOpt = DEFAULT_LIBRARY, namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    actor: ActorOpt = "user", reason: ReasonOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Promote a version that has not passed its gate (needs --reason; both recorded).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Point the `promoted` alias at a version that passed its gate (compare-and-set) and record who and why; past the gate only with --force --reason."""
    name, version = parse_ref(ref)
    # A forced promotion carries the person's own reason; no default stands in for it.
    why = reason if force else (reason or f"promoted by {actor}")
    with _governance(library, namespace, None) as gov:
        served = _served(gov)
        if served is not None:
            data = served.govern("promote", name, namespace=namespace, version=_number(gov, name, version), reason=why, force=force)
        else:
            data = gov.promote(name, version, actor=actor, reason=why, force=force).to_dict()
    emit(data, as_json, _move_render)


def _number(gov: Any, name: str, version: str | None) -> int | None:
    """A served library's endpoints take version numbers (None: their default)."""
    return None if version is None else gov.version(name, version).version


def rollback_command(
    name: Annotated[str, typer.Argument(help="The skill's name.")],
    to: Annotated[str | None, typer.Option("--to", help="The version to go back to (default: the one promoted before).")] = None,
    library: LibraryOpt = DEFAULT_LIBRARY, namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    actor: ActorOpt = "user", reason: ReasonOpt = None, as_json: JsonOpt = False,
) -> None:
    """End the active canary, or move `promoted` back (compare-and-set); records who and why."""
    with _governance(library, namespace, None) as gov:
        served = _served(gov)
        if served is not None:
            data = served.govern("rollback", name, namespace=namespace, version=_number(gov, name, to),
                                 reason=reason or f"rolled back by {actor}")
        else:
            data = gov.rollback(name, to=to, actor=actor, reason=reason or f"rolled back by {actor}").to_dict()
    emit(data, as_json, _move_render)


_VERB = {"approved": "approve", "quarantined": "quarantine", "released": "release"}


def _change_status(ref: str, library: str, namespace: str, actor: str, as_json: bool, action: str,
                   change: Callable[[Any, str, str | None], Any], reason: str | None = None) -> None:
    """Apply one of governance's status changes, `change(gov, name, version)`, to REF and
    print ``REF: action (status)``."""
    name, version = parse_ref(ref)
    with _governance(library, namespace, None) as gov:
        served = _served(gov)
        if served is not None:
            # The server records the token's id as the actor; --actor and a default reason stay here.
            number = gov.version(name, version).version
            reply = served.govern(_VERB[action], name, namespace=namespace, version=number, reason=reason)
            v = gov.store.get_version_by_id(reply["version"]["id"])
            actor = str(reply.get("actor", actor))
        else:
            v = change(gov, name, version)
    data = {"ref": v.ref, "action": action, "status": v.status.value, "actor": actor}
    emit(data, as_json, lambda d: console.print(f"{d['ref']}: {d['action']} ({d['status']})"))


def approve_command(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION.")],
    library: LibraryOpt = DEFAULT_LIBRARY, namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    actor: ActorOpt = "user", reason: ReasonOpt = None, as_json: JsonOpt = False,
) -> None:
    """A person's approval (the gate asks for one when the policy says require_approval)."""
    _change_status(ref, library, namespace, actor, as_json, "approved",
                   lambda gov, name, version: gov.approve(name, version, actor=actor, reason=reason), reason)


def quarantine_command(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION.")],
    library: LibraryOpt = DEFAULT_LIBRARY, namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    actor: ActorOpt = "user", reason: ReasonOpt = None, as_json: JsonOpt = False,
) -> None:
    """Quarantine a version by hand: never retrieved until released."""
    _change_status(ref, library, namespace, actor, as_json, "quarantined",
                   lambda gov, name, version: gov.quarantine(name, version, actor=actor,
                                                             reason=reason or f"quarantined by {actor}"), reason)


def release_command(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION.")],
    library: LibraryOpt = DEFAULT_LIBRARY, namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    actor: ActorOpt = "user", reason: ReasonOpt = None, as_json: JsonOpt = False,
) -> None:
    """A person's release of a quarantined version (back to candidate: it must pass the gate again)."""
    _change_status(ref, library, namespace, actor, as_json, "released",
                   lambda gov, name, version: gov.release(name, version, actor=actor, reason=reason), reason)


@cases_app.command("add")
def cases_add(
    name: Annotated[str, typer.Argument(help="The skill's name (user cases apply to all its versions).")],
    file: Annotated[Path, typer.Argument(help="TOML ([[case]] tables) or JSON (a list) of cases.")],
    library: LibraryOpt = DEFAULT_LIBRARY, namespace: NamespaceOpt = DEFAULT_NAMESPACE,
    actor: ActorOpt = "user", as_json: JsonOpt = False,
) -> None:
    """Attach user cases: args/kwargs with `expect` (the output) or `predicate` (over `result`)."""
    from skillbank.governance import load_user_cases

    cases = load_user_cases(file)
    with _governance(library, namespace, None) as gov:
        ids = gov.add_user_cases(name, cases, actor=actor)
    emit({"name": name, "added": ids}, as_json, lambda d: console.print(f"added {len(d['added'])} case(s) to {d['name']}"))


@cases_app.command("ls")
def cases_ls(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS (default: latest).")],
    library: LibraryOpt = DEFAULT_LIBRARY, namespace: NamespaceOpt = DEFAULT_NAMESPACE, as_json: JsonOpt = False,
) -> None:
    """The version's suite: its own evidence, its predecessor's, the name's user cases."""
    name, version = parse_ref(ref)
    with _governance(library, namespace, None) as gov:
        v = gov.version(name, version)
        known = gov.passed_cases(v)
        rows = [{**case.to_dict(), "suite_origin": origin, "last_outcome": known.get(case.id)}
                for case, origin in gov.suite(v)]
    data = {"ref": v.ref, "cases": rows}

    def render(d: dict[str, Any]) -> None:
        t = table("case", "kind", "origin", "task", "seed", "last outcome", "source", keep=("case", "task"),
                  title=f"suite of {d['ref']}: {len(d['cases'])} case(s)")
        for c in d["cases"]:
            last = {True: Text("passed"), False: Text("failed", style="red"), None: Text("")}[c["last_outcome"]]
            t.add_row(c["id"], c["kind"], c["suite_origin"], c["task_id"] or "", "" if c["seed"] is None else str(c["seed"]), last,
                      c["origin"].get("source", ""))
        console.print(t)

    emit(data, as_json, render)


def register(app: typer.Typer) -> None:
    """Add the governance commands to `skillbank skills` (the CLI assembles the group)."""
    app.command("eval")(eval_command)
    app.command("redteam")(redteam_command)
    app.command("promote")(promote_command)
    app.command("rollback")(rollback_command)
    app.command("approve")(approve_command)
    app.command("quarantine")(quarantine_command)
    app.command("release")(release_command)
    app.add_typer(cases_app, name="cases", help="Evaluation cases: add user cases, list a version's suite.")
