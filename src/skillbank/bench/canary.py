"""`skillbank bench canary`: the canary rule on seeded simulations with injected faults.

Two populations of canaries meet the same incumbent (failure rate `--incumbent-failure`):

- *as good*: the canary fails as often as the incumbent. Reported: the **false-rollback
  rate** over `--runs` seeded runs (and its 95% Wilson upper bound), against the
  policy's stated bound alpha / (1 - beta).
- *worse*: the canary fails at `--worse-failure`. Reported: the share rolled back and the
  **median number of canary calls until rollback** (with the range).

Calls arrive one by one; each routes to the canary with the policy's share (the same
deterministic hash routing a run uses, keyed by the simulated call id), fails with its
version's rate, and the sequential rule decides after every call.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from typing import Annotated, Any

import typer

from skillbank.console import console, emit
from skillbank.errors import ValidationError
from skillbank.governance.canary import ArmStats, SequentialRule, routes_to_canary
from skillbank.governance.policy import load_policy


def simulate(rule: SequentialRule, *, incumbent_failure: float, canary_failure: float, seed: int,
             max_total_calls: int = 100_000) -> tuple[str, int, int]:
    """One canary's life: (decision, canary calls, all calls) at the decision."""
    rng = random.Random(seed)
    canary, incumbent = ArmStats(), ArmStats()
    for n in range(max_total_calls):
        if routes_to_canary(f"sim-{seed}", f"call-{n}", "skill", rule.rules.share):
            canary = canary.add(rng.random() >= canary_failure)
        else:
            incumbent = incumbent.add(rng.random() >= incumbent_failure)
        decision = rule.decide(canary, incumbent)
        if decision.action != "continue":
            return decision.action, canary.calls, n + 1
    return "undecided", canary.calls, max_total_calls


def _wilson_upper(k: int, n: int, z: float = 1.96) -> float:
    if n == 0:
        return 1.0
    p = k / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return min(1.0, (centre + spread) / (1 + z * z / n))


def run_bench(*, runs: int = 500, seed: int = 0, incumbent_failure: float = 0.10, worse_failure: float = 0.30,
              policy_path: str | None = None) -> dict[str, Any]:
    if runs < 1:
        raise ValidationError(f"--runs must be at least 1, got {runs}")
    for name, value in (("--incumbent-failure", incumbent_failure), ("--worse-failure", worse_failure)):
        if not 0.0 <= value < 1.0:
            raise ValidationError(f"{name} must be in [0, 1), got {value}")
    policy = load_policy(policy_path)
    rule = SequentialRule(policy.canary)
    started = time.perf_counter()
    good = [simulate(rule, incumbent_failure=incumbent_failure, canary_failure=incumbent_failure, seed=seed + i)
            for i in range(runs)]
    bad = [simulate(rule, incumbent_failure=incumbent_failure, canary_failure=worse_failure, seed=seed + runs + i)
           for i in range(runs)]
    false_rollbacks = sum(d == "rollback" for d, _, _ in good)
    rolled = [c for d, c, _ in bad if d == "rollback"]
    good_calls = [c for d, c, _ in good if d == "promote"]
    return {
        "rule": "failure-attribution SPRT (Wald)",
        "policy": policy.to_dict()["canary"],
        "stated_false_alarm_bound": round(rule.false_alarm_bound, 6),
        "runs": runs,
        "seed": seed,
        "incumbent_failure": incumbent_failure,
        "as_good": {
            "canary_failure": incumbent_failure,
            "false_rollbacks": false_rollbacks,
            "false_rollback_rate": round(false_rollbacks / runs, 4),
            "false_rollback_rate_wilson95_upper": round(_wilson_upper(false_rollbacks, runs), 4),
            "promoted": len(good_calls),
            "median_canary_calls_to_promotion": statistics.median(good_calls) if good_calls else None,
        },
        "worse": {
            "canary_failure": worse_failure,
            "rolled_back": len(rolled),
            "rollback_rate": round(len(rolled) / runs, 4),
            "median_canary_calls_to_rollback": statistics.median(rolled) if rolled else None,
            "canary_calls_to_rollback_range": [min(rolled), max(rolled)] if rolled else None,
            "median_all_calls_to_rollback": statistics.median([n for d, _, n in bad if d == "rollback"]) if rolled else None,
        },
        "duration_ms": round(1000 * (time.perf_counter() - started), 1),
    }


def command(
    runs: Annotated[int, typer.Option("--runs", help="Seeded runs per population (as good, worse).")] = 500,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    incumbent_failure: Annotated[float, typer.Option("--incumbent-failure", help="The incumbent's failure rate.")] = 0.10,
    worse_failure: Annotated[float, typer.Option("--worse-failure", help="The worse canary's failure rate.")] = 0.30,
    policy: Annotated[str | None, typer.Option("--policy", help="A policy TOML file (default: the shipped one).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the JSON object only.")] = False,
) -> None:
    """False-rollback rate of as-good canaries and calls-to-rollback of worse ones."""
    result = run_bench(runs=runs, seed=seed, incumbent_failure=incumbent_failure, worse_failure=worse_failure,
                       policy_path=policy)

    def render(r: dict[str, Any]) -> None:
        g, w = r["as_good"], r["worse"]
        console.print(f"canary bench ({r['rule']}, {r['runs']} runs each, incumbent failure {r['incumbent_failure']})")
        console.print(f"  as good: false rollbacks {g['false_rollbacks']}/{r['runs']} = {100 * g['false_rollback_rate']:.1f}% "
                      f"(95% upper {100 * g['false_rollback_rate_wilson95_upper']:.1f}%, stated bound "
                      f"{100 * r['stated_false_alarm_bound']:.2f}%)")
        console.print(f"  worse ({w['canary_failure']}): rolled back {100 * w['rollback_rate']:.1f}%, median canary calls "
                      f"to rollback {w['median_canary_calls_to_rollback']} (range {w['canary_calls_to_rollback_range']})")

    emit(result, json_, render)
