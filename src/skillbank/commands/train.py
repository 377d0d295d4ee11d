"""`skillbank train …`: fine-tune the local policy: LoRA SFT on expert episodes, then SAGE's
GRPO over sequential rollouts."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from skillbank.console import console, emit, err_console
from skillbank.console import table as new_table

app = typer.Typer(no_args_is_help=True)


def _render(data: dict[str, Any]) -> None:
    table = new_table(title=f"SFT run → {data['out_dir']}", show_header=False)
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    loss = lambda x: "-" if x is None else f"{x:.4f}"
    rows = [
        ("records kept / dropped (too long)", f"{data['examples']} / {data['dropped_too_long']}"),
        ("records trained / optimizer steps", f"{data['records_seen']} / {data['optimizer_steps']}"),
        ("loss first → last step", f"{loss(data['first_loss'])} → {loss(data['last_loss'])}"),
        ("time", f"{data['duration_s'] / 60:.1f} min ({data['stopped']})"),
        ("adapter", data["adapter_dir"]),
        ("loss curve", data["loss_png"] or "(matplotlib not installed)"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command("sft", help="LoRA SFT of the local model (Gemma 3 270M) on records from `skillbank data sft`, on CPU.")
def sft(
    config_path: Annotated[str, typer.Option("--config", help="The run's TOML config (fields of SftConfig).")],
    fresh: Annotated[bool, typer.Option("--fresh", help="Ignore an existing checkpoint in out_dir and start over.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    from skillbank.train.sft_config import load_config
    from skillbank.train.sft_trainer import train_sft

    config = load_config(config_path)
    with Progress(
        TextColumn("[bold]SFT"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, disable=as_json,
    ) as progress:
        bar = progress.add_task("sft", total=None, loss="-")

        def on_progress(done: int, planned: int, loss: float | None) -> None:
            progress.update(bar, completed=done, total=planned, loss="-" if loss is None else f"{loss:.3f}")

        result = train_sft(config, resume=not fresh, on_progress=on_progress)
    emit(dataclasses.asdict(result), as_json, _render)


SAGE_HELP = (
    "GRPO over chains of similar tasks with the skill-integrated reward (SAGE), on the local model. "
    "The loss runs on exactly the token ids the policy sampled, with their sampling log-probs as the old "
    "policy (updates_per_batch updates per batch, clipped). out_dir gets metrics.jsonl (per step: reward by "
    "component, success, skills used per chain, approx KL, clip fraction, grad norm, entropy, truncation rate), "
    "curves.png, checkpoint/ and adapter/. The run stops with an error when more than max_truncation (default "
    "10%) of its replies hit max_new_tokens."
)


@app.command("sage", help=SAGE_HELP)
def sage(
    config_path: Annotated[str, typer.Option("--config", help="A TOML file of SageConfig keys (top level or a sage table).")],
    steps: Annotated[int | None, typer.Option("--steps", help="Override the config's steps.")] = None,
    out_dir: Annotated[str | None, typer.Option("--out-dir", help="Override the config's out_dir.")] = None,
    reward: Annotated[str | None, typer.Option("--reward", help="skill_integrated, outcome_only or chain_based.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint in out_dir.")] = False,
    ray: Annotated[str | None, typer.Option("--ray", help="Run rollouts on Ray: 'local' or a cluster address.")] = None,
    actors: Annotated[int, typer.Option("--actors", help="Ray rollout actors.")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object at the end.")] = False,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from skillbank.rl.chains import make_chains
    from skillbank.rl.trainer import (
        SageTrainer,
        in_process_player,
        load_config,
        load_trainable_model,
        rollout_config,
        seeded,
    )
    from skillbank.sandbox import SandboxConfig, SandboxPool
    from skillbank.worlds.apps import AppsWorld

    config = load_config(config_path, steps=steps, out_dir=out_dir, reward=reward)
    seeded(config)
    world = AppsWorld(seed=config.world_seed)
    chains = make_chains(world, config.split, k=config.chain_length, seed=config.seed)
    model, tokenizer = load_trainable_model(config)
    shutdown = None
    pool = None
    try:
        if ray:
            from skillbank.rl.distributed import adapter_spec, ray_player

            player, shutdown = ray_player(ray, world_seed=config.world_seed, rollout=rollout_config(config),
                                          actors=actors)

            def make_policy(m: Any, _tok: Any, seed: int) -> Any:
                return adapter_spec(m, temperature=config.temperature, max_new_tokens=config.max_new_tokens,
                                    seed=seed, model_path=config.model_path)

            trainer = SageTrainer(config, model, tokenizer, player, chains, make_policy=make_policy)
        else:
            pool = SandboxPool(SandboxConfig())
            pool.__enter__()
            player = in_process_player(world, lambda host, task_id: pool.session(host, task_id=task_id),
                                       rollout_config(config))
            trainer = SageTrainer(config, model, tokenizer, player, chains)
        with Progress(TextColumn("[bold]sage"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[last]}"),
                      TimeElapsedColumn(), console=err_console, disable=as_json) as progress:
            bar = progress.add_task("sage", total=config.steps, completed=0, last="")

            def on_step(m: Any) -> None:
                progress.update(bar, completed=m.step,
                                last=f"reward {m.reward:+.2f} · success {m.success:.0%} · kl {m.approx_kl:.4f} · "
                                     f"clip {m.clip_fraction:.0%} · cut {m.truncation_rate:.0%} · "
                                     f"rollouts {m.rollout_s:.0f}s · update {m.update_s:.0f}s")

            metrics = trainer.train(resume=resume, on_step=on_step)
    finally:
        if pool is not None:
            pool.__exit__(None, None, None)
        if shutdown is not None:
            shutdown()
    result = {"out_dir": config.out_dir, "steps": trainer.step, "config": dataclasses.asdict(config),
              "metrics": [dataclasses.asdict(m) for m in metrics],
              "adapter": f"{config.out_dir}/adapter", "curves": f"{config.out_dir}/curves.png"}
    emit(result, as_json, lambda r: console.print(
        f"trained {r['steps']} steps; adapter {r['adapter']}; curves {r['curves']}", markup=False, highlight=False))
