"""`skillbank demo`: a short, real tour of the skill library.

Everything shown is done for real on a SQLite library: a skill is added, it fails on
input it did not expect (the failure is produced by running it, not typed in), an
updated version is added with that failure log as provenance, an alias is moved by
compare-and-set, and history, diff and the event log are read back.
"""

from __future__ import annotations

import tempfile
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.rule import Rule

from skillbank.commands.skills import render_events
from skillbank.console import console, markup, print_code
from skillbank.console import table as new_table
from skillbank.errors import ConflictError
from skillbank.store import Provenance, VersionStatus, open_store

SKILL_V1 = '''\
def total_spent(transactions: list[dict]) -> float:
    """Total amount of a list of payment transactions."""
    return sum(t["amount"] for t in transactions)
'''

SKILL_V2 = '''\
def total_spent(transactions: list[dict]) -> float:
    """Total amount of a list of payment transactions; pending ones (no amount yet)
    are skipped."""
    return sum(t["amount"] for t in transactions if t.get("amount") is not None)
'''

SAMPLE = [{"amount": 12.5}, {"amount": None, "status": "pending"}, {"amount": 7.5}]


def _run(source: str, name: str, arg: Any) -> tuple[Any, str | None]:
    """Run the skill the way the agent's shell would and capture its failure log."""
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<skill {name}>", "exec"), namespace)  # noqa: S102 - the demo's own fixed source
    try:
        return namespace[name](arg), None
    except Exception:  # noqa: BLE001 - a failing skill is the point of the demo
        return None, traceback.format_exc(limit=-1).strip()


def demo(
    library: Annotated[
        str | None,
        typer.Option("--library", "-L", help="Library path or URL (default: a new one in a temp dir)."),
    ] = None,
) -> None:
    """A short tour: create, fail, update from the failure log, alias, history, diff, events."""
    with tempfile.TemporaryDirectory(prefix="skillbank-demo-") as tmp:
        _tour(library or str(Path(tmp) / "library.db"), temporary=library is None)


def _tour(location: str, *, temporary: bool) -> None:
    store = open_store(location)
    try:
        console.print(Rule(markup("[bold]skillbank demo[/]")))
        where = "a temporary library" if temporary else "library"
        console.print(markup("Using {}: [cyan]{}[/]\n", where, store.url))

        console.print(markup("[bold]1. The agent writes a skill and saves it[/] (version 1, status candidate)"))
        print_code(SKILL_V1)
        console.print()
        v1, _ = store.put_version(
            SKILL_V1, provenance=Provenance(created_by="agent", task_id="demo-task-1", scenario_id="payments",
                                            query="How much did I spend last month?"),
        )
        console.print(markup("  stored [green]{}[/] {}\n  hash {}…\n", v1.ref, v1.signature, v1.content_hash[:19]))

        console.print(markup("[bold]2. On the next task it fails[/] (a pending transaction has no amount yet)"))
        result, failure = _run(v1.source, v1.name, SAMPLE)
        store.record_call(v1.id, ok=failure is None, latency_s=0.0)
        if failure is not None:
            store.record_event("failed", version_id=v1.id, actor="agent", reason="TypeError on pending transaction",
                               payload={"task_id": "demo-task-2"})
        console.print(Panel(failure or f"unexpectedly returned {result!r}", title="failure log", style="red"))

        console.print(markup("[bold]3. The agent rewrites it from the failure log[/] (version 2, parent = version 1)"))
        v2, _ = store.put_version(
            SKILL_V2, provenance=Provenance(created_by="agent", task_id="demo-task-2", scenario_id="payments",
                                            failure_log=failure),
        )
        result, failure2 = _run(v2.source, v2.name, SAMPLE)
        store.record_call(v2.id, ok=failure2 is None, latency_s=0.0)
        console.print(markup("  stored [green]{}[/]; on the same input it returns [bold]{}[/]\n", v2.ref, repr(result)))

        console.print(markup("[bold]4. Aliases move by compare-and-set[/]"))
        first = store.set_alias(v1.name, "promoted", 1, expected_generation=None, actor="demo", reason="first version")
        moved = store.set_alias(v1.name, "promoted", 2, expected_generation=first.generation, actor="demo",
                                reason="v2 fixes pending transactions")
        store.set_status(v2.id, VersionStatus.PROMOTED, actor="demo", reason="fixes the failure")
        try:
            store.set_alias(v1.name, "promoted", 1, expected_generation=first.generation, actor="someone-stale")
        except ConflictError as exc:
            console.print(markup("  a stale writer is refused:\n    [yellow]{}[/]", exc))
        console.print(f"  {v1.name}@promoted → version {moved.version} (generation {moved.generation})\n")

        console.print(markup("[bold]5. History[/]"))
        table = new_table("version", "status", "aliases", "parent", "failure log (last line)")
        aliases = store.list_aliases(v1.name)
        for sv in store.history(v1.name):
            log = (sv.provenance.failure_log or "").strip().splitlines()
            parent = next((p.ref for p in store.history(v1.name) if p.id == sv.provenance.parent_version_id), "")
            table.add_row(sv.ref, sv.status.value, ", ".join(a.alias for a in aliases if a.version_id == sv.id),
                          parent, log[-1] if log else "")
        console.print(table)

        console.print(markup("\n[bold]6. Diff[/] (version 1 → promoted)"))
        print_code(store.diff(v1.name, 1, "promoted"), "diff")
        console.print()

        console.print(markup("[bold]7. The event log[/] (append-only)"))
        render_events(store.events(name=v1.name))
        stats = store.call_stats(v2.id)
        console.print(f"\ncall stats of {v2.ref}: {stats.calls} call(s), {stats.successes} ok, {stats.failures} failed")
        if temporary:
            console.print(markup("\n[dim]The temporary library is deleted now; pass --library PATH to keep one.[/]"))
    finally:
        store.close()
