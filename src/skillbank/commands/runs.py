"""`skillbank runs …`: list, inspect and compare agent runs (the traces `skillbank run`
writes)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.text import Text

from skillbank.agent.config import DEFAULT_RUNS_DIR
from skillbank.agent.trace import RunRecord, list_runs, load_run
from skillbank.commands._options import JsonOpt
from skillbank.console import console, emit, markup, print_code, table
from skillbank.errors import NotFoundError, ValidationError

app = typer.Typer(no_args_is_help=True)

RunsDirOpt = Annotated[str, typer.Option("--runs-dir", help="Directory of run directories.")]


def _pct(x: Any) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _started(r: RunRecord) -> dt.datetime | None:
    """When the run started (UTC): its config's ``started_at``; for runs written before
    that field, the time in a generated run id, else when its config was written."""
    text = r.config.get("started_at")
    if isinstance(text, str):
        try:
            when = dt.datetime.fromisoformat(text)
            return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        except ValueError:
            pass
    m = re.match(r"(\d{8}-\d{6})(?:-|$)", r.run_id)
    if m:
        return dt.datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=dt.UTC)
    try:
        return dt.datetime.fromtimestamp((r.path / "config.json").stat().st_mtime, dt.UTC)
    except OSError:
        return None


RUN_REF_HELP = "Run id, a unique prefix of one, 'latest', or 'latest~N' (the run N before the latest)"


@app.command("ls")
def ls(runs_dir: RunsDirOpt = DEFAULT_RUNS_DIR, as_json: JsonOpt = False) -> None:
    """List runs, newest first; a run that failed or was interrupted says so.

    Token figures are in `runs show`, `runs compare` and `--json`."""
    if Path(runs_dir).exists() and not Path(runs_dir).is_dir():
        raise ValidationError(f"--runs-dir: {runs_dir!r} is a file, not a directory of runs")
    rows = []
    for r in list_runs(runs_dir):
        s = r.summary or {}
        rows.append({
            "run_id": r.run_id, "status": r.status, "world": r.config.get("world"),
            "started_at": None if (started := _started(r)) is None else started.isoformat(timespec="seconds"),
            "policy": r.config.get("policy"), "split": r.config.get("split"),
            "with_skills": r.config.get("with_skills"), "finished": r.summary is not None,
            "episodes": r.episodes, "tgc": s.get("tgc"), "sgc": s.get("sgc"),
            "mean_steps": s.get("mean_steps"), "mean_tokens": s.get("mean_tokens"), "path": str(r.path),
            "error": (r.failure or {}).get("error"),
        })

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console.print(f"no runs in {runs_dir}")
            return
        t = table("run", "started (UTC)", "status", "world", "setup", "tasks", "TGC", "SGC", "steps", keep=("run",),
                  flex=("setup",))
        for r in rows:
            setup = f"{r['policy']} {r['split']}" + ("" if r["with_skills"] else " no-skills")
            started = "" if r["started_at"] is None else r["started_at"][:16].replace("T", " ")
            t.add_row(r["run_id"], started, r["status"], str(r["world"] or "?"), setup, str(r["episodes"]),
                      _pct(r["tgc"]), _pct(r["sgc"]), "" if r["mean_steps"] is None else f"{r['mean_steps']:.2f}")
        console.print(t)

    emit(rows, as_json, render)


def _ops(e: dict[str, Any]) -> list[str]:
    return [f"{op['kind']}:{op['name']}" for turn in e["turns"] for op in turn["operations"] if op["kind"] != "defined"]


@app.command("show")
def show(
    run: Annotated[str, typer.Argument(metavar="RUN", help=RUN_REF_HELP + ".")],
    task: Annotated[
        str | None,
        typer.Option("--task", metavar="TASK_ID", help="One episode in full: system prompt with the injected skills, "
                                                        "each turn's code and observation, the per-check grades."),
    ] = None,
    runs_dir: RunsDirOpt = DEFAULT_RUNS_DIR,
    as_json: JsonOpt = False,
) -> None:
    """A run's config, summary and per-task results (or one task's episode with --task)."""
    record, episodes = load_run(runs_dir, run)
    if task is not None:
        matches = [e for e in episodes if e.get("task_id") == task]
        if not matches:
            played = ", ".join(e.get("task_id", "?") for e in episodes[:8]) or "none"
            raise NotFoundError(f"run {record.run_id} has no episode of task {task!r} (played: {played})")
        emit(matches[-1], as_json, _render_episode)
        return
    data = {"run_id": record.run_id, "status": record.status, "path": str(record.path), "config": record.config,
            "summary": record.summary, "failure": record.failure, "episodes": episodes}

    def render(data: dict[str, Any]) -> None:
        s = data["summary"]
        console.print(markup("[bold]run {}[/bold]  {}", data["run_id"], data["path"]))
        if s is None:
            why = (data["failure"] or {}).get("error")
            console.print(f"{data['status']} run (no summary.json)" + (f": {why}" if why else ""))
        else:
            # Three short lines rather than one that the terminal breaks mid-figure.
            console.print(f"policy {s['policy']} · split {s['split']} · TGC {_pct(s['tgc'])} · SGC {_pct(s['sgc'])}")
            console.print(f"mean steps {s['mean_steps']:.2f} · mean tokens {s['mean_tokens']:.0f}")
            console.print(f"skills: created {s['skills_created']} · used {s['skills_used']} · "
                          f"updated {s['skills_updated']} · saved {s['skills_saved']} · "
                          f"usage {_pct(s['skill_usage_rate'])}")
        t = table("task", "pass", "steps", "tokens", "loaded", "operations", "saved", "stop", keep=("task",),
                  flex=("loaded", "operations", "saved"))
        for e in data["episodes"]:
            t.add_row(e["task_id"], {True: "yes", False: "no"}.get(e.get("success"), "?"), str(len(e["turns"])),
                      str(e["completion_tokens"]), ", ".join(e["loaded"]), ", ".join(_ops(e)), ", ".join(e["saved"]),
                      e["stop_reason"])
        console.print(t)
        if data["episodes"]:
            console.print(markup("[dim]one episode in full: skillbank runs show {} --task TASK_ID[/dim]", data["run_id"]))

    emit(data, as_json, render)


def _render_episode(e: dict[str, Any]) -> None:
    verdicts: dict[object, str] = {True: "[green]passed[/green]", False: "[red]failed[/red]"}
    verdict = verdicts.get(e.get("success"), "not graded")
    console.print(markup(f"[bold]{{}}[/bold] · {verdict} · {{}} step(s) · {{}} generated tokens · stop: {{}}",
                         e["task_id"], len(e["turns"]), e["completion_tokens"], e["stop_reason"]))
    console.print(f"instruction: {e['instruction']}")
    console.print(f"retrieved: {', '.join(e['retrieved']) or '-'} · loaded: {', '.join(e['loaded']) or '-'}"
                  + (f" · dropped: {', '.join(e['dropped'])}" if e.get("dropped") else ""))
    if e.get("system_prompt"):
        console.print(Panel(Text(e["system_prompt"]), title="system prompt (with the injected skills)", expand=False))
    if e.get("start_message"):
        console.print(Panel(Text(e["start_message"]), title="task message", expand=False))
    for turn in e["turns"]:
        state = {True: "ok", False: "error", None: "no code"}[turn["ok"]]
        console.rule(f"turn {turn['index'] + 1}: {state}")
        if turn["code"] is not None:
            print_code(turn["code"])
        else:
            console.print(Panel(Text(turn["reply"]), title="reply (no code)", expand=False))
        ops = [f"{op['kind']}:{op['name']}" for op in turn["operations"] if op["kind"] != "defined"]
        if ops:
            console.print(f"operations: {', '.join(ops)}")
        console.print(Panel(Text(turn["observation"]), title="observation", expand=False))
    if e.get("saved") or e.get("save_errors"):
        console.print(f"saved: {', '.join(e.get('saved') or []) or '-'}")
        for problem in e.get("save_errors") or []:
            console.print(markup("[yellow]not saved: {}[/yellow]", problem))
    tests = e.get("grade_tests")
    if tests:
        console.rule("grade")
        for t in tests:
            mark = "[green]pass[/green]" if t["passed"] else "[red]FAIL[/red]"
            console.print(markup(f"  {mark}  {{}}: {{}}", t["name"], t.get("message", "")))
    elif e.get("grade_fraction") is not None:
        console.print(f"grade: {100 * e['grade_fraction']:.0f}% of tests (this trace has no per-check results)")


_COMPARED = (
    ("tgc", "TGC", _pct), ("sgc", "SGC", _pct), ("tasks", "tasks", str),
    ("mean_steps", "mean steps", lambda x: f"{x:.2f}"), ("mean_tokens", "mean tokens (generated)", lambda x: f"{x:.0f}"),
    ("mean_prompt_tokens", "mean prompt tokens", lambda x: f"{x:.0f}"),
    ("skills_created", "skills created", str), ("skills_used", "skills used", str),
    ("skills_saved", "skills saved", str), ("skill_usage_rate", "skill usage rate", _pct),
)


def _setup(r: RunRecord) -> dict[str, Any]:
    """What a run was set up with. A run without skills retrieved nothing, so its
    retrieval mode is None (its config keeps the default it was never used with)."""
    s = {k: r.config.get(k) for k in ("world", "policy", "split", "with_skills", "retrieval", "seed")}
    if s["with_skills"] is False:
        s["retrieval"] = None
    return s


def _shown_setup(s: dict[str, Any], key: str) -> str:
    if key == "retrieval" and s["retrieval"] is None and s["with_skills"] is False:
        return "none (no skills)"
    return "?" if s[key] is None else str(s[key])


def _not_comparable(a: RunRecord, b: RunRecord, common_tasks: set[str]) -> list[str]:
    """Why two runs' figures may not be comparable (empty: nothing to say)."""
    out = []
    wa, wb = a.config.get("world"), b.config.get("world")
    if wa != wb:
        out.append(f"the runs are of different worlds ({wa or '?'} and {wb or '?'}): their tasks differ, "
                   "so the differences below are not the effect of one setting")
    elif a.config.get("split") != b.config.get("split"):
        out.append(f"the runs played different splits ({a.config.get('split')} and {b.config.get('split')})")
    if not common_tasks and wa == wb:
        out.append("the runs have no task in common")
    return out


