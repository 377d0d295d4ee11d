"""Skill governance: a library earns trust the way a model registry does.

Every saved version is graded on evidence (call, task and user cases, replayed in the
sandbox against fresh worlds), red-teamed (static scan, fuzzing, side-effect audit),
promoted only through a declarative gate, watched as a canary with automatic rollback
(a failure-attribution SPRT, false-rollback probability at most alpha / (1 - beta)),
and quarantined on a high finding until a person releases it.
"""

from skillbank.governance.canary import ArmStats, CanaryDecision, SequentialRule, routes_to_canary
from skillbank.governance.cases import EvalCase, load_user_cases
from skillbank.governance.evaluation import CaseOutcome, EvaluationReport
from skillbank.governance.gate import Evidence, GateDecision, PromotionGate
from skillbank.governance.harness import Harness, WorldCache, open_harness
from skillbank.governance.policy import DEFAULT_POLICY_TOML, GovernancePolicy, load_policy, parse_policy
from skillbank.governance.redteam import Finding, RedteamReport, static_scan
from skillbank.governance.run import GOVERNANCE_MODES, GovernedRun
from skillbank.governance.service import CANARY_ALIAS, PROMOTED_ALIAS, Governance, Move

__all__ = [
    "CANARY_ALIAS",
    "DEFAULT_POLICY_TOML",
    "GOVERNANCE_MODES",
    "PROMOTED_ALIAS",
    "ArmStats",
    "CanaryDecision",
    "CaseOutcome",
    "EvalCase",
    "EvaluationReport",
    "Evidence",
    "Finding",
    "GateDecision",
    "Governance",
    "GovernancePolicy",
    "GovernedRun",
    "Harness",
    "Move",
    "PromotionGate",
    "RedteamReport",
    "SequentialRule",
    "WorldCache",
    "load_policy",
    "load_user_cases",
    "open_harness",
    "parse_policy",
    "routes_to_canary",
    "static_scan",
]
