"""`skillbank runs …`: list and inspect agent runs (the traces `skillbank run` writes)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from skillbank.agent.config import DEFAULT_RUNS_DIR
from skillbank.agent.trace import list_runs, load_run
from skillbank.commands._output import console, emit

app = typer.Typer(no_args_is_help=True)

RunsDirOpt = Annotated[str, typer.Option("--runs-dir", help="Directory of run directories.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _pct(x: Any) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


@app.command("ls")
def ls(runs_dir: RunsDirOpt = DEFAULT_RUNS_DIR, as_json: JsonOpt = False) -> None:
    """List runs, newest first."""
    rows = []
    for r in list_runs(runs_dir):
        s = r.summary or {}
        rows.append({
            "run_id": r.run_id, "policy": r.config.get("policy"), "split": r.config.get("split"),
            "with_skills": r.config.get("with_skills"), "finished": r.summary is not None,
            "episodes": r.episodes, "tgc": s.get("tgc"), "sgc": s.get("sgc"),
            "mean_steps": s.get("mean_steps"), "mean_tokens": s.get("mean_tokens"), "path": str(r.path),
        })

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console.print(f"no runs in {runs_dir}")
            return
        t = Table()
        t.add_column("run", no_wrap=True)
        for col in ("policy", "split", "skills", "tasks", "TGC", "SGC", "steps", "tokens"):
            t.add_column(col)
        for r in rows:
            t.add_row(r["run_id"], str(r["policy"]), str(r["split"]), "yes" if r["with_skills"] else "no",
                      f"{r['episodes']}" + ("" if r["finished"] else " (unfinished)"), _pct(r["tgc"]), _pct(r["sgc"]),
                      "" if r["mean_steps"] is None else f"{r['mean_steps']:.2f}",
                      "" if r["mean_tokens"] is None else f"{r['mean_tokens']:.0f}")
        console.print(t)

    emit(rows, as_json, render)


@app.command("show")
def show(
    run: Annotated[str, typer.Argument(help="Run id, a unique prefix of one, or 'latest'.")],
    runs_dir: RunsDirOpt = DEFAULT_RUNS_DIR,
    as_json: JsonOpt = False,
) -> None:
    """A run's config, summary and per-task results."""
    record, episodes = load_run(runs_dir, run)
    data = {"run_id": record.run_id, "path": str(record.path), "config": record.config,
            "summary": record.summary, "episodes": episodes}

    def render(data: dict[str, Any]) -> None:
        s = data["summary"]
        console.print(f"[bold]run {data['run_id']}[/bold]  {data['path']}")
        if s is None:
            console.print("unfinished run (no summary.json)")
        else:
            console.print(
                f"policy {s['policy']} · split {s['split']} · TGC {_pct(s['tgc'])} · SGC {_pct(s['sgc'])} · "
                f"mean steps {s['mean_steps']:.2f} · mean tokens {s['mean_tokens']:.0f} · "
                f"created {s['skills_created']} · used {s['skills_used']} · updated {s['skills_updated']} · "
                f"saved {s['skills_saved']} · usage {_pct(s['skill_usage_rate'])}"
            )
        t = Table()
        t.add_column("task", no_wrap=True)
        for col in ("pass", "steps", "tokens", "loaded", "operations", "saved", "stop"):
            t.add_column(col)
        for e in data["episodes"]:
            ops = [f"{op['kind']}:{op['name']}" for turn in e["turns"] for op in turn["operations"]
                   if op["kind"] != "defined"]
            t.add_row(e["task_id"], {True: "yes", False: "no"}.get(e.get("success"), "?"), str(len(e["turns"])),
                      str(e["completion_tokens"]), ", ".join(e["loaded"]), ", ".join(ops), ", ".join(e["saved"]),
                      e["stop_reason"])
        console.print(t)

    emit(data, as_json, render)
