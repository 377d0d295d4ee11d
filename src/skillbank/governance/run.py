"""Governance beside a run of the agent: the main job applies the policy as it goes.

:class:`GovernedRun` is the run's `skillbank.agent.hooks.RunHooks` and keeps its tallies:

- :meth:`wrap_sessions` wraps the run's session factory with the call recorder;
- :meth:`choose_versions` is the retrieval-time version chooser: a name with an active canary is
  served the canary for its share of call ids (deterministic per run, task and name),
  else the promoted version; quarantined versions are never offered;
- :meth:`after_episode` (after the world graded the task) turns the episode into
  evidence, evaluates and red-teams each new version, applies the gate (promote or
  start a canary) and decides canaries;
- :meth:`summary` gives the tallies the run's summary carries.

Modes: ``on`` (the above), ``trust`` (every saved version is promoted at once: what a
library without governance does when it shares what its agents save; for comparison).
"""

from __future__ import annotations

from typing import Any

from skillbank.agent.loop import SessionFactory
from skillbank.agent.trace import EpisodeTrace
from skillbank.errors import ConflictError, SkillbankError, ValidationError
from skillbank.governance.recorder import RecordedCall, recording_sessions
from skillbank.governance.service import Governance
from skillbank.refs import parse_version_ref
from skillbank.store.base import EventType, StoredVersion, VersionStatus
from skillbank.store.serving import SERVED_STATUSES
from skillbank.worlds.base import Task

GOVERNANCE_MODES = ("on", "off", "trust")


