"""`skillbank bench governance`: does governance matter? Measured on the apps world.

For each mode (``off``: candidates only; ``trust``: every saved version promoted at
once; ``on``: the policy's gate, red-team, canaries), a fresh library sees two runs of
the train split with the expert policy writing a realistically buggy skill with
probability `--fault-rate` (`skillbank.llm.faults`): the first on world seed
`--seed`, the second on `--seed + 1`, retrieving what the first run promoted.

A version is *faulty* when its source differs from its scenario's reference skill
(content hash after normalisation). Reported per mode: faulty and good versions saved,
faulty and good versions ever promoted, quarantined, each run's TGC, the second run's
tasks that failed while using a faulty version the first run promoted, and its mean steps and
mean generated tokens. ``faults_injected`` counts the buggy skills the expert actually
wrote (a task that reuses a library skill writes none).
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from skillbank.console import console, emit
from skillbank.console import table as new_table
from skillbank.errors import ValidationError

if TYPE_CHECKING:
    from skillbank.agent.runner import RunSummary
    from skillbank.llm.expert import ExpertPolicy
    from skillbank.sandbox import SandboxPool
    from skillbank.store.base import LibraryStore
    from skillbank.worlds.base import World

MODES = ("off", "trust", "on")


def _one_run(store: LibraryStore, world: World, *, seed: int, mode: str, fault_rate: float, fault_seed: int,
             runs_dir: str, pool: SandboxPool, limit: int | None = None) -> tuple[RunSummary, ExpertPolicy]:
    from skillbank.jobs import RunSpec, make_run_retriever, run_on
    from skillbank.llm.expert import ExpertPolicy

    policy = ExpertPolicy(world, fault_rate=fault_rate, fault_seed=fault_seed)
    spec = RunSpec(split="train", policy="expert", retrieval="same-scenario", top_k=5, runs_dir=runs_dir,
                   limit=limit, max_steps=10, governance=mode, seed=seed, fault_rate=fault_rate, fault_seed=fault_seed)
    summary = run_on(spec, world=world, policy=policy, store=store, retriever=make_run_retriever(spec), seed=seed,
                     pool=pool)
    return summary, policy


def run_bench(*, fault_rate: float = 0.3, seed: int = 0, fault_seed: int = 0,
              modes: tuple[str, ...] = MODES, limit: int | None = None) -> dict[str, Any]:
    if not 0.0 <= fault_rate <= 1.0:
        raise ValidationError(f"--fault-rate must be in [0, 1], got {fault_rate}")
    if limit is not None and limit < 1:
        raise ValidationError(f"--limit must be at least 1, got {limit}")
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValidationError(f"unknown governance mode(s) {', '.join(unknown)}; modes: {', '.join(MODES)}")
    from skillbank.agent.trace import load_run
    from skillbank.sandbox import SandboxConfig, SandboxPool
    from skillbank.skill import parse_skill
    from skillbank.store import open_store
    from skillbank.store.base import EventType
    from skillbank.worlds.apps import AppsWorld

    worlds = {seed: AppsWorld(seed), seed + 1: AppsWorld(seed + 1)}
    reference = {sc.skill_name: parse_skill(sc.skill_source).content_hash for sc in worlds[seed].scenarios.values()}
    out: dict[str, Any] = {"fault_rate": fault_rate, "seeds": [seed, seed + 1], "fault_seed": fault_seed,
                           "limit": limit, "modes": {}}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="skillbank-govbench-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with SandboxPool(SandboxConfig()) as pool:
            for mode in modes:
                store = open_store(Path(tmp) / f"{mode}.db")
                try:
                    runs = []
                    injected = 0
                    kinds: dict[str, str] = {}
                    for i, s in enumerate((seed, seed + 1)):
                        summary, policy = _one_run(store, worlds[s], seed=s, mode=mode, fault_rate=fault_rate,
                                                   fault_seed=fault_seed + 1000 * i, runs_dir=str(Path(tmp) / "runs"),
                                                   pool=pool, limit=limit)
                        if i == 0:
                            carried = {e.version_id for e in store.events(type=EventType.PROMOTED.value)}
                        injected += len(policy.injected)
                        kinds.update({parse_skill(f["source"]).content_hash: f["fault"] for f in policy.injected})
                        runs.append(summary)
                    versions = store.list_versions(latest_only=False)
                    faulty_ids = {v.id for v in versions if reference.get(v.name) != v.content_hash}
                    _, episodes = load_run(str(Path(tmp) / "runs"), runs[1].run_id)
                    harmed = sum(
                        1 for e in episodes if not e.get("success") and any(
                            op.get("kind") == "use" and op.get("version_id") in faulty_ids & carried
                            for t in e["turns"] for op in t["operations"]))
                    faulty = faulty_ids
                    promoted_ids = {e.version_id for e in store.events(type=EventType.PROMOTED.value)}
                    quarantined = {e.version_id for e in store.events(type=EventType.QUARANTINED.value)}
                    out["modes"][mode] = {
                        "faults_injected": injected,
                        "faulty_saved": len(faulty),
                        "good_saved": len(versions) - len(faulty),
                        "faulty_promoted": len(promoted_ids & faulty),
                        "good_promoted": len(promoted_ids - faulty),
                        "faulty_promoted_kinds": sorted(f"{v.name}: {kinds.get(v.content_hash, '?')}" for v in versions
                                                        if v.id in promoted_ids & faulty),
                        "faulty_quarantined": len(quarantined & faulty),
                        "run1_tgc": round(runs[0].tgc, 4),
                        "run2_tgc": round(runs[1].tgc, 4),
                        "run2_failed_using_carried_faulty": harmed,
                        "run2_mean_steps": round(runs[1].mean_steps, 3),
                        "run2_mean_tokens": round(runs[1].mean_tokens, 1),
                        "run2_skill_usage_rate": round(runs[1].skill_usage_rate, 4),
                        "governance": {k: v for k, v in (runs[1].governance or {}).items() if k != "decisions"},
                    }
                finally:
                    store.close()
    out["duration_ms"] = round(1000 * (time.perf_counter() - started), 1)
    return out


def command(
    fault_rate: Annotated[float, typer.Option("--fault-rate", help="Probability that the expert writes a buggy variant.")] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="World seed of the first run (the second uses seed + 1).")] = 0,
    fault_seed: Annotated[int, typer.Option("--fault-seed")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", help="Play only the first N train tasks per run.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the JSON object only.")] = False,
) -> None:
    """Governance off / trust-on-save / on, over two train runs with injected faults."""
    result = run_bench(fault_rate=fault_rate, seed=seed, fault_seed=fault_seed, limit=limit)

    def render(r: dict[str, Any]) -> None:
        table = new_table(title=f"governance demonstration: fault rate {r['fault_rate']}, world seeds {r['seeds']}")
        table.add_column("figure")
        for mode in r["modes"]:
            table.add_column(mode, justify="right")
        keys = ["faults_injected", "faulty_saved", "good_saved", "faulty_promoted", "good_promoted",
                "faulty_quarantined", "run1_tgc", "run2_tgc", "run2_failed_using_carried_faulty",
                "run2_mean_steps", "run2_mean_tokens"]
        for key in keys:
            table.add_row(key, *(str(m[key]) for m in r["modes"].values()))
        console.print(table)

    emit(result, json_, render)
