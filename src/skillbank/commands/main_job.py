"""`skillbank run`: the main job. Runs the skill-library agent over a split of the
built-in apps world (the tasks of each scenario in order, sharing the library), shows a
progress bar with live counts, then the summary; `--json` prints one JSON object."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from skillbank.agent.config import DEFAULT_LIBRARY, DEFAULT_RUNS_DIR, AgentConfig, RunConfig
from skillbank.agent.runner import RunSummary, ordered_tasks, run_split
from skillbank.commands._output import console, emit, err_console
from skillbank.errors import ValidationError

EXPERT_NOTE = ("The scripted expert policy is playing (the world's reference solutions, not a model): "
               "its scores check the loop, they are not a model's.")


def _make_policy(name: str, world: Any, options: dict[str, Any]) -> Any:
    from skillbank.llm.registry import make_policy

    if name == "expert":
        return make_policy(name, world=world)
    # Only the options given are passed: the registry names any that do not fit `name`.
    return make_policy(name, **{k: v for k, v in options.items() if v is not None})


def _render(summary: dict[str, Any]) -> None:
    table = Table(title=f"run {summary['run_id']}: {summary['policy']} on {summary['split']}", show_header=False)
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
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
        ("time", f"{summary['duration_s']:.1f}s"),
        ("trace", summary["run_dir"]),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)


def run(
    split: Annotated[str, typer.Option("--split", help="World split: train, dev, test_normal, test_challenge.")] = "dev",
    policy: Annotated[str, typer.Option("--policy", help="expert (scripted), local, openai or replay.")] = "expert",
    retrieval: Annotated[str, typer.Option("--retrieval", help="same-scenario, query-ngram, query-embedding, skill-embedding or none.")] = "same-scenario",
    top_k: Annotated[int, typer.Option("--top-k", help="Skills retrieved per task.")] = 5,
    with_skills: Annotated[bool, typer.Option("--with-skills/--no-skills", help="--no-skills: empty library, nothing saved (the ablation).")] = True,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Play at most this many tasks (in scenario order).")] = None,
    library: Annotated[str, typer.Option("--library", "-L", envvar="SKILLBANK_LIBRARY", help="Library: SQLite path or URL.")] = DEFAULT_LIBRARY,
    runs_dir: Annotated[str, typer.Option("--runs-dir", help="Where run directories (traces) are written.")] = DEFAULT_RUNS_DIR,
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Library namespace.")] = "default",
    max_steps: Annotated[int, typer.Option("--max-steps", help="Replies per task.")] = 40,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the built-in apps world.")] = 0,
    model_path: Annotated[Optional[str], typer.Option("--model-path", help="local: the model file or directory.")] = None,
    adapter_path: Annotated[Optional[str], typer.Option("--adapter", "--adapter-path", help="local: the LoRA adapter: default (the shipped SFT adapter), none (the base model) or a path.")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option("--max-new-tokens", help="local: tokens generated per reply at most (default 512).")] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="openai: the server's base URL.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="openai: the model name.")] = None,
    responses: Annotated[Optional[str], typer.Option("--responses", help="replay: a JSONL file of recorded replies.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    from skillbank.retrieval import RETRIEVAL_MODES, make_retriever
    from skillbank.sandbox import SandboxConfig, SandboxPool
    from skillbank.store import open_store
    from skillbank.worlds.apps import AppsWorld

    if retrieval not in RETRIEVAL_MODES:
        raise ValidationError(f"--retrieval: unknown mode {retrieval!r}; modes: {', '.join(RETRIEVAL_MODES)}")
    config = RunConfig(split=split, policy=policy, retrieval=retrieval, top_k=top_k, with_skills=with_skills,
                       limit=limit, namespace=namespace, runs_dir=runs_dir, agent=AgentConfig(max_steps=max_steps))
    world = AppsWorld(seed=seed)
    if split not in world.splits():
        raise ValidationError(f"--split: unknown split {split!r}; splits: {', '.join(world.splits())}")
    agent_policy = _make_policy(policy, world, {"model_path": model_path, "adapter_path": adapter_path, "max_new_tokens": max_new_tokens,
                                                "base_url": base_url, "model": model, "path": responses})
    if policy == "expert" and not as_json:
        console.print(f"[bold]{EXPERT_NOTE}[/bold]")
    retriever = make_retriever(retrieval, top_k=top_k) if with_skills and retrieval != "none" else None
    store = open_store(library)
    counts = {"passed": 0, "used": 0, "saved": 0}
    try:
        # A batching policy plays several scenarios at once, each holding a sandbox worker.
        workers = max(SandboxConfig().worker_count, getattr(agent_policy, "max_concurrency", 1))
        with SandboxPool(SandboxConfig(workers=workers)) as pool, Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
            console=err_console, transient=as_json, disable=as_json,
        ) as progress:
            total = len(ordered_tasks(world.tasks(split), limit))
            bar = progress.add_task(f"{policy} on {split}", total=total, counts="")

            def on_episode(episode: Any, done: int, total: int) -> None:
                counts["passed"] += bool(episode.success)
                counts["used"] += len({op.name for op in episode.operations() if op.kind.value == "use"})
                counts["saved"] += len(episode.saved)
                progress.update(bar, completed=done, total=total,
                                counts=f"passed {counts['passed']}/{done} · used {counts['used']} · saved {counts['saved']}")

            summary: RunSummary = run_split(
                world, agent_policy, store, lambda host, task_id: pool.session(host, task_id=task_id), retriever,
                config, on_episode=on_episode, extra_config={"seed": seed},
            )
    finally:
        store.close()
    data = dataclasses.asdict(summary)
    if policy == "expert":
        data["note"] = EXPERT_NOTE
    emit(data, as_json, _render)
