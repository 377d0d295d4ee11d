"""What the dashboard's skill and canaries pages show, computed from the library (no web
framework here, so it is tested on its own).

- **One meaning of success.** A *successful call* is what the promotion gate counts:
  a call that ran without error in a task that did not fail. A call that merely ran
  without error is counted apart, under that name.
- **The latest** evaluation, red-team report and gate check of each version (by event
  order), with every reason whole: a long one is folded, never cut.
- **Provenance**: each version's parent and the failure log that prompted it.
- **Events** name the alias an ``alias_moved`` / ``alias_removed`` event is about; the
  per-call rows (``case_recorded``, ``observed``, ``called``) are folded into counts
  unless every event is asked for.
- **Canaries**: the SPRT's state (how far the log-likelihood ratio is from its rollback
  and promote thresholds, in failures and calls) and whether the ``canary`` alias is
  governance's (the version's status is ``canary``) or set by hand.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

#: Event types written per call or per recorded case: dozens per version. Folded by default.
NOISY_EVENTS = ("case_recorded", "observed", "called")
#: A reason longer than this is folded behind its first words (the whole text stays on the page).
FOLD_AT = 120


def _when(at: dt.datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M:%S")


def _v(n: Any) -> str:
    return "none" if n is None else f"v{n}"


def folded(text: str | None, at: int = FOLD_AT) -> dict[str, str]:
    """A text for a cell: ``short`` (whole words, ends with …) and ``full``; ``short`` is
    empty when the text fits as it is."""
    full = " ".join(str(text or "").split())
    if len(full) <= at:
        return {"short": "", "full": full}
    cut = full[:at].rsplit(" ", 1)[0] or full[:at]
    return {"short": cut + " …", "full": full}


def describe_event(e: Any, ids: dict[str, int]) -> str:
    """The event's reason, with the alias it moved or removed and the versions involved."""
    p = e.payload or {}
    reason = e.reason or ""
    if e.type == "alias_moved":
        what = f"alias {p.get('alias', '?')}: {_v(p.get('from_version'))} → {_v(p.get('to_version', ids.get(e.version_id or '')))}"
        return f"{what} ({reason})" if reason else what
    if e.type == "alias_removed":
        what = f"alias {p.get('alias', '?')} removed (it pointed at {_v(p.get('version'))})"
        return f"{what} ({reason})" if reason else what
    return reason


def event_view(events: list[Any], ids: dict[str, int], *, show_all: bool, limit: int = 200) -> dict[str, Any]:
    """Rows for the events table, newest first. Unless `show_all`, per-call rows are left
    out and counted by type (``hidden``)."""
    hidden: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for e in reversed(events):
        if not show_all and e.type in NOISY_EVENTS:
            hidden[e.type] = hidden.get(e.type, 0) + 1
            continue
        if len(rows) < limit:
            rows.append({"at": _when(e.at), "type": e.type, "version": ids.get(e.version_id or ""), "actor": e.actor,
                         "reason": folded(describe_event(e, ids))})
    return {"rows": rows, "hidden": sorted(hidden.items()), "show_all": show_all}


def version_rows(store: Any, gov: Any, versions: list[Any]) -> list[dict[str, Any]]:
    """Per version: calls, the calls that ran without error, the successful calls and
    distinct tasks the gate counts, and the provenance (parent, failure log)."""
    by_id = {v.id: v for v in versions}
    rows = []
    for v in versions:
        st = store.call_stats(v.id)
        ev = gov.evidence(v)
        parent = by_id.get(v.provenance.parent_version_id or "")
        if parent is None and v.provenance.parent_version_id:
            try:
                parent = store.get_version_by_id(v.provenance.parent_version_id)
            except Exception:  # noqa: BLE001 - a parent deleted since is shown as unknown
                parent = None
        rows.append({
            "version": v.version, "status": v.status.value, "created": _when(v.created_at),
            "created_by": v.provenance.created_by, "task": v.provenance.task_id, "calls": st.calls,
            "no_error": st.successes, "successful": ev.successful_calls, "failed": ev.failed_calls,
            "distinct_tasks": ev.distinct_tasks,
            "parent": None if parent is None else parent.version,
            "parent_ref": None if parent is None else parent.ref,
            "failure_log": v.provenance.failure_log or "",
            "run": v.provenance.run_id, "episode": v.provenance.episode_id, "query": v.provenance.query,
        })
    return rows


def _latest(events: list[Any], vid: str) -> Any:
    found = [e for e in events if e.version_id == vid]
    return max(found, key=lambda e: e.id) if found else None


