"""`skillbank run`: the main job. Runs the skill-library agent over a split of a world
(the built-in apps world by default; `--world support` or your own
`package.module:make_world`; the tasks of each scenario in order, sharing the library), shows a
progress bar with live counts and the current task and turn, then the summary; `--json`
prints one JSON object.

Everything is checked before the first task starts (split, retrieval mode, namespace,
the runs directory, the policy's options by their flag names), so bad input fails in one
line without leaving a run behind. A run that fails or is interrupted afterwards keeps
its directory, marked ``failed.json`` (see `skillbank runs ls`).
"""

from __future__ import annotations

import dataclasses
import os
import platform
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from skillbank import __version__
from skillbank.agent.config import DEFAULT_LIBRARY, DEFAULT_RUNS_DIR, AgentConfig, RunConfig
from skillbank.agent.runner import RunSummary, ordered_tasks, run_split
from skillbank.agent.trace import mark_failed, new_run_id
from skillbank.console import Interrupted, add_column, console, emit, err_console, markup
from skillbank.errors import ConfigError, ValidationError

EXPERT_NOTE = ("The scripted expert policy is playing (the world's reference solutions, not a model): "
               "its scores check the loop, they are not a model's. The shipped local model (--policy local) "
               "solves no dev task yet.")
LOCAL_BASE_NOTE = ("The local policy is the Gemma 3 270M base model without a fine-tuned adapter: it has never "
                   "seen the agent's format, so a score near zero is expected.")

POLICIES = ("expert", "local", "openai", "replay")
# Which policies each policy-specific flag applies to.
_POLICY_FLAGS: dict[str, tuple[str, ...]] = {
    "--model-path": ("local",),
    "--adapter-path": ("local",),
    "--base-url": ("openai",),
    "--model": ("openai",),
    "--responses": ("replay",),
    "--temperature": ("local", "openai"),
    "--max-tokens": ("local", "openai"),
    "--dtype": ("local",),
    "--vocab": ("local",),
    "--batching": ("local",),
    "--speculate": ("local",),
}

#: Replies per task unless --max-steps says otherwise: SAGE's 40, but 8 for the local
#: 270M model, which after SFT finishes its tasks in 1-3 replies or not at all (and each
#: further reply re-reads a prompt that grows by an observation).
DEFAULT_MAX_STEPS = 40
LOCAL_MAX_STEPS = 8


def _policy_options(policy: str, flags: dict[str, Any], seed: int) -> dict[str, Any]:
    """The registry's options for `policy`, checked in terms of the CLI's flags."""
    if policy not in POLICIES:
        raise ValidationError(f"--policy: unknown policy {policy!r}; policies: {', '.join(POLICIES)}")
    for flag, value in flags.items():
        if value is not None and policy not in _POLICY_FLAGS[flag]:
            raise ValidationError(f"{flag} applies to --policy {' or '.join(_POLICY_FLAGS[flag])}, not {policy!r}")
    if policy == "replay":
        if flags["--responses"] is None:
            raise ValidationError("--policy replay needs --responses FILE (a JSONL file of recorded replies)")
        return {"path": flags["--responses"]}
    if policy == "openai":
        if flags["--model"] is None and not os.environ.get("SKILLBANK_OPENAI_MODEL"):
            raise ValidationError("--policy openai needs --model NAME (or SKILLBANK_OPENAI_MODEL)")
        options = {"base_url": flags["--base-url"], "model": flags["--model"], "seed": seed,
                   "temperature": flags["--temperature"], "max_tokens": flags["--max-tokens"]}
    elif policy == "local":
        options = {"model_path": flags["--model-path"], "adapter_path": flags["--adapter-path"], "seed": seed,
                   "temperature": flags["--temperature"], "max_new_tokens": flags["--max-tokens"],
                   "dtype": flags["--dtype"], "vocab": flags["--vocab"],
                   "batching": flags["--batching"], "speculate": flags["--speculate"]}
    else:
        return {}
    return {k: v for k, v in options.items() if v is not None}


