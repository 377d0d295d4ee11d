"""`skillbank run`: the main job. Runs the skill-library agent over a split of a world
(the built-in apps world by default; `--world support` or your own
`package.module:make_world`; the tasks of each scenario in order, sharing the library), shows a
progress bar with live counts and the current task and turn, then the summary; `--json`
prints one JSON object.

The flags become a `skillbank.jobs.RunSpec` and `skillbank.jobs.run_job` runs it: every
check comes before the first task starts, so bad input fails in one line without
leaving a run behind; a run that fails or is interrupted afterwards (Ctrl-C, or SIGTERM:
exit status 143) keeps its directory, marked ``failed.json`` (see `skillbank runs ls`).
This module keeps the flags and the rendering.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from skillbank.agent.config import DEFAULT_LIBRARY, DEFAULT_RUNS_DIR
from skillbank.agent.trace import EpisodeTrace
from skillbank.console import Interrupted, add_column, console, emit, err_console, markup
from skillbank.console import table as new_table
from skillbank.jobs import (
    DEFAULT_MAX_STEPS,
    LOCAL_MAX_STEPS,
    SIGTERM_EXIT,
    RunInterrupted,
    RunProgress,
    RunSpec,
    RunTerminated,
    Terminated,
    run_job,
    sigterm_raises,
)


class _ProgressBar:
    """The run's progress line on stderr (a `RunObserver`): live counts, the current task
    and turn. Shown on a terminal only, and never with --json."""

    def __init__(self, label: str, as_json: bool):
        self._label = label
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}", markup=False), TimeElapsedColumn(),
            TextColumn("{task.fields[current]}", markup=False),
            console=err_console, transient=as_json, disable=as_json or not err_console.is_terminal,
        )
        self._bar: TaskID | None = None

    def seed_resolved(self, seed: int) -> None:
        err_console.print(f"world seed: {seed}")

    def started(self, run_id: str, total: int) -> None:
        self._progress.start()
        self._bar = self._progress.add_task(self._label, total=total, counts="", current="")

    def turn(self, task_id: str, turn: int) -> None:
        if self._bar is not None:
            self._progress.update(self._bar, current=f"{task_id} · turn {turn}")

    def episode(self, episode: EpisodeTrace, progress: RunProgress) -> None:
        if self._bar is not None:
            self._progress.update(self._bar, completed=progress.done, total=progress.total, current="",
                                  counts=f"passed {progress.passed}/{progress.done} · used {progress.used} · "
                                         f"saved {progress.saved}")

    def close(self) -> None:
        self._progress.stop()


def _decoding_rows(decoding: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The local decoder's figures, when the policy reported them."""
    if not decoding:
        return []
    rows = [("prompt tokens from cache", f"{decoding['reuse']:.0%}")]
    if decoding.get("drafted"):
        rows.append(("drafted tokens kept", f"{decoding['acceptance']:.0%} of {decoding['drafted']:,}"))
    return rows


