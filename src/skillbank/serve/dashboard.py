"""The web dashboard, served by the same app as the REST API (server-rendered Jinja2).

A person logs in by pasting an API token; it is kept in an HttpOnly, SameSite=Strict
cookie and checked on every page exactly like a bearer token (namespace and role).
Pages: the library overview (skills by status, most used, recently changed), a skill
page (versions, the diff between any two, source, call statistics, events; promote and
roll-back buttons for admin tokens only), runs (summary, per-scenario table, figures)
and canaries. Forms that change anything carry a CSRF value derived from the cookie's
token, which another site cannot read.
"""

import datetime as dt
import difflib
import hashlib
import hmac
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import DictLoader, Environment, select_autoescape

from skillbank.errors import ConflictError, NotFoundError, SkillbankError
from skillbank.serve.skillview import canary_rows, skill_page
from skillbank.serve.templates import TEMPLATES
from skillbank.serve.tokens import ApiToken, TokenRegistry
from skillbank.store.base import VersionStatus

COOKIE = "skillbank_token"


def _csrf(secret: str) -> str:
    return hmac.new(secret.encode(), b"skillbank-dashboard-csrf", hashlib.sha256).hexdigest()[:32]


def _when(at: dt.datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M:%S")


def _rate(ok: int, calls: int) -> str:
    return "" if not calls else f"{100 * ok / calls:.0f}%"


def move_promoted(store: Any, name: str, version: int, *, namespace: str, expected_generation: int | None,
                  actor: str) -> str:
    """Point `promoted` at `version` through governance (compare-and-set; the version it
    pointed at is retired): a roll-back when `version` is older than the promoted one, a
    promotion otherwise. Governance's refusals (a quarantined version, a regression)
    stand. Returns the event type written."""
    from skillbank.governance import Governance

    gov = Governance(store, namespace=namespace, actor=actor)
    current = store.get_alias(name, "promoted", namespace=namespace)
    if current is not None and version < current.version:
        gov.rollback(name, to=version, actor=actor, reason="rolled back from the dashboard",
                     expected_generation=expected_generation)
        return "rolled_back"
    gov.promote(name, version, actor=actor, reason="promoted from the dashboard", expected_generation=expected_generation)
    return "promoted"


def add_dashboard(app: FastAPI, store: Any, registry: TokenRegistry, runs_dir: str | Path | None) -> None:
    env = Environment(loader=DictLoader(TEMPLATES), autoescape=select_autoescape(default=True, default_for_string=True))

    def page(template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(template).render(**ctx), status_code=status)

    def session(request: Request) -> tuple[ApiToken, str] | None:
        secret = request.cookies.get(COOKIE)
        if not secret:
            return None
        token = registry.lookup(secret)
        return None if token is None else (token, secret)

    def to_login() -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request) -> HTMLResponse:
        return page("login.html", token=None, error=None)

    @app.post("/login", include_in_schema=False)
    def login(token: Annotated[str, Form()] = "") -> Response:
        tok = registry.lookup(token.strip())
        if tok is None:
            return page("login.html", status=401, token=None, error="unknown or revoked token")
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", max_age=12 * 3600)
        return resp

    @app.get("/logout", include_in_schema=False)
    def logout() -> Response:
        resp = to_login()
        resp.delete_cookie(COOKIE)
        return resp

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request) -> Response:
        s = session(request)
        if s is None:
            return to_login()
        tok, _ = s
        ns = tok.namespace
        latest = store.list_versions(namespace=ns) if ns in store.namespaces() else []
        everything = store.list_versions(namespace=ns, latest_only=False) if latest else []
        counts: dict[str, int] = {}
        for v in everything:
            counts[v.status.value] = counts.get(v.status.value, 0) + 1
        promoted = {a.name: a.version for a in store.list_aliases(namespace=ns) if a.alias == "promoted"} if latest else {}
        stats = {v.id: store.call_stats(v.id) for v in everything[:2000]}
        calls_by_name: dict[str, int] = {}
        for v in everything[:2000]:
            calls_by_name[v.name] = calls_by_name.get(v.name, 0) + stats[v.id].calls
        skills = [{"name": v.name, "version": v.version, "status": v.status.value, "promoted": promoted.get(v.name),
                   "signature": v.signature, "calls": calls_by_name.get(v.name, 0)} for v in latest]
        used = sorted((v for v in everything[:2000] if stats[v.id].calls), key=lambda v: -stats[v.id].calls)[:10]
        most_used = [{"name": v.name, "ref": v.ref, "calls": stats[v.id].calls,
                      "success": _rate(stats[v.id].successes, stats[v.id].calls),
                      "latency": f"{1000 * stats[v.id].total_latency_s / stats[v.id].calls:.1f} ms"} for v in used]
        recent_events = store.events(namespace=ns, limit=None)[-15:][::-1] if latest else []
        recent = [{"at": _when(e.at), "type": e.type, "name": e.name, "actor": e.actor, "reason": e.reason}
                  for e in recent_events]
        order = [s.value for s in VersionStatus]
        return page("overview.html", token=tok, by_status=sorted(counts.items(), key=lambda kv: order.index(kv[0])),
                    n_skills=len(latest), n_versions=len(everything), skills=skills, most_used=most_used, recent=recent)

    @app.get("/skills/{name}", response_class=HTMLResponse, include_in_schema=False)
    def skill(request: Request, name: str, v1: int | None = None, v2: int | None = None,
              message: str | None = None) -> Response:
        s = session(request)
        if s is None:
            return to_login()
        tok, secret = s
        ns = tok.namespace
        try:
            versions = store.history(name, namespace=ns)
        except NotFoundError:
            return page("login.html", status=404, token=tok, error=f"no skill {name!r} in namespace {ns!r}")
        if not versions:
            return page("login.html", status=404, token=tok, error=f"no skill {name!r} in namespace {ns!r}")
        by_num = {v.version: v for v in versions}
        promoted = store.get_alias(name, "promoted", namespace=ns)
        canary = store.get_alias(name, "canary", namespace=ns)
        if v2 is None or v2 not in by_num:
            v2 = versions[-1].version
        if v1 is None or v1 not in by_num:
            v1 = versions[-2].version if len(versions) > 1 else v2
        diff_lines = []
        if v1 != v2:
            for line in difflib.unified_diff(by_num[v1].source.splitlines(), by_num[v2].source.splitlines(),
                                             by_num[v1].ref, by_num[v2].ref, lineterm=""):
                cls = "add" if line.startswith("+") and not line.startswith("+++") else (
                    "del" if line.startswith("-") and not line.startswith("---") else "")
                diff_lines.append({"cls": cls, "text": line})
        rows = []
        for v in versions:
            st = store.call_stats(v.id)
            rows.append({"version": v.version, "status": v.status.value, "created": _when(v.created_at),
                         "created_by": v.provenance.created_by, "task": v.provenance.task_id, "calls": st.calls,
                         "success": _rate(st.successes, st.calls)})
        ids = {v.id: v.version for v in versions}
        events = [{"at": _when(e.at), "type": e.type, "version": ids.get(e.version_id or ""), "actor": e.actor,
                   "reason": e.reason} for e in store.events(namespace=ns, name=name, limit=None)[::-1][:200]]
        return page("skill.html", token=tok, name=name, versions=rows, promoted=promoted, canary=canary,
                    is_admin=tok.allows("admin"), csrf=_csrf(secret), v1=v1, v2=v2, diff_lines=diff_lines,
                    shown=by_num[v2], events=events, message=message,
                    **skill_page(store, ns, name, versions, show_all_events=request.query_params.get("events") == "all"))

    @app.post("/skills/{name}/promote", include_in_schema=False)
    def promote(request: Request, name: str, version: Annotated[int, Form()], csrf: Annotated[str, Form()],
                generation: Annotated[str, Form()] = "") -> Response:
        s = session(request)
        if s is None:
            return to_login()
        tok, secret = s
        if not hmac.compare_digest(csrf, _csrf(secret)):
            return page("login.html", status=403, token=tok, error="stale or forged form; reload the page")
        if not tok.allows("admin"):
            store.record_event("access_denied", namespace=tok.namespace, name=name, actor=f"token:{tok.id}",
                               reason="promote/roll back needs an 'admin' token", payload={"path": request.url.path})
            return page("login.html", status=403, token=tok, error="promote and roll back need an 'admin' token")
        expected = int(generation) if generation.strip() else None
        try:
            kind = move_promoted(store, name, version, namespace=tok.namespace, expected_generation=expected,
                                 actor=f"token:{tok.id}/dashboard")
            msg = f"{kind.replace('_', ' ')}: promoted is now v{version}"
        except ConflictError:
            msg = "someone moved 'promoted' since this page loaded; nothing changed, look again"
        except SkillbankError as exc:
            msg = f"nothing changed: {exc}"
        return RedirectResponse(f"/skills/{quote(name)}?message={quote(msg)}", status_code=303)

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    def runs(request: Request) -> Response:
        s = session(request)
        if s is None:
            return to_login()
        from skillbank.agent.trace import list_runs

        rows = []
        for r in list_runs(runs_dir) if runs_dir else []:
            sm, cfg = r.summary or {}, r.config or {}
            rows.append({
                "run_id": r.run_id, "policy": cfg.get("policy"), "split": cfg.get("split"),
                "skills": "yes" if cfg.get("with_skills", True) else "no", "tasks": r.episodes,
                "tgc": "" if sm.get("tgc") is None else f"{100 * sm['tgc']:.1f}%",
                "sgc": "" if sm.get("sgc") is None else f"{100 * sm['sgc']:.1f}%",
                "steps": "" if sm.get("mean_steps") is None else f"{sm['mean_steps']:.2f}",
                "tokens": "" if sm.get("mean_tokens") is None else f"{sm['mean_tokens']:.0f}",
            })
        return page("runs.html", token=s[0], runs=rows)

    def _run(run_id: str):
        from skillbank.serve.report import load_run_data

        if not runs_dir:
            raise NotFoundError("this server has no runs directory")
        return load_run_data(runs_dir, run_id)

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    def run_page(request: Request, run_id: str) -> Response:
        s = session(request)
        if s is None:
            return to_login()
        from skillbank.serve.report import per_scenario, run_figures, summary_rows

        try:
            data = _run(run_id)
        except SkillbankError as exc:
            return page("login.html", status=404, token=s[0], error=str(exc))
        row = summary_rows([data])[0]
        cards = [(k, row[k]) for k in ("tasks", "TGC", "SGC", "steps", "tokens")]
        return page("run.html", token=s[0], run=data, cards=cards, figures=list(run_figures([data])),
                    scenarios=per_scenario(data))

    @app.get("/runs/{run_id}/figures/{name}.png", include_in_schema=False)
    def run_figure(request: Request, run_id: str, name: str) -> Response:
        if session(request) is None:
            return Response(status_code=401)
        from skillbank.serve.report import run_figures

        try:
            figs = run_figures([_run(run_id)])
        except SkillbankError:
            return Response(status_code=404)
        if name not in figs:
            return Response(status_code=404)
        return Response(figs[name], media_type="image/png")

    @app.get("/canaries", response_class=HTMLResponse, include_in_schema=False)
    def canaries(request: Request) -> Response:
        s = session(request)
        if s is None:
            return to_login()
        rows = canary_rows(store, s[0].namespace)
        return page("canaries.html", token=s[0], canaries=rows)