def _make_policy(name: str, world: Any, options: dict[str, Any]) -> Any:
    from skillbank.llm.registry import make_policy

    if name == "expert":
        if options.get("fault_rate"):
            from skillbank.llm.expert import ExpertPolicy

            return ExpertPolicy(world, fault_rate=options["fault_rate"], fault_seed=options.get("fault_seed") or 0)
        return make_policy(name, world=world)
    if options.get("fault_rate"):
        raise ValidationError("--fault-rate applies to the expert policy only")
    options = {k: v for k, v in options.items() if k not in ("fault_rate", "fault_seed")}
    return make_policy(name, **options)


def _prepare_runs_dir(runs_dir: str) -> None:
    path = Path(runs_dir).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--runs-dir: cannot create {str(path)!r}: {exc.strerror}") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"--runs-dir: {str(path)!r} is not a writable directory")


class _WatchedPolicy:
    """The policy, reporting each turn as it starts (the progress line shows the
    current task and turn while a slow model generates)."""

    def __init__(self, policy: Any, on_turn: Any):
        self._policy = policy
        self._on_turn = on_turn
        self.name = policy.name
        self._task = ""
        self._turn = 0

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._policy, attr)

    def start_episode(self, info: Any) -> None:
        self._task, self._turn = info.task.id, 0
        self._policy.start_episode(info)

    def generate(self, messages: Any) -> Any:
        self._turn += 1
        self._on_turn(self._task, self._turn)
        return self._policy.generate(messages)

    def count_tokens(self, text: str) -> int:
        return self._policy.count_tokens(text)


