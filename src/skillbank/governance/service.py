"""`Governance`: evaluation, red-teaming, the promotion gate, canaries, rollback and
quarantine, tied to a `LibraryStore`.

It is the only writer of ``promoted``, ``canaried`` and ``rolled_back`` events. Its own
records are events too (so they travel with export/import):

- ``case_recorded`` (a case of one version's evidence; payload: the case and its live
  outcome, if it was observed in a run), ``case_added`` (a name's user case);
- ``observed`` (one call of a version in a run: ok, task passed, latency);
- ``evaluated`` (the suite's outcomes, regressions), ``redteamed`` (findings),
  ``gate_checked`` (every rule's verdict and the numbers behind it);
- ``approved`` / ``released`` (a person's word), ``quarantined``;
- ``promoted``, ``canaried``, ``rolled_back`` (with who, why and the evidence).

Aliases move only by compare-and-set: ``promoted`` and ``canary`` per name. A canary is
active while the version its alias names has status ``canary``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from skillbank.agent.operations import OperationKind
from skillbank.errors import ConflictError, NotFoundError, ValidationError
from skillbank.governance.canary import ArmStats, CanaryDecision, SequentialRule, routes_to_canary
from skillbank.governance.cases import MAX_CASE_CHARS, EvalCase
from skillbank.governance.evaluation import EvaluationReport, evaluate
from skillbank.governance.gate import Evidence, GateDecision, PromotionGate
from skillbank.governance.harness import Harness
from skillbank.governance.policy import GovernancePolicy, load_policy, severity_at_least
from skillbank.governance.quarantine import quarantine as _quarantine
from skillbank.governance.quarantine import release as _release
from skillbank.governance.recorder import RecordedCall
from skillbank.governance.redteam import RedteamReport, redteam
from skillbank.refs import parse_version_ref
from skillbank.store.base import (
    DEFAULT_NAMESPACE,
    AliasMove,
    Event,
    EventType,
    LibraryStore,
    NewEvent,
    StatusChange,
    StoredVersion,
    VersionStatus,
)

if TYPE_CHECKING:
    from skillbank.agent.trace import EpisodeTrace

PROMOTED_ALIAS = "promoted"
CANARY_ALIAS = "canary"
CASE_RECORDED = EventType.CASE_RECORDED.value
CASE_ADDED = EventType.CASE_ADDED.value
OBSERVED = EventType.OBSERVED.value
REDTEAMED = EventType.REDTEAMED.value
GATE_CHECKED = EventType.GATE_CHECKED.value
APPROVED = EventType.APPROVED.value
GOVERNANCE_ERROR = EventType.GOVERNANCE_ERROR.value


@dataclass(frozen=True)
class Move:
    """An alias move governance made: what, from where to where, and why."""

    action: str  # promoted | canaried | rolled_back
    name: str
    version: int
    from_version: int | None
    generation: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Governance:
    """Governance over one namespace of a library. `harness` (a sandbox pool and
    worlds) is needed for anything that runs a skill: evaluation, fuzzing and the
    side-effect audit; without it only the static scan and alias moves work."""

    def __init__(self, store: LibraryStore, *, policy: GovernancePolicy | None = None,
                 namespace: str = DEFAULT_NAMESPACE, harness: Harness | None = None, actor: str = "governance"):
        self.store = store
        self.policy = policy or load_policy()
        self.namespace = namespace
        self.harness = harness
        self.actor = actor
        self.gate = PromotionGate(self.policy)
        self.rule = SequentialRule(self.policy.canary)

    # -- look-ups ---------------------------------------------------------------------

    def version(self, name: str, ref: int | str | None = None) -> StoredVersion:
        return self.store.get_version(name, ref, namespace=self.namespace)

    def _events(self, name: str, types: str | tuple[str, ...] | None = None) -> list[Event]:
        return self.store.events(namespace=self.namespace, name=name, type=list(types) if isinstance(types, tuple) else types)

    def _event(self, type: str, v: StoredVersion | None, *, name: str | None = None, reason: str | None = None,
               payload: dict[str, Any] | None = None, actor: str | None = None) -> Event:
        return self.store.record_event(type, namespace=self.namespace, name=name or (v.name if v else None),
                                       version_id=v.id if v else None, actor=actor or self.actor, reason=reason,
                                       payload=payload or {})

    def active_canary(self, name: str) -> StoredVersion | None:
        alias = self.store.get_alias(name, CANARY_ALIAS, namespace=self.namespace)
        if alias is None:
            return None
        v = self.store.get_version_by_id(alias.version_id)
        return v if v.status is VersionStatus.CANARY else None

    def incumbent(self, name: str) -> StoredVersion | None:
        alias = self.store.get_alias(name, PROMOTED_ALIAS, namespace=self.namespace)
        return None if alias is None else self.store.get_version_by_id(alias.version_id)

    # -- evidence ---------------------------------------------------------------------

    def record_error(self, version: StoredVersion, reason: str) -> Event:
        """Record that governance failed on `version` (a ``governance_error`` event);
        the version is left as it was."""
        return self._event(GOVERNANCE_ERROR, version, reason=reason)

    def record_case(self, version: StoredVersion, case: EvalCase, *, outcome: bool | None = None) -> None:
        self._event(CASE_RECORDED, version, payload={"case": case.to_dict(), "outcome": outcome})

    def add_user_cases(self, name: str, cases: list[EvalCase], *, actor: str) -> list[str]:
        self.version(name)  # the name must exist
        for case in cases:
            self._event(CASE_ADDED, None, name=name, actor=actor, payload={"case": case.to_dict()},
                        reason="user case attached")
        return [c.id for c in cases]

    def observe(self, version: StoredVersion, *, ok: bool, task_success: bool | None, latency_s: float = 0.0,
                task_id: str | None = None, run_id: str | None = None) -> None:
        self._event(OBSERVED, version, payload={"ok": bool(ok), "task_success": task_success, "latency_s": latency_s,
                                                "task_id": task_id, "run_id": run_id})

    def cases_of(self, version: StoredVersion) -> list[tuple[EvalCase, bool | None]]:
        out = []
        for e in self._events(version.name, CASE_RECORDED):
            if e.version_id == version.id:
                try:
                    out.append((EvalCase.from_dict(e.payload.get("case")), e.payload.get("outcome")))
                except ValidationError:
                    continue
        return out

    def user_cases(self, name: str) -> list[EvalCase]:
        out = []
        for e in self._events(name, CASE_ADDED):
            try:
                out.append(EvalCase.from_dict(e.payload.get("case")))
            except ValidationError:
                continue
        return out

    def suite(self, version: StoredVersion) -> list[tuple[EvalCase, str]]:
        suite = [(c, "own") for c, _ in self.cases_of(version)]
        parent = self._parent(version)
        if parent is not None:
            suite += [(c, "predecessor") for c, _ in self.cases_of(parent)]
        suite += [(c, "user") for c in self.user_cases(version.name)]
        return suite

    def _parent(self, version: StoredVersion) -> StoredVersion | None:
        pid = version.provenance.parent_version_id
        if pid is None:
            return None
        try:
            return self.store.get_version_by_id(pid)
        except NotFoundError:
            return None

    def passed_cases(self, version: StoredVersion) -> dict[str, bool]:
        """Each case's last known outcome for `version`: live, then its evaluations."""
        known: dict[str, bool] = {}
        for case, outcome in self.cases_of(version):
            if outcome is not None:
                known[case.id] = bool(outcome)
        last = self.last_event(version, EventType.EVALUATED.value)
        if last is not None:
            for o in last.payload.get("outcomes", []):
                if isinstance(o, dict) and isinstance(o.get("case_id"), str):
                    known[o["case_id"]] = bool(o.get("passed"))
        return known

    def last_event(self, version: StoredVersion, type: str) -> Event | None:
        """The latest event of `type` about `version` (None: there is none)."""
        found = [e for e in self._events(version.name, type) if e.version_id == version.id]
        return found[-1] if found else None

    def evidence(self, version: StoredVersion) -> Evidence:
        events = [e for e in self._events(version.name) if e.version_id == version.id]
        observed = [e for e in events if e.type == OBSERVED]
        good = [e for e in observed if e.payload.get("ok") and e.payload.get("task_success") is not False]
        evaluated = [e for e in events if e.type == EventType.EVALUATED.value]
        last_eval = evaluated[-1] if evaluated else None
        live_failed = 0
        for e in events:
            if e.type == CASE_RECORDED and e.payload.get("outcome") is False and (last_eval is None or e.id > last_eval.id):
                live_failed += 1
        redteamed = [e for e in events if e.type == REDTEAMED]
        approved = any(e.type == APPROVED for e in events)
        incumbent = self.incumbent(version.name)
        p = last_eval.payload if last_eval else {}
        return Evidence(
            version_id=version.id, ref=version.ref, status=version.status.value,
            successful_calls=len(good), failed_calls=len(observed) - len(good),
            distinct_tasks=len({e.payload.get("task_id") for e in good}),
            evaluated=last_eval is not None, suite_cases=int(p.get("cases", 0)), suite_failed=int(p.get("failed", 0)),
            live_failed=live_failed, regressions=tuple(p.get("regressions", [])),
            redteamed=bool(redteamed), findings=_all_findings(redteamed),
            approved=approved, has_incumbent=incumbent is not None and incumbent.id != version.id,
        )

    # -- evaluation and red-teaming ----------------------------------------------------

    def _need_harness(self, what: str) -> Harness:
        if self.harness is None:
            raise ValidationError(f"{what} runs skills in the sandbox; this Governance has no harness")
        return self.harness

    def evaluate(self, name: str, ref: int | str | None = None) -> EvaluationReport:
        """Run the version's suite in the sandbox; records ``evaluated`` (and the call
        cases its task replays yield)."""
        v = self.version(name, ref)
        harness = self._need_harness("evaluation")
        parent = self._parent(v)
        report = evaluate(harness, version_id=v.id, ref=v.ref, name=v.name, source=v.source, suite=self.suite(v),
                          predecessor_passed=self.passed_cases(parent) if parent else None,
                          predecessor=parent.ref if parent else None)
        known = {c.id for c, _ in self.cases_of(v)}
        for case in report.new_cases:
            if case.id not in known:
                self.record_case(v, case, outcome=True)
                known.add(case.id)
        payload = report.to_dict()
        payload["outcomes"] = payload["outcomes"][:200]
        self._event(EventType.EVALUATED.value, v, payload=payload,
                    reason=f"{report.passed}/{len(report.outcomes)} cases passed"
                    + (f", {len(report.regressions)} regression(s)" if report.regressions else ""))
        return report

    def redteam(self, name: str, ref: int | str | None = None, *, run: bool = True) -> tuple[RedteamReport, bool]:
        """Red-team the version; a finding at or above the policy's quarantine severity
        quarantines it. Returns (report, quarantined)."""
        v = self.version(name, ref)
        # Real arguments for the audit: recorded calls first, then a person's cases.
        with_args = [c for c, _ in self.cases_of(v) if c.kind == "call"] + self.user_cases(v.name)
        recorded = [(list(c.args), dict(c.kwargs)) for c in with_args]
        task_id, seed = v.provenance.task_id, None
        for c in with_args or [c for c, _ in self.cases_of(v)]:
            if c.task_id:
                task_id, seed = c.task_id, c.seed
                break
        report = redteam(self.harness if run else None, version_id=v.id, ref=v.ref, name=v.name, source=v.source,
                         docstring=v.docstring, rules=self.policy.redteam, task_id=task_id, seed=seed,
                         recorded_args=recorded)
        bad = report.at_least(self.policy.redteam.quarantine_severity)
        self._event(REDTEAMED, v, payload={**report.to_dict(), "quarantined": bool(bad)},
                    reason=f"{len(report.findings)} finding(s), worst {report.worst() or 'none'}")
        if bad and v.status is not VersionStatus.QUARANTINED:
            _quarantine(self.store, v, actor=self.actor, reason=f"red-team: {bad[0].kind}: {bad[0].message}"[:500],
                        findings=[f.to_dict() for f in bad])
        return report, bool(bad)

    # -- the gate ---------------------------------------------------------------------

    def check(self, name: str, ref: int | str | None = None, *, record: bool = True) -> GateDecision:
        v = self.version(name, ref)
        decision = self.gate.check(self.evidence(v))
        if record:
            self._event(GATE_CHECKED, v, payload=decision.to_dict(),
                        reason="passed" if decision.passed else "; ".join(decision.reasons)[:500])
        return decision

    def consider(self, name: str, ref: int | str | None = None) -> tuple[GateDecision, Move | None]:
        """Check the gate and, when it passes, promote (no incumbent) or start a canary."""
        decision = self.check(name, ref)
        if not decision.passed:
            return decision, None
        evidence = decision.evidence
        assert evidence is not None, "PromotionGate.check always attaches the evidence it judged"
        why = f"gate passed: {evidence.successful_calls} successful calls on " \
              f"{evidence.distinct_tasks} tasks, suite and red-team clean"
        if decision.target == "promoted":
            return decision, self.promote(name, ref, reason=why, evidence=decision.to_dict())
        return decision, self.start_canary(name, ref, reason=why, evidence=decision.to_dict())

    # -- alias moves ------------------------------------------------------------------

    def _plan(self, name: str, alias: str, v: StoredVersion, expected_generation: int | None | str
              ) -> tuple[AliasMove, int | None, int]:
        """The compare-and-set move of `alias` onto `v`: (move, the version it pointed at,
        its generation after the move). ``"read"`` compares against the alias as read
        now, so the move fails if anyone moves it before the transition commits."""
        current = self.store.get_alias(name, alias, namespace=self.namespace)
        expected = (None if current is None else current.generation) if expected_generation == "read" \
            else cast(int | None, expected_generation)
        if current is not None and current.version_id == v.id and current.generation == expected:
            generation = current.generation  # already there: the store makes it a no-op
        else:
            generation = 1 if expected is None else expected + 1
        return AliasMove(alias, v.id, expected), (None if current is None else current.version), generation

    def _transition(self, name: str, *, actor: str, reason: str, aliases: list[AliasMove],
                    statuses: list[StatusChange], event: NewEvent) -> None:
        """Alias moves, statuses and the event that explains them: one transaction."""
        self.store.transition(name, namespace=self.namespace, actor=actor, reason=reason, aliases=aliases,
                              statuses=statuses, events=[event])

    def gated(self, version: StoredVersion) -> bool:
        """Whether the version's last gate check passed (a canary passed one to become one)."""
        last = self.last_event(version, GATE_CHECKED)
        return last is not None and bool(last.payload.get("passed"))

    def promote(self, name: str, ref: int | str | None = None, *, actor: str | None = None, reason: str | None = None,
                expected_generation: int | None | str = "read", evidence: dict[str, Any] | None = None,
                force: bool = False) -> Move:
        """Point ``promoted`` at the version (default: the active canary, else the
        latest), retire the version it pointed at. Compare-and-set: a concurrent move
        raises ConflictError and changes nothing. A version that has not passed its gate
        (a regression among its reasons) is refused unless a person overrides it with
        `force` and a `reason`; both are recorded in the ``promoted`` event."""
        if ref is None:
            canary = self.active_canary(name)
            v = canary if canary is not None else self.version(name)
        else:
            v = self.version(name, ref)
        if v.status is VersionStatus.QUARANTINED:
            raise ValidationError(f"{v.ref} is quarantined; release it first (skillbank skills release {v.ref})")
        old = self.incumbent(name)
        if old is not None and old.id == v.id:
            raise ValidationError(f"{v.ref} is already the promoted version of {name!r}")
        gated = self.gated(v)
        if not gated:
            if not force:
                why_not = "; ".join(self.gate.check(self.evidence(v)).reasons) or "its gate was never checked"
                raise ValidationError(f"{v.ref} has not passed its gate ({why_not}); a person may override it "
                                      "with --force --reason TEXT")
            if not (reason or "").strip():
                raise ValidationError(f"promoting {v.ref} past its gate (--force) needs --reason TEXT, recorded "
                                      "with the promotion")
        who, why = actor or self.actor, reason or "promoted"
        move, from_version, generation = self._plan(name, PROMOTED_ALIAS, v, expected_generation)
        statuses = [StatusChange(v.id, VersionStatus.PROMOTED, why, expected=(v.status,))]
        if old is not None and old.status is VersionStatus.PROMOTED:
            statuses.append(StatusChange(old.id, VersionStatus.RETIRED, f"replaced by {v.ref}"))
        self._transition(name, actor=who, reason=why, aliases=[move], statuses=statuses, event=NewEvent(
            EventType.PROMOTED.value, v.id, why,
            {"version": v.version, "from_version": from_version, "generation": generation,
             "gate_passed": gated, "forced": bool(force and not gated), "evidence": evidence or {}}))
        return Move("promoted", name, v.version, from_version, generation, why)

    def start_canary(self, name: str, ref: int | str | None = None, *, actor: str | None = None,
                     reason: str | None = None, evidence: dict[str, Any] | None = None,
                     expected_generation: int | None | str = "read") -> Move:
        v = self.version(name, ref)
        incumbent = self.incumbent(name)
        if incumbent is None:
            raise ValidationError(f"{name!r} has no promoted version; a canary needs an incumbent (promote instead)")
        active = self.active_canary(name)
        if active is not None and active.id != v.id:
            raise ConflictError(f"{name!r} already has a canary ({active.ref}); decide it first")
        who, why = actor or self.actor, reason or "canary started"
        move, from_version, generation = self._plan(name, CANARY_ALIAS, v, expected_generation)
        self._transition(name, actor=who, reason=why, aliases=[move], statuses=[
            StatusChange(v.id, VersionStatus.CANARY, why, expected=(v.status,)),
        ], event=NewEvent(EventType.CANARIED.value, v.id, why,
                          {"version": v.version, "share": self.policy.canary.share, "generation": generation,
                           "incumbent": incumbent.version, "evidence": evidence or {}}))
        return Move("canaried", name, v.version, from_version, generation, why)

    def rollback(self, name: str, *, to: int | str | None = None, actor: str | None = None, reason: str | None = None,
                 expected_generation: int | None | str = "read", evidence: dict[str, Any] | None = None) -> Move:
        """With an active canary (and no `to`): end it, the incumbent stays. Otherwise
        move ``promoted`` back to `to` (default: the version promoted before) and
        retire the one it pointed at."""
        who, why = actor or self.actor, reason or "rolled back"
        canary = self.active_canary(name)
        if canary is not None and to is None:
            incumbent = self.incumbent(name)
            if incumbent is None:
                raise NotFoundError(f"{name!r} has a canary but no promoted version to fall back to")
            # The compare-and-set point: the canary alias moves back onto the incumbent,
            # so of two processes ending the same canary one wins and one conflicts.
            move, _, generation = self._plan(name, CANARY_ALIAS, incumbent, expected_generation)
            self._transition(name, actor=who, reason=why, aliases=[move],
                             statuses=[StatusChange(canary.id, VersionStatus.RETIRED, why)],
                             event=NewEvent(EventType.ROLLED_BACK.value, canary.id, why,
                                            {"version": canary.version, "kind": "canary", "incumbent": incumbent.version,
                                             "generation": generation, "evidence": evidence or {}}))
            return Move("rolled_back", name, incumbent.version, canary.version, generation, why)
        current = self.incumbent(name)
        if current is None:
            raise NotFoundError(f"{name!r} has no promoted version to roll back")
        if to is None:
            earlier = [e for e in self._events(name, EventType.PROMOTED.value) if e.version_id != current.id]
            if not earlier:
                raise NotFoundError(f"{name!r} has no earlier promoted version; give --to VERSION")
            earlier_id = earlier[-1].version_id
            assert earlier_id is not None, "a promoted event always names its version"
            target = self.store.get_version_by_id(earlier_id)
        else:
            target = self.version(name, to)
        if target.id == current.id:
            raise ValidationError(f"{target.ref} is already the promoted version of {name!r}")
        if target.status is VersionStatus.QUARANTINED:
            raise ValidationError(f"{target.ref} is quarantined; it cannot be promoted back")
        move, from_version, generation = self._plan(name, PROMOTED_ALIAS, target, expected_generation)
        self._transition(name, actor=who, reason=why, aliases=[move], statuses=[
            StatusChange(target.id, VersionStatus.PROMOTED, why, expected=(target.status,)),
            StatusChange(current.id, VersionStatus.RETIRED, f"rolled back to {target.ref}"),
        ], event=NewEvent(EventType.ROLLED_BACK.value, current.id, why,
                          {"version": current.version, "kind": "promoted", "to_version": target.version,
                           "generation": generation, "evidence": evidence or {}}))
        return Move("rolled_back", name, target.version, from_version, generation, why)

    def approve(self, name: str, ref: int | str | None, *, actor: str, reason: str | None = None) -> StoredVersion:
        v = self.version(name, ref)
        if not actor or actor == self.actor:
            raise ValidationError("an approval must name the person who approves (--actor)")
        if v.status is VersionStatus.QUARANTINED:
            raise ValidationError(f"{v.ref} is quarantined; release it before approving it")
        self._event(APPROVED, v, actor=actor, reason=reason or "approved by a person", payload={"version": v.version})
        return v

    def quarantine(self, name: str, ref: int | str | None, *, actor: str, reason: str) -> StoredVersion:
        v = self.version(name, ref)
        if v.status is VersionStatus.QUARANTINED:
            raise ValidationError(f"{v.ref} is already quarantined")
        return _quarantine(self.store, v, actor=actor, reason=reason)

    def release(self, name: str, ref: int | str | None, *, actor: str, reason: str | None = None) -> StoredVersion:
        return _release(self.store, self.version(name, ref), actor=actor, reason=reason)

    # -- canaries ---------------------------------------------------------------------

    def route(self, name: str, *, run_id: str, task_id: str) -> StoredVersion | None:
        """The version a call of `name` in (run, task) is served: the canary for its
        share of call ids, else the promoted version; None when neither exists."""
        canary = self.active_canary(name)
        if canary is not None and routes_to_canary(run_id, task_id, name, self.policy.canary.share):
            return canary
        return self.incumbent(name)

    def canary_stats(self, name: str) -> tuple[StoredVersion, StoredVersion, ArmStats, ArmStats] | None:
        canary, incumbent = self.active_canary(name), self.incumbent(name)
        if canary is None or incumbent is None:
            return None
        events = self._events(name, (EventType.CANARIED.value, OBSERVED))
        start = max((e.id for e in events if e.type == EventType.CANARIED.value and e.version_id == canary.id), default=0)
        arms = {canary.id: ArmStats(), incumbent.id: ArmStats()}
        for e in events:
            if e.type == OBSERVED and e.id > start and e.version_id in arms:
                ok = bool(e.payload.get("ok")) and e.payload.get("task_success") is not False
                arms[e.version_id] = arms[e.version_id].add(ok, float(e.payload.get("latency_s") or 0.0))
        return canary, incumbent, arms[canary.id], arms[incumbent.id]

    def decide_canary(self, name: str) -> tuple[CanaryDecision, Move | None] | None:
        """Apply the sequential rule to the name's active canary."""
        stats = self.canary_stats(name)
        if stats is None:
            return None
        canary, _incumbent, c, i = stats
        decision = self.rule.decide(c, i)
        if decision.action == "rollback":
            return decision, self.rollback(name, reason=f"automatic: {decision.reason}", evidence=decision.to_dict())
        if decision.action == "promote":
            return decision, self.promote(name, canary.version, reason=f"canary decided: {decision.reason}",
                                          evidence=decision.to_dict())
        return decision, None

    # -- one episode's evidence --------------------------------------------------------

    def record_episode(self, episode: EpisodeTrace, *, seed: int | None, world: str = "apps",
                       recorded: list[RecordedCall] | None = None) -> tuple[list[StoredVersion], list[StoredVersion]]:
        """Turn a graded episode into evidence; returns (versions it saved, versions it
        used). Call cases come from the recorder (first call per skill, in tasks that
        passed); task cases from the episode's code."""
        code = "\n".join(t.code for t in episode.turns if t.ok and t.code)
        if len(code) > MAX_CASE_CHARS:
            code = ""  # an episode this long makes no useful test; its calls still count
        origin = {"run_id": episode.run_id, "episode_id": episode.episode_id, "source": "live"}
        task_case = EvalCase(kind="task", task_id=episode.task_id, seed=seed, world=world, code=code, origin=origin)
        saved: dict[str, StoredVersion] = {}
        for ref in episode.saved:
            try:
                name, number = parse_version_ref(ref)
                saved[name] = self.version(name, number)
            except (NotFoundError, ValidationError):
                continue
        used: dict[str, tuple[StoredVersion, bool]] = {}
        latency: dict[str, float] = {}  # per name: the wall time of the blocks that called it
        for turn in episode.turns:
            for op in turn.operations:
                if op.kind in (OperationKind.USE, OperationKind.CREATE, OperationKind.UPDATE):
                    latency[op.name] = latency.get(op.name, 0.0) + float(turn.exec_duration_s or 0.0)
        for op in episode.operations():
            if op.kind is OperationKind.USE and op.version_id and op.ok is not None:
                try:
                    v = self.store.get_version_by_id(op.version_id)
                except NotFoundError:
                    continue
                before = used.get(v.name, (v, True))[1]
                used[v.name] = (v, before and bool(op.ok))
        firsts: dict[str, RecordedCall] = {}
        for call in recorded or []:
            firsts.setdefault(call.name, call)
        for v in saved.values():
            self.observe(v, ok=True, task_success=episode.success, latency_s=latency.get(v.name, 0.0),
                         task_id=episode.task_id, run_id=episode.run_id)
            if code:
                self.record_case(v, task_case, outcome=episode.success)
        for name, (v, ok) in used.items():
            if name in saved and saved[name].id == v.id:
                continue
            self.observe(v, ok=ok, task_success=episode.success, latency_s=latency.get(name, 0.0),
                         task_id=episode.task_id, run_id=episode.run_id)
            if code:
                self.record_case(v, task_case, outcome=bool(ok and episode.success))
            first = firsts.get(name)
            if first is not None and ok and episode.success and first.args is not None:
                self.record_case(v, EvalCase(kind="call", task_id=episode.task_id, seed=seed, world=world,
                                             args=tuple(first.args), kwargs=first.kwargs or {},
                                             expected_kind=first.result_kind, expected=first.result, origin=origin),
                                 outcome=True)
        return list(saved.values()), [v for v, _ in used.values()]


def _all_findings(reports: list[Event]) -> tuple[dict[str, Any], ...]:
    """Every finding of every red-team report of one version (a version never changes, so
    a later, narrower report such as a static-only one does not clear an earlier finding)."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in reports:
        for f in e.payload.get("findings", []):
            if isinstance(f, dict):
                seen.setdefault((str(f.get("kind")), str(f.get("line")), str(f.get("message"))), f)
    return tuple(seen.values())


__all__ = ["CANARY_ALIAS", "PROMOTED_ALIAS", "Governance", "Move", "severity_at_least"]
