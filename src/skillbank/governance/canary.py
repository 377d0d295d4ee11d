"""Canary routing and the sequential rule that promotes or rolls back a canary.

**Routing.** While a name has a canary, a call goes to the canary when
``hash(run, task, name)`` falls in the lowest `share` of the hash space: deterministic
per call id, so replaying a run routes every call the same way.

**The rule: a failure-attribution SPRT (Wald's sequential probability ratio test).**
Only failures carry information about which version is worse, so the test looks at each
failure and asks which version it came from. With routing share ``r`` and failure rates
``q_c`` (canary) and ``q_i`` (incumbent), a failure comes from the canary with
probability ``pi = r q_c / (r q_c + (1 - r) q_i)``. Under H0 (canary as good:
``q_c = q_i``) ``pi0 = r``; under H1 (canary worse: ``q_c = k q_i``, ``k`` =
`worse_ratio`) ``pi1 = r k / (r k + 1 - r)``. Both are known numbers, whatever the
incumbent's own failure rate, so the test is an ordinary Bernoulli SPRT on the failure
stream with Wald's thresholds ``A = (1 - beta) / alpha`` and ``B = beta / (1 - alpha)``:

- log-likelihood ratio >= log A: **roll back**. The false-alarm (false rollback)
  probability is at most ``1 / A = alpha / (1 - beta)``, for every incumbent failure
  rate: under H0 the likelihood ratio is a non-negative martingale with mean 1, so by
  Ville's inequality it ever reaches A with probability at most 1 / A, however long the
  canary runs and whenever it is looked at. The defaults (alpha 0.025, beta 0.10) bound
  it by 2.78%.
- log-likelihood ratio <= log B, once the canary has had `min_calls` calls: **promote**.
- after `max_calls` canary calls without a rollback: **promote** (truncation only ever
  stops without rejecting, so it cannot raise the false-alarm rate).

Success, error and latency are kept per version (:class:`ArmStats`); latency is reported
beside the decision, not tested.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from skillbank.governance.policy import CanaryRules


def routes_to_canary(run_id: str, task_id: str, name: str, share: float) -> bool:
    """Deterministic per call id: the same (run, task, name) always routes the same way."""
    digest = hashlib.sha256(f"{run_id}\x00{task_id}\x00{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


@dataclass(frozen=True)
class ArmStats:
    """One version's calls while the canary runs."""

    calls: int = 0
    successes: int = 0
    failures: int = 0
    total_latency_s: float = 0.0

    def add(self, ok: bool, latency_s: float = 0.0) -> ArmStats:
        return ArmStats(self.calls + 1, self.successes + ok, self.failures + (not ok), self.total_latency_s + latency_s)

    @property
    def failure_rate(self) -> float:
        return self.failures / self.calls if self.calls else 0.0

    @property
    def mean_latency_s(self) -> float:
        return self.total_latency_s / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class CanaryDecision:
    action: str  # "promote" | "rollback" | "continue"
    llr: float
    upper: float  # log A
    lower: float  # log B
    canary: ArmStats
    incumbent: ArmStats
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action, "llr": round(self.llr, 6), "upper": round(self.upper, 6),
            "lower": round(self.lower, 6), "reason": self.reason,
            "canary": {"calls": self.canary.calls, "failures": self.canary.failures,
                       "failure_rate": round(self.canary.failure_rate, 6),
                       "mean_latency_ms": round(1000 * self.canary.mean_latency_s, 3)},
            "incumbent": {"calls": self.incumbent.calls, "failures": self.incumbent.failures,
                          "failure_rate": round(self.incumbent.failure_rate, 6),
                          "mean_latency_ms": round(1000 * self.incumbent.mean_latency_s, 3)},
        }


class SequentialRule:
    """The failure-attribution SPRT above, for one routing share and policy."""

    def __init__(self, rules: CanaryRules):
        self.rules = rules
        r, k = rules.share, rules.worse_ratio
        self.pi0 = r
        self.pi1 = r * k / (r * k + 1.0 - r)
        self.upper = math.log((1.0 - rules.beta) / rules.alpha)
        self.lower = math.log(rules.beta / (1.0 - rules.alpha))
        self._from_canary = math.log(self.pi1 / self.pi0)
        self._from_incumbent = math.log((1.0 - self.pi1) / (1.0 - self.pi0))

    @property
    def false_alarm_bound(self) -> float:
        return math.exp(-self.upper)

    def llr(self, canary: ArmStats, incumbent: ArmStats) -> float:
        return canary.failures * self._from_canary + incumbent.failures * self._from_incumbent

    def decide(self, canary: ArmStats, incumbent: ArmStats) -> CanaryDecision:
        llr = self.llr(canary, incumbent)
        if llr >= self.upper:
            action, why = "rollback", (f"the canary's failures ({canary.failures} in {canary.calls} calls) against the "
                                       f"incumbent's ({incumbent.failures} in {incumbent.calls}) crossed the SPRT's upper "
                                       f"bound: worse at false-alarm bound {self.false_alarm_bound:.3f}")
        elif llr <= self.lower and canary.calls >= self.rules.min_calls:
            action, why = "promote", "the SPRT accepted 'as good as the incumbent'"
        elif canary.calls >= self.rules.max_calls:
            action, why = "promote", f"{canary.calls} canary calls without crossing the rollback bound"
        else:
            action, why = "continue", "not enough evidence yet"
        return CanaryDecision(action, llr, self.upper, self.lower, canary, incumbent, why)