def governance_view(store: Any, namespace: str, name: str, versions: list[Any]) -> list[dict[str, Any]]:
    """Per version (newest first): its latest evaluation with every case's outcome, its
    latest red-team report and its latest gate check, reasons whole (folded when long)."""
    events = store.events(namespace=namespace, name=name, type=["evaluated", "redteamed", "gate_checked"], limit=2000)
    by_type: dict[str, list[Any]] = {}
    for e in events:
        by_type.setdefault(e.type, []).append(e)
    out = []
    for v in reversed(versions):
        ev, rt, gate = (_latest(by_type.get(t, []), v.id) for t in ("evaluated", "redteamed", "gate_checked"))
        if ev is None and rt is None and gate is None:
            continue
        item: dict[str, Any] = {"version": v.version}
        if ev is not None:
            p = ev.payload
            n_evals = len([e for e in by_type.get("evaluated", []) if e.version_id == v.id])
            item["evaluation"] = {
                "at": _when(ev.at), "passed": p.get("passed", 0), "cases": p.get("cases", 0), "of": n_evals,
                "regressions": list(p.get("regressions") or []),
                "outcomes": [{"kind": o.get("kind"), "case": o.get("case_id"), "passed": bool(o.get("passed")),
                              "detail": folded(o.get("detail"))} for o in (p.get("outcomes") or [])],
            }
        if rt is not None:
            p = rt.payload
            item["redteam"] = {
                "at": _when(rt.at), "quarantined": bool(p.get("quarantined")),
                "findings": [{"severity": f.get("severity"), "kind": f.get("kind"), "message": folded(f.get("message"))}
                             for f in (p.get("findings") or [])],
            }
        if gate is not None:
            p = gate.payload
            item["gate"] = {"at": _when(gate.at), "passed": bool(p.get("passed")), "target": p.get("target"),
                            "reasons": [folded(r) for r in (p.get("reasons") or [])]}
        out.append(item)
    return out


def canary_rows(store: Any, namespace: str) -> list[dict[str, Any]]:
    """Every ``canary`` alias of the namespace with its kind and, for governance's
    canaries, the SPRT's state."""
    from skillbank.governance import Governance
    from skillbank.governance.canary import ArmStats
    from skillbank.store.base import VersionStatus

    gov = Governance(store, namespace=namespace)
    rule = gov.rule
    rows = []
    aliases = store.list_aliases(namespace=namespace) if namespace in store.namespaces() else []
    promoted = {a.name: a for a in aliases if a.alias == "promoted"}
    for a in aliases:
        if a.alias != "canary":
            continue
        version = store.get_version_by_id(a.version_id)
        p = promoted.get(a.name)
        row: dict[str, Any] = {"name": a.name, "canary": a.version, "promoted": p.version if p else None,
                               "status": version.status.value}
        if version.status is not VersionStatus.CANARY:
            row["kind"] = "set by hand"
            row["why"] = (f"the alias points at a {version.status.value} version: governance routes no calls to it "
                          "and decides nothing about it")
        elif p is None:
            row["kind"] = "governance"
            row["why"] = "no promoted version to compare it with: governance promotes it at its next decision"
        else:
            row["kind"] = "governance"
        stats = gov.canary_stats(a.name) if row["kind"] == "governance" else None
        if stats is not None:
            _canary, _incumbent, c, i = stats
            d = rule.decide(c, i)
            per_canary_failure = rule.llr(ArmStats(failures=1), ArmStats())
            per_incumbent_failure = rule.llr(ArmStats(), ArmStats(failures=1))
            to_rollback = max(0, math.ceil((d.upper - d.llr) / per_canary_failure - 1e-9))
            to_promote = max(0, math.ceil((d.llr - d.lower) / -per_incumbent_failure - 1e-9))
            row.update({
                "canary_calls": c.calls, "canary_failures": c.failures, "incumbent_calls": i.calls,
                "incumbent_failures": i.failures, "llr": round(d.llr, 3), "upper": round(d.upper, 3),
                "lower": round(d.lower, 3), "action": d.action, "reason": d.reason,
                "position": 0.0 if d.upper == d.lower else max(0.0, min(1.0, (d.llr - d.lower) / (d.upper - d.lower))),
                "to_rollback": to_rollback, "to_promote": to_promote,
                "calls_to_min": max(0, rule.rules.min_calls - c.calls),
                "calls_to_max": max(0, rule.rules.max_calls - c.calls),
                "min_calls": rule.rules.min_calls, "max_calls": rule.rules.max_calls,
            })
        rows.append(row)
    return rows


def skill_page(store: Any, namespace: str, name: str, versions: list[Any], *, show_all_events: bool) -> dict[str, Any]:
    """The skill page's context beyond the versions list and the diff."""
    from skillbank.governance import Governance

    gov = Governance(store, namespace=namespace)
    ids = {v.id: v.version for v in versions}
    return {
        "version_rows": version_rows(store, gov, versions),
        "governance": governance_view(store, namespace, name, versions),
        "event_view": event_view(store.events(namespace=namespace, name=name, limit=2000), ids,
                                 show_all=show_all_events),
        "gate_needs": gov.policy.gate,
    }
