"""The governance policy: what a skill version must show before it is trusted, how a
canary is watched, when a red-team finding quarantines.

A policy is a TOML file that loads into :class:`GovernancePolicy`; keys left out keep
their defaults, unknown keys are an error. The defaults ship in this module
(:data:`DEFAULT_POLICY_TOML`) and say that one success is not enough: at least three
successful calls on at least two distinct tasks, the whole suite passing, a clean
red-team report and no regression.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillbank.errors import ValidationError

SEVERITIES = ("info", "low", "medium", "high", "critical")

DEFAULT_POLICY_TOML = """\
# skillbank's default governance policy (`skillbank policy show` prints the one in force).

[gate]
min_successful_calls = 3      # successful calls (no error, task passed) before promotion
min_distinct_tasks = 2        # ... spread over at least this many tasks
require_suite_pass = true     # every case of the version's suite passes
require_redteam_clean = true  # no red-team finding at or above redteam.block_severity
block_regressions = true      # an update that fails a case its predecessor passed is never promoted
require_approval = false      # a person must run `skillbank skills approve NAME@V`

[canary]
share = 0.10                  # share of a name's calls routed to its canary
worse_ratio = 2.0             # H1: the canary fails this many times as often as the incumbent
alpha = 0.025                 # SPRT type I error (false rollback); bound by Ville: alpha / (1 - beta)
beta = 0.10                   # SPRT type II error (missed rollback)
min_calls = 5                 # canary calls before it may be promoted
max_calls = 200               # canary calls after which an undecided canary is promoted

[redteam]
quarantine_severity = "high"  # findings at or above this quarantine the version
block_severity = "medium"     # findings at or above this block promotion
fuzz_examples = 12            # hypothesis draws per skill, besides the fixed edge cases
timeout_s = 5.0               # wall clock per sandboxed call (fuzzing, audit, replay)
"""


@dataclass(frozen=True)
class GateRules:
    min_successful_calls: int = 3
    min_distinct_tasks: int = 2
    require_suite_pass: bool = True
    require_redteam_clean: bool = True
    block_regressions: bool = True
    require_approval: bool = False


@dataclass(frozen=True)
class CanaryRules:
    share: float = 0.10
    worse_ratio: float = 2.0
    alpha: float = 0.025
    beta: float = 0.10
    min_calls: int = 5
    max_calls: int = 200


@dataclass(frozen=True)
class RedteamRules:
    quarantine_severity: str = "high"
    block_severity: str = "medium"
    fuzz_examples: int = 12
    timeout_s: float = 5.0


@dataclass(frozen=True)
class GovernancePolicy:
    gate: GateRules = field(default_factory=GateRules)
    canary: CanaryRules = field(default_factory=CanaryRules)
    redteam: RedteamRules = field(default_factory=RedteamRules)
    source: str = "default"  # where it was loaded from

    def __post_init__(self) -> None:
        g, c, r = self.gate, self.canary, self.redteam
        for name, value in (("gate.min_successful_calls", g.min_successful_calls),
                            ("gate.min_distinct_tasks", g.min_distinct_tasks),
                            ("canary.min_calls", c.min_calls), ("canary.max_calls", c.max_calls),
                            ("redteam.fuzz_examples", r.fuzz_examples)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValidationError(f"policy: {name} must be a non-negative integer, got {value!r}")
        if not 0.0 < c.share < 1.0:
            raise ValidationError(f"policy: canary.share must be in (0, 1), got {c.share!r}")
        if not c.worse_ratio > 1.0:
            raise ValidationError(f"policy: canary.worse_ratio must be > 1, got {c.worse_ratio!r}")
        for name, rate in (("canary.alpha", c.alpha), ("canary.beta", c.beta)):
            if not 0.0 < rate < 0.5:
                raise ValidationError(f"policy: {name} must be in (0, 0.5), got {rate!r}")
        if c.max_calls < c.min_calls:
            raise ValidationError("policy: canary.max_calls must be >= canary.min_calls")
        for name, severity in (("redteam.quarantine_severity", r.quarantine_severity),
                               ("redteam.block_severity", r.block_severity)):
            if severity not in SEVERITIES:
                raise ValidationError(f"policy: {name} must be one of {', '.join(SEVERITIES)}, got {severity!r}")
        if not r.timeout_s > 0:
            raise ValidationError(f"policy: redteam.timeout_s must be positive, got {r.timeout_s!r}")

    @property
    def false_alarm_bound(self) -> float:
        """Wald's bound on the probability that an as-good canary is rolled back."""
        return self.canary.alpha / (1.0 - self.canary.beta)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "gate": dataclasses.asdict(self.gate), "canary": dataclasses.asdict(self.canary),
                "redteam": dataclasses.asdict(self.redteam), "false_alarm_bound": round(self.false_alarm_bound, 6)}


def _section(cls: type, data: Any, name: str) -> Any:
    if not isinstance(data, dict):
        raise ValidationError(f"policy: [{name}] must be a table")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValidationError(f"policy: unknown key(s) in [{name}]: {', '.join(unknown)}; known: {', '.join(known)}")
    values = {}
    for key, value in data.items():
        default = getattr(cls(), key)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ValidationError(f"policy: {name}.{key} must be true or false, got {value!r}")
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(default) is not type(value):
            raise ValidationError(f"policy: {name}.{key} must be a {type(default).__name__}, got {value!r}")
        values[key] = value
    return cls(**values)


def parse_policy(text: str, source: str = "<string>") -> GovernancePolicy:
    """A policy from TOML text; missing keys keep their defaults."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"policy {source}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"gate", "canary", "redteam"})
    if unknown:
        raise ValidationError(f"policy {source}: unknown section(s) {', '.join(unknown)}; known: gate, canary, redteam")
    return GovernancePolicy(
        gate=_section(GateRules, data.get("gate", {}), "gate"),
        canary=_section(CanaryRules, data.get("canary", {}), "canary"),
        redteam=_section(RedteamRules, data.get("redteam", {}), "redteam"),
        source=source,
    )


def load_policy(path: str | Path | None = None) -> GovernancePolicy:
    """The policy in `path` (TOML), or the shipped defaults when `path` is None."""
    if path is None:
        return parse_policy(DEFAULT_POLICY_TOML, "default")
    p = Path(path)
    if not p.is_file():
        raise ValidationError(f"policy file {str(p)!r} does not exist")
    return parse_policy(p.read_text(encoding="utf-8"), str(p))


def severity_at_least(severity: str, threshold: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(threshold)