def _render(summary: dict[str, Any]) -> None:
    table = new_table(title=f"run {summary['run_id']}: {summary['policy']} on {summary['split']}", show_header=False)
    add_column(table, "figure", style="bold")
    add_column(table, "value", justify="right")
    pct = lambda x: f"{100 * x:.1f}%"
    rows = [
        ("TGC (tasks passed)", pct(summary["tgc"])),
        ("SGC (scenarios passed)", pct(summary["sgc"])),
        ("tasks / scenarios", f"{summary['tasks']} / {summary['scenarios']}"),
        ("mean steps", f"{summary['mean_steps']:.2f}"),
        ("mean tokens (generated)", f"{summary['mean_tokens']:.0f}"),
        ("mean prompt tokens", f"{summary['mean_prompt_tokens']:.0f}"),
        ("skills created", str(summary["skills_created"])),
        ("skills used", str(summary["skills_used"])),
        ("skills updated", str(summary["skills_updated"])),
        ("skills saved", str(summary["skills_saved"])),
        ("skill usage rate", pct(summary["skill_usage_rate"])),
        ("retrieval", f"{summary['retrieval']} (top {summary['top_k']})" if summary["with_skills"] else "none (--no-skills)"),
        *_governance_rows(summary.get("governance")),
        *_decoding_rows(summary.get("decoding")),
        *_time_rows(summary),
        ("trace", summary["run_dir"]),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if summary.get("unsaved_candidates"):
        console.print(markup("[yellow]{} function(s) that earned a save were not storable skills; "
                             "`skillbank runs show {} --task TASK_ID` says why[/yellow]",
                             summary["unsaved_candidates"], summary["run_id"]))
    if summary.get("note"):
        console.print(markup("[bold]{}[/bold]", summary["note"]))


def _time_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The tasks' time, then the policy's load (a local model takes minutes) when it
    counts, and the wall time of the whole command."""
    rows = [("time (tasks)", f"{summary['duration_s']:.1f}s")]
    if summary.get("load_s", 0.0) >= 0.1:
        rows.append(("model load", f"{summary['load_s']:.1f}s"))
    if "wall_s" in summary:
        rows.append(("wall time", f"{summary['wall_s']:.1f}s"))
    return rows


def _governance_rows(gov: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not gov:
        return [("governance", "off")]
    if gov["mode"] == "served":
        return [("governance", "the served library's own (this run saved candidates only)")]
    if gov["mode"] == "trust":
        return [("governance", "trust (every save promoted)"), ("promoted", str(gov["promoted"]))]
    return [
        ("governance", f"on ({gov['policy']} policy)"),
        ("evaluated / red-teamed", f"{gov['evaluated']} / {gov['redteamed']}"),
        ("promoted / canaried", f"{gov['promoted']} / {gov['canaried']}"),
        ("rolled back / quarantined", f"{gov['rolled_back']} / {gov['quarantined']}"),
        ("regressions blocked", str(gov["regressions_blocked"])),
    ]


def run(
    split: Annotated[str, typer.Option("--split", help="World split (apps: train, dev, test_normal, test_challenge; support: train, dev, test).")] = "dev",
    world_name: Annotated[str, typer.Option("--world", help="apps, support, appworld, or your own: package.module:make_world.")] = "apps",
    policy: Annotated[str, typer.Option("--policy", help="expert (scripted), local, openai or replay.")] = "expert",
    retrieval: Annotated[str, typer.Option("--retrieval", help="same-scenario, query-ngram, query-embedding, skill-embedding or none.")] = "same-scenario",
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Skills retrieved per task.")] = 5,
    with_skills: Annotated[bool, typer.Option("--with-skills/--no-skills", help="--no-skills: empty library, nothing saved (the ablation).")] = True,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Play at most this many tasks (in scenario order).")] = None,
    library: Annotated[str, typer.Option("--library", "-L", envvar="SKILLBANK_LIBRARY", help="Library: SQLite path or URL.")] = DEFAULT_LIBRARY,
    runs_dir: Annotated[str, typer.Option("--runs-dir", help="Where run directories (traces) are written.")] = DEFAULT_RUNS_DIR,
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Library namespace.")] = "default",
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, help=f"Replies per task (default {DEFAULT_MAX_STEPS}; local: {LOCAL_MAX_STEPS}).", show_default=False)] = None,
    seed: Annotated[str, typer.Option("--seed", help="World seed, also the model's sampling seed (local; openai sends it as `seed`); or 'random': train draws from the training seeds, other splits from the held-out evaluation seeds (printed and recorded).")] = "0",
    model_path: Annotated[str | None, typer.Option("--model-path", help="local: the model file or directory.")] = None,
    adapter_path: Annotated[str | None, typer.Option("--adapter", "--adapter-path", help="local: the LoRA adapter: default (the shipped SFT adapter), none (the base model) or a path.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="openai: the server's base URL.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="openai: the model name.")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", min=0.0, help="local, openai: sampling temperature (default 0: greedy).")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", "--max-new-tokens", min=1, help="local, openai: tokens per reply (defaults: local 512, openai 1500).")] = None,
    batching: Annotated[str | None, typer.Option("--batching", help="local: continuous (episodes join and leave the running batch between decoding steps) or lockstep (a batch ends with its longest reply). Default continuous.")] = None,
    speculate: Annotated[int | None, typer.Option("--speculate", min=0, help="local, continuous batching, greedy: most tokens a reply drafts per decoding step from its own earlier text; the model keeps those it would have written, so replies are unchanged. 0: off. Default 8.", show_default=False)] = None,
    vocab: Annotated[str | None, typer.Option("--vocab", help="local: adapter (replies use the adapter's training tokens and the prompt's, when it ships vocab.json) or full (the whole vocabulary). Default adapter.")] = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="local: auto, float32 or bfloat16 weights (default auto: bfloat16 where the CPU has AVX-512 BF16 or AMX).")] = None,
    responses: Annotated[str | None, typer.Option("--responses", help="replay: a JSONL file of recorded replies.")] = None,
    governance: Annotated[str, typer.Option("--governance", help="on: grade, red-team, promote, canary and roll back as the run goes; off: save candidates only; trust: promote every save (for comparison).")] = "on",
    policy_file: Annotated[str | None, typer.Option("--policy-file", envvar="SKILLBANK_POLICY", help="Governance policy TOML (default: the shipped policy; see `skillbank policy show`).")] = None,
    fault_rate: Annotated[float, typer.Option("--fault-rate", help="expert: probability of writing a realistically buggy variant of a skill.")] = 0.0,
    fault_seed: Annotated[int, typer.Option("--fault-seed", help="expert: seed of the fault injection.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    spec = RunSpec(
        split=split, world=world_name, policy=policy, retrieval=retrieval, top_k=top_k, with_skills=with_skills,
        limit=limit, library=library, runs_dir=runs_dir, namespace=namespace, max_steps=max_steps, seed=seed,
        model_path=model_path, adapter_path=adapter_path, base_url=base_url, model=model, temperature=temperature,
        max_tokens=max_tokens, batching=batching, speculate=speculate, vocab=vocab, dtype=dtype, responses=responses,
        governance=governance, policy_file=policy_file, fault_rate=fault_rate, fault_seed=fault_seed,
    )
    bar = _ProgressBar(f"{policy} on {split}", as_json)
    try:
        with sigterm_raises():
            result = run_job(spec, observer=bar, interrupts=(Interrupted, KeyboardInterrupt))
    except RunTerminated as exc:
        bar.close()
        sys.stderr.write(f"terminated (SIGTERM): {exc}\n")
        raise typer.Exit(SIGTERM_EXIT) from None
    except Terminated:  # before the run started: nothing was written
        bar.close()
        sys.stderr.write("terminated (SIGTERM) before the run started\n")
        raise typer.Exit(SIGTERM_EXIT) from None
    except RunInterrupted as exc:
        raise Interrupted(str(exc)) from None
    finally:
        bar.close()
    emit(result.to_dict(), as_json, _render)