class GovernedRun:
    def __init__(self, governance: Governance, *, seed: int | None, world: str = "apps", mode: str = "on"):
        if mode not in ("on", "trust"):
            raise ValidationError(f"governance mode must be one of on, trust (off: no GovernedRun), got {mode!r}")
        self.gov = governance
        self.seed = seed
        self.world = world
        self.mode = mode
        self._recorded: dict[str, list[RecordedCall]] = {}
        self.counts = {"evaluated": 0, "redteamed": 0, "promoted": 0, "canaried": 0, "rolled_back": 0,
                       "quarantined": 0, "regressions_blocked": 0, "gate_blocked": 0, "conflicts": 0,
                       "errors": 0}
        self.decisions: list[dict[str, Any]] = []
        # What happened to each version this run saved or used, keyed by ref, for the
        # run's report: evaluation, red-team, the last gate check and its reasons.
        self.versions: dict[str, dict[str, Any]] = {}

    def _note(self, v: StoredVersion) -> dict[str, Any]:
        return self.versions.setdefault(v.ref, {"ref": v.ref, "id": v.id, "gate_checks": 0, "gate_blocked": 0})

    # -- hooks ------------------------------------------------------------------------

    def wrap_sessions(self, factory: SessionFactory) -> SessionFactory:
        def sink(task_id: str, calls: list[RecordedCall]) -> None:
            self._recorded[task_id] = calls

        return recording_sessions(factory, sink)

    def choose_versions(self, run_id: str, task: Task, versions: list[StoredVersion]) -> list[StoredVersion]:
        out: list[StoredVersion] = []
        names_done: set[str] = set()
        for v in versions:
            if v.status is VersionStatus.QUARANTINED:
                continue
            if v.status in SERVED_STATUSES:
                if v.name in names_done:
                    continue
                served = self.gov.route(v.name, run_id=run_id, task_id=task.id) if self.mode == "on" else v
                served = served or v
                if served.status is VersionStatus.QUARANTINED:
                    continue
                names_done.add(v.name)
                out.append(served)
            else:
                out.append(v)
        return out

    def after_episode(self, episode: EpisodeTrace) -> None:
        recorded = self._recorded.pop(episode.task_id, [])
        if self.mode == "trust":
            self._trust(episode)
            return
        saved, used = self.gov.record_episode(episode, seed=self.seed, world=self.world, recorded=recorded)
        for v in saved:
            if self.gov.last_event(v, EventType.EVALUATED.value) is not None or v.status is not VersionStatus.CANDIDATE:
                continue
            try:
                note = self._note(v)
                report = self.gov.evaluate(v.name, v.version)
                self.counts["evaluated"] += 1
                note["evaluation"] = f"{report.passed}/{len(report.outcomes)} cases passed" + (
                    f", regressions: {', '.join(report.regressions)}" if report.regressions else "")
                red, quarantined = self.gov.redteam(v.name, v.version)
                self.counts["redteamed"] += 1
                self.counts["quarantined"] += quarantined
                note["redteam"] = f"{len(red.findings)} finding(s), worst {red.worst() or 'none'}"
                if quarantined:
                    bad = red.at_least(self.gov.policy.redteam.quarantine_severity)[0]
                    note["quarantine_reason"] = f"red-team: {bad.kind}: {bad.message}"[:500]
            except SkillbankError as exc:
                # The run goes on; the version stays an unevaluated candidate, which the
                # gate never promotes.
                self.counts["errors"] += 1
                self._note(v)["error"] = str(exc)[:500]
                self.gov.record_error(v, str(exc)[:500])
        for v in {x.id: x for x in [*saved, *used]}.values():
            current = self.gov.store.get_version_by_id(v.id)
            if current.status is VersionStatus.CANDIDATE:
                self._consider(current)
        for name in sorted({v.name for v in [*saved, *used]}):
            self._decide(name)

    # -- steps ------------------------------------------------------------------------

    def _consider(self, v: StoredVersion) -> None:
        try:
            decision, move = self.gov.consider(v.name, v.version)
        except ConflictError:
            self.counts["conflicts"] += 1
            return
        note = self._note(v)
        note["gate_checks"] += 1
        note["gate"] = "passed" if decision.passed else "blocked"
        note["gate_reasons"] = [r[:300] for r in decision.reasons[:10]]
        if not decision.passed:
            note["gate_blocked"] += 1
        if move is not None:
            self.counts[move.action] += 1
            self.decisions.append(move.to_dict())
        elif decision.blocked_by_regression:
            self.counts["regressions_blocked"] += 1
        else:
            self.counts["gate_blocked"] += 1

    def _decide(self, name: str) -> None:
        try:
            result = self.gov.decide_canary(name)
        except ConflictError:
            self.counts["conflicts"] += 1
            return
        if result is not None and result[1] is not None:
            move = result[1]
            self.counts[move.action] += 1
            self.decisions.append(move.to_dict())

    def _trust(self, episode: EpisodeTrace) -> None:
        for ref in episode.saved:
            name, number = parse_version_ref(ref)
            v = self.gov.version(name, number)
            if v.status is VersionStatus.CANDIDATE:
                try:
                    self.gov.promote(name, v.version, actor="trust-on-save", reason="saved, therefore trusted",
                                     force=True)
                except (ConflictError, ValidationError):
                    continue
                self.counts["promoted"] += 1

    def summary(self) -> dict[str, Any]:
        return {"mode": self.mode, "policy": self.gov.policy.source, **self.counts,
                "decisions": self.decisions[-50:], "versions": self._version_notes()}

    def _version_notes(self) -> list[dict[str, Any]]:
        """Each version's story in this run (at most 100): where it ended (its status
        now) and the evidence behind that."""
        out = []
        for note in list(self.versions.values())[-100:]:
            row = {k: v for k, v in note.items() if k != "id"}
            try:
                row["status"] = self.gov.store.get_version_by_id(note["id"]).status.value
            except SkillbankError:
                row["status"] = "unknown"
            out.append(row)
        return out


class ServedLibraryRun:
    """The hooks of a governed run against a served library: only the server's own
    governance writes evidence there (no client token records it), so the run saves
    candidates and records nothing else; quarantined versions are still never served."""

    mode = "served"

    def wrap_sessions(self, factory: SessionFactory) -> SessionFactory:
        return factory

    def choose_versions(self, run_id: str, task: Task, versions: list[StoredVersion]) -> list[StoredVersion]:
        return [v for v in versions if v.status is not VersionStatus.QUARANTINED]

    def after_episode(self, episode: EpisodeTrace) -> None:
        return None

    def summary(self) -> dict[str, Any]:
        return {"mode": "served", "note": "a served library: its server alone writes governance's evidence; "
                                          "this run saved candidates only"}