@app.command("compare")
def compare(
    run1: Annotated[str, typer.Argument(metavar="RUN1", help=RUN_REF_HELP + " (e.g. with skills).")],
    run2: Annotated[str, typer.Argument(metavar="RUN2", help=RUN_REF_HELP + " (e.g. the --no-skills ablation).")],
    runs_dir: RunsDirOpt = DEFAULT_RUNS_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Two finished runs side by side (e.g. the with/without-skills ablation): the
    figures, their differences, and the tasks whose result differs."""
    loaded = [load_run(runs_dir, r) for r in (run1, run2)]
    for record, _ in loaded:
        if record.summary is None:
            raise ValidationError(f"run {record.run_id} is {record.status}: only finished runs can be compared")
    (a, ea), (b, eb) = loaded
    sa, sb = a.summary or {}, b.summary or {}
    figures = {key: {"run1": sa.get(key), "run2": sb.get(key),
                     "delta": (sb[key] - sa[key]) if isinstance(sa.get(key), (int, float)) and isinstance(sb.get(key), (int, float)) else None}
               for key, _, _ in _COMPARED}
    result_a = {e["task_id"]: e.get("success") for e in ea}
    result_b = {e["task_id"]: e.get("success") for e in eb}
    differing = [{"task_id": t, "run1": result_a.get(t), "run2": result_b.get(t)}
                 for t in sorted(set(result_a) | set(result_b)) if result_a.get(t) != result_b.get(t)]
    setup = {r.run_id: _setup(r) for r in (a, b)}
    data = {"run1": a.run_id, "run2": b.run_id, "setup": setup, "figures": figures, "tasks_differing": differing,
            "warnings": _not_comparable(a, b, set(result_a) & set(result_b))}

    def render(d: dict[str, Any]) -> None:
        console.print(f"run1 {d['run1']}  vs  run2 {d['run2']}")
        for warning in d["warnings"]:
            console.print(markup("[yellow]{}[/yellow]", warning))
        t = table("figure", "run1", "run2", "run2 - run1", keep=("figure",))
        for key in ("world", "policy", "split", "with_skills", "retrieval"):
            t.add_row(key, *(_shown_setup(d["setup"][d[run]], key) for run in ("run1", "run2")), "")
        for key, label, fmt in _COMPARED:
            f = d["figures"][key]
            delta = f["delta"]
            shown = "" if delta is None else (
                f"{100 * delta:+.1f} pts" if fmt is _pct else f"{delta:+.2f}" if isinstance(delta, float) else f"{delta:+d}")
            t.add_row(label, "" if f["run1"] is None else fmt(f["run1"]), "" if f["run2"] is None else fmt(f["run2"]), shown)
        console.print(t)
        if d["tasks_differing"]:
            mark = {True: "pass", False: "fail", None: "-"}
            console.print("tasks whose result differs: " + ", ".join(
                f"{x['task_id']} ({mark[x['run1']]} → {mark[x['run2']]})" for x in d["tasks_differing"]))

    emit(data, as_json, render)