def _decoding_rows(decoding: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The local decoder's figures, when the policy reported them."""
    if not decoding:
        return []
    rows = [("prompt tokens from cache", f"{decoding['reuse']:.0%}")]
    if decoding.get("drafted"):
        rows.append(("drafted tokens kept", f"{decoding['acceptance']:.0%} of {decoding['drafted']:,}"))
    return rows


def _render(summary: dict[str, Any]) -> None:
    table = Table(title=f"run {summary['run_id']}: {summary['policy']} on {summary['split']}", show_header=False)
    add_column(table, "figure", style="bold")
    add_column(table, "value", justify="right")
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
        *_governance_rows(summary.get("governance")),
        *_decoding_rows(summary.get("decoding")),
        ("time", f"{summary['duration_s']:.1f}s"),
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


def _governance_rows(gov: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not gov:
        return [("governance", "off")]
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
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Play at most this many tasks (in scenario order).")] = None,
    library: Annotated[str, typer.Option("--library", "-L", envvar="SKILLBANK_LIBRARY", help="Library: SQLite path or URL.")] = DEFAULT_LIBRARY,
    runs_dir: Annotated[str, typer.Option("--runs-dir", help="Where run directories (traces) are written.")] = DEFAULT_RUNS_DIR,
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Library namespace.")] = "default",
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", min=1, help=f"Replies per task (default {DEFAULT_MAX_STEPS}; local: {LOCAL_MAX_STEPS}).", show_default=False)] = None,
    seed: Annotated[str, typer.Option("--seed", help="World seed, also the model's sampling seed (local; openai sends it as `seed`); or 'random': train draws from the training seeds, other splits from the held-out evaluation seeds (printed and recorded).")] = "0",
    model_path: Annotated[Optional[str], typer.Option("--model-path", help="local: the model file or directory.")] = None,
    adapter_path: Annotated[Optional[str], typer.Option("--adapter", "--adapter-path", help="local: the LoRA adapter: default (the shipped SFT adapter), none (the base model) or a path.")] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="openai: the server's base URL.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="openai: the model name.")] = None,
    temperature: Annotated[Optional[float], typer.Option("--temperature", min=0.0, help="local, openai: sampling temperature (default 0: greedy).")] = None,
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", "--max-new-tokens", min=1, help="local, openai: tokens per reply (defaults: local 512, openai 1500).")] = None,
    batching: Annotated[Optional[str], typer.Option("--batching", help="local: continuous (episodes join and leave the running batch between decoding steps) or lockstep (a batch ends with its longest reply). Default continuous.")] = None,
    speculate: Annotated[Optional[int], typer.Option("--speculate", min=0, help="local, continuous batching, greedy: most tokens a reply drafts per decoding step from its own earlier text; the model keeps those it would have written, so replies are unchanged. 0: off. Default 8.", show_default=False)] = None,
    vocab: Annotated[Optional[str], typer.Option("--vocab", help="local: adapter (replies use the adapter's training tokens and the prompt's, when it ships vocab.json) or full (the whole vocabulary). Default adapter.")] = None,
    dtype: Annotated[Optional[str], typer.Option("--dtype", help="local: auto, float32 or bfloat16 weights (default auto: bfloat16 where the CPU has AVX-512 BF16 or AMX).")] = None,
    responses: Annotated[Optional[str], typer.Option("--responses", help="replay: a JSONL file of recorded replies.")] = None,
    governance: Annotated[str, typer.Option("--governance", help="on: grade, red-team, promote, canary and roll back as the run goes; off: save candidates only; trust: promote every save (for comparison).")] = "on",
    policy_file: Annotated[Optional[str], typer.Option("--policy-file", envvar="SKILLBANK_POLICY", help="Governance policy TOML (default: the shipped policy; see `skillbank policy show`).")] = None,
    fault_rate: Annotated[float, typer.Option("--fault-rate", help="expert: probability of writing a realistically buggy variant of a skill.")] = 0.0,
    fault_seed: Annotated[int, typer.Option("--fault-seed", help="expert: seed of the fault injection.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    from skillbank.llm.registry import describe_policy
    from skillbank.retrieval import RETRIEVAL_MODES, make_retriever
    from skillbank.sandbox import SandboxConfig, SandboxPool
    from skillbank.store import open_store
    from skillbank.store.sql import check_namespace
    from skillbank.worlds.base import seed_for
    from skillbank.toolkit.loader import open_world

    # -- everything checked before anything starts --------------------------------------
    if retrieval not in RETRIEVAL_MODES:
        raise ValidationError(f"--retrieval: unknown mode {retrieval!r}; modes: {', '.join(RETRIEVAL_MODES)}")
    try:
        check_namespace(namespace)
    except ValidationError as exc:
        raise ValidationError(f"--namespace: {exc}") from None
    seed_value = seed_for(seed, split)
    options = _policy_options(policy, {
        "--model-path": model_path, "--adapter-path": adapter_path, "--base-url": base_url, "--model": model,
        "--responses": responses, "--temperature": temperature, "--max-tokens": max_tokens, "--dtype": dtype,
        "--vocab": vocab, "--batching": batching, "--speculate": speculate,
    }, seed_value)
    if max_steps is None:
        max_steps = LOCAL_MAX_STEPS if policy == "local" else DEFAULT_MAX_STEPS
    if str(seed_value) != seed.strip():
        err_console.print(f"world seed: {seed_value}")
    world = open_world(world_name, seed=seed_value)
    if split not in world.splits():
        raise ValidationError(f"--split: unknown split {split!r}; splits: {', '.join(world.splits())}")
    from skillbank.governance.run import GOVERNANCE_MODES

    if governance not in GOVERNANCE_MODES:
        raise ValidationError(f"--governance: unknown mode {governance!r}; modes: {', '.join(GOVERNANCE_MODES)}")
    if not 0.0 <= fault_rate <= 1.0:
        raise ValidationError(f"--fault-rate must be in [0, 1], got {fault_rate}")
    _prepare_runs_dir(runs_dir)
    run_id = new_run_id()
    config = RunConfig(split=split, policy=policy, retrieval=retrieval, top_k=top_k, with_skills=with_skills,
                       limit=limit, namespace=namespace, runs_dir=runs_dir, run_id=run_id,
                       agent=AgentConfig(max_steps=max_steps))
    agent_policy = _make_policy(policy, world, {**options, "fault_rate": fault_rate, "fault_seed": fault_seed})
    note = EXPERT_NOTE if policy == "expert" else (
        LOCAL_BASE_NOTE if policy == "local" and str(adapter_path).lower() == "none" and model_path is None else None)
    retriever = make_retriever(retrieval, top_k=top_k) if with_skills and retrieval != "none" else None
    store = open_store(library)
    record = {
        "seed": seed_value,
        "world_spec": world_name,
        "governance": governance if with_skills else "off",
        "policy_config": describe_policy(agent_policy),
        "skillbank_version": __version__,
        "python": platform.python_version(),
    }
    counts = {"passed": 0, "used": 0, "saved": 0, "done": 0, "unsaved": 0}
    run_dir = Path(runs_dir) / run_id
    governed = close_harness = None
    try:
        if governance != "off" and with_skills:
            from skillbank.governance import Governance, GovernedRun, load_policy, open_harness

            gov_policy = load_policy(policy_file)
            harness, close_harness = open_harness(timeout_s=gov_policy.redteam.timeout_s, world=world, seed=seed_value)
            governed = GovernedRun(Governance(store, policy=gov_policy, namespace=namespace, harness=harness),
                                   seed=seed_value, mode=governance)
        # A batching policy plays several scenarios at once, each holding a sandbox worker.
        workers = max(SandboxConfig().worker_count, getattr(agent_policy, "max_concurrency", 1))
        with SandboxPool(SandboxConfig(workers=workers)) as pool, Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}", markup=False), TimeElapsedColumn(),
            TextColumn("{task.fields[current]}", markup=False),
            console=err_console, transient=as_json, disable=as_json or not err_console.is_terminal,
        ) as progress:
            total = len(ordered_tasks(world.tasks(split), limit))
            bar = progress.add_task(f"{policy} on {split}", total=total, counts="", current="")

            def on_turn(task_id: str, turn: int) -> None:
                progress.update(bar, current=f"{task_id} · turn {turn}")

            def on_episode(episode: Any, done: int, total: int) -> None:
                counts["done"] = done
                counts["passed"] += bool(episode.success)
                counts["used"] += len({op.name for op in episode.operations() if op.kind.value == "use"})
                counts["saved"] += len(episode.saved)
                if governed is not None:
                    governed.after_episode(episode)
                counts["unsaved"] += len(episode.save_errors)
                progress.update(bar, completed=done, total=total, current="",
                                counts=f"passed {counts['passed']}/{done} · used {counts['used']} · saved {counts['saved']}")

            sessions: Any = lambda host, task_id: pool.session(host, task_id=task_id)  # noqa: E731
            summary: RunSummary = run_split(
                world, _WatchedPolicy(agent_policy, on_turn), store,
                governed.sessions(sessions) if governed else sessions, retriever,
                config, on_episode=on_episode, extra_config=record,
                version_chooser=governed.choose if governed else None,
                governance_summary=governed.summary if governed else None,
            )
    except (Interrupted, KeyboardInterrupt):
        mark_failed(run_dir, "interrupted (Ctrl-C)", interrupted=True)
        raise Interrupted(
            f"run {run_id} stopped after {counts['done']} task(s); its trace is in {run_dir}"
        ) from None
    except BaseException as exc:
        mark_failed(run_dir, exc)
        raise
    finally:
        if close_harness is not None:
            close_harness()
        store.close()
        close = getattr(agent_policy, "close", None)
        if callable(close):
            close()
    data = dataclasses.asdict(summary)
    data["unsaved_candidates"] = counts["unsaved"]
    if note:
        data["note"] = note
    emit(data, as_json, _render)
