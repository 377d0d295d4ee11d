"""The web dashboard, served by the same app as the REST API (server-rendered Jinja2).

A person logs in by pasting an API token; it is kept in an HttpOnly, SameSite=Strict
cookie and checked on every page exactly like a bearer token (namespace and role).
Pages: the library overview (skills by status, most used, recently changed), a skill
page (versions, the diff between any two, source, call statistics, events; promote and
roll-back buttons for admin tokens only), runs (summary, governance, failed tasks,
figures, per-scenario table)
and canaries. Forms that change anything carry a CSRF value derived from the cookie's
token, which another site cannot read; the login form carries one of its own (a
cookie set with the form, echoed in it), and logging out is a POST with the session's.
Lists are paged; the overview reads counts and the most used versions in SQL, never
the whole namespace. Runs shown are the token's namespace's only.
"""

import datetime as dt
import difflib
import hashlib
import hmac
import secrets
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import DictLoader, Environment, select_autoescape

from skillbank.errors import ConflictError, NotFoundError, SkillbankError
from skillbank.serve.guard import find_namespaced_run, namespaced_runs
from skillbank.serve.skillview import canary_rows, skill_page
from skillbank.serve.templates import TEMPLATES
from skillbank.serve.tokens import ApiToken, TokenRegistry
from skillbank.store.base import VersionStatus

COOKIE = "skillbank_token"
LOGIN_CSRF_COOKIE = "skillbank_login_csrf"
PAGE_SIZE = 50
# The logged-in session's CSRF value, for the log-out form every page carries.
_session_csrf: ContextVar[str] = ContextVar("skillbank_session_csrf", default="")


def _csrf(secret: str) -> str:
    return hmac.new(secret.encode(), b"skillbank-dashboard-csrf", hashlib.sha256).hexdigest()[:32]


def _when(at: dt.datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M:%S")


def _rate(ok: int, calls: int) -> str:
    return "" if not calls else f"{100 * ok / calls:.0f}%"


def _form_int(text: str | None, *, high: int = 2**31 - 1) -> int | None:
    """A form or query field as an integer in [0, high]: None when blank, ValueError
    when it is not one (the page answers 422)."""
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 12 or int(text) > high:
        raise ValueError(text)
    return int(text)


def _page_number(text: str | None) -> int:
    try:
        return max(1, _form_int(text, high=1_000_000) or 1)
    except ValueError:
        return 1


def _same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def move_promoted(store: Any, name: str, version: int, *, namespace: str, expected_generation: int | None,
                  actor: str, reason: str = "") -> str:
    """Point `promoted` at `version` through governance (compare-and-set; the version it
    pointed at is retired): a roll-back when `version` is older than the promoted one, a
    promotion otherwise. Governance's refusals stand: a quarantined version, and one that
    has not passed its gate unless the person gave a `reason` (their override, recorded).
    Returns the event type written."""
    from skillbank.governance import Governance

    gov = Governance(store, namespace=namespace, actor=actor)
    current = store.get_alias(name, "promoted", namespace=namespace)
    if current is not None and version < current.version:
        gov.rollback(name, to=version, actor=actor, reason="rolled back from the dashboard",
                     expected_generation=expected_generation)
        return "rolled_back"
    reason = reason.strip()
    gov.promote(name, version, actor=actor, reason=reason or "promoted from the dashboard",
                expected_generation=expected_generation, force=bool(reason))
    return "promoted"


def add_dashboard(app: FastAPI, store: Any, registry: TokenRegistry, runs_dir: str | Path | None) -> None:
    env = Environment(loader=DictLoader(TEMPLATES), autoescape=select_autoescape(default=True, default_for_string=True))

    def page(template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("logout_csrf", _session_csrf.get())
        return HTMLResponse(env.get_template(template).render(**ctx), status_code=status)

    def session(request: Request) -> tuple[ApiToken, str] | None:
        secret = request.cookies.get(COOKIE)
        if not secret:
            return None
        token = registry.lookup(secret)
        if token is None:
            return None
        request.state.token = token  # the access log names its id
        _session_csrf.set(_csrf(secret))
        return token, secret

    def refuse(request: Request, tok: ApiToken, status: int, detail: str) -> None:
        audit = getattr(request.app.state, "audit", None)
        if audit is not None:
            audit.record(client=request.client.host if request.client else "unknown", method=request.method,
                         path=request.url.path, status=status, reason=detail, namespace=tok.namespace, token_id=tok.id)

    def to_login() -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    def login_page(status: int = 200, error: str | None = None) -> HTMLResponse:
        value = secrets.token_urlsafe(24)
        resp = page("login.html", status=status, token=None, error=error, login_csrf=value)
        resp.set_cookie(LOGIN_CSRF_COOKIE, value, httponly=True, samesite="strict", max_age=3600, path="/login")
        return resp

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request) -> HTMLResponse:
        return login_page()

    @app.post("/login", include_in_schema=False)
    def login(request: Request, token: Annotated[str, Form(max_length=300)] = "",
              csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
        # Login CSRF: another site can neither read the cookie set with the form nor
        # make the browser send it (SameSite=Strict), so its POST lacks a match.
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not _same_origin(request) or not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
            return login_page(403, "stale or forged login form; log in from this page")
        tok = registry.lookup(token.strip())
        if tok is None:
            return login_page(401, "unknown or revoked token")
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", max_age=12 * 3600)
        resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return resp

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
        s = session(request)
        if s is not None and not hmac.compare_digest(csrf.encode(), _csrf(s[1]).encode()):
            return page("login.html", status=403, token=s[0], error="stale or forged form; reload the page")
        resp = to_login()
        resp.delete_cookie(COOKIE)
        return resp

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request, page_no: Annotated[str | None, Query(alias="page", max_length=20)] = None) -> Response:
        s = session(request)
        if s is None:
            return to_login()
        tok, _ = s
        ns = tok.namespace
        number = _page_number(page_no)
        known = ns in store.namespaces()
        stats: dict[str, Any] = store.stats(namespace=ns) if known else {"skills": 0, "versions": 0, "by_status": {}}
        latest = (store.list_versions(namespace=ns, limit=number * PAGE_SIZE)[(number - 1) * PAGE_SIZE:]
                  if known else [])
        counts = {k: v for k, v in stats["by_status"].items() if v}
        promoted = {}
        for v in latest:
            a = store.get_alias(v.name, "promoted", namespace=ns)
            if a is not None:
                promoted[v.name] = a.version
        calls_by_name = store.call_totals([v.name for v in latest], namespace=ns) if latest else {}
        skills = [{"name": v.name, "version": v.version, "status": v.status.value, "promoted": promoted.get(v.name),
                   "signature": v.signature, "calls": calls_by_name.get(v.name, 0)} for v in latest]
        most_used = [{"name": v.name, "ref": v.ref, "calls": st.calls, "success": _rate(st.successes, st.calls),
                      "latency": f"{1000 * st.total_latency_s / st.calls:.1f} ms"}
                     for v, st in (store.most_called(namespace=ns, limit=10) if known else [])]
        recent_events = store.events(namespace=ns, limit=15)[::-1] if known else []
        recent = [{"at": _when(e.at), "type": e.type, "name": e.name, "actor": e.actor, "reason": e.reason}
                  for e in recent_events]
        order = [s.value for s in VersionStatus]
        return page("overview.html", token=tok, by_status=sorted(counts.items(), key=lambda kv: order.index(kv[0])),
                    n_skills=stats["skills"], n_versions=stats["versions"], skills=skills, most_used=most_used,
                    recent=recent, page_no=number, has_next=number * PAGE_SIZE < stats["skills"])

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
                   "reason": e.reason} for e in store.events(namespace=ns, name=name, limit=200)[::-1][:200]]
        return page("skill.html", token=tok, name=name, versions=rows, promoted=promoted, canary=canary,
                    is_admin=tok.allows("admin"), csrf=_csrf(secret), v1=v1, v2=v2, diff_lines=diff_lines,
                    shown=by_num[v2], events=events, message=message,
                    **skill_page(store, ns, name, versions, show_all_events=request.query_params.get("events") == "all"))

    @app.post("/skills/{name}/promote", include_in_schema=False)
    def promote(request: Request, name: str, version: Annotated[str, Form(max_length=40)] = "",
                csrf: Annotated[str, Form(max_length=100)] = "", generation: Annotated[str, Form(max_length=40)] = "",
                reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
        s = session(request)
        if s is None:
            return to_login()
        tok, secret = s
        if not hmac.compare_digest(csrf.encode(), _csrf(secret).encode()):
            return page("login.html", status=403, token=tok, error="stale or forged form; reload the page")
        if not tok.allows("admin"):
            refuse(request, tok, 403, "promote/roll back needs an 'admin' token")
            return page("login.html", status=403, token=tok, error="promote and roll back need an 'admin' token")
        try:
            number, expected = _form_int(version), _form_int(generation)
        except ValueError:
            return page("login.html", status=422, token=tok,
                        error="version and generation must be whole numbers from 0 to 2147483647")
        if number is None:
            return page("login.html", status=422, token=tok, error="which version? the form named none")
        try:
            kind = move_promoted(store, name, number, namespace=tok.namespace, expected_generation=expected,
                                 actor=f"token:{tok.id}/dashboard", reason=reason)
            msg = f"{kind.replace('_', ' ')}: promoted is now v{number}"
        except ConflictError:
            msg = "someone moved 'promoted' since this page loaded; nothing changed, look again"
        except SkillbankError as exc:
            msg = f"nothing changed: {exc}"
        return RedirectResponse(f"/skills/{quote(name)}?message={quote(msg)}", status_code=303)

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    def runs(request: Request, page_no: Annotated[str | None, Query(alias="page", max_length=20)] = None) -> Response:
        s = session(request)
        if s is None:
            return to_login()
        number = _page_number(page_no)
        mine = namespaced_runs(runs_dir, s[0].namespace)
        rows = []
        for r in mine[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]:
            sm, cfg = r.summary or {}, r.config or {}
            rows.append({
                "run_id": r.run_id, "policy": cfg.get("policy"), "split": cfg.get("split"),
                "skills": "yes" if cfg.get("with_skills", True) else "no", "tasks": r.episodes,
                "tgc": "" if sm.get("tgc") is None else f"{100 * sm['tgc']:.1f}%",
                "sgc": "" if sm.get("sgc") is None else f"{100 * sm['sgc']:.1f}%",
                "steps": "" if sm.get("mean_steps") is None else f"{sm['mean_steps']:.2f}",
                "tokens": "" if sm.get("mean_tokens") is None else f"{sm['mean_tokens']:.0f}",
            })
        return page("runs.html", token=s[0], runs=rows, page_no=number, has_next=number * PAGE_SIZE < len(mine))

    def _run(run_id: str, namespace: str):
        from skillbank.serve.report import load_run_data

        record = find_namespaced_run(runs_dir, namespace, run_id)
        return load_run_data(runs_dir, record.run_id)  # type: ignore[arg-type]

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    def run_page(request: Request, run_id: str) -> Response:
        s = session(request)
        if s is None:
            return to_login()
        from markupsafe import Markup

        from skillbank.serve.report import failures_html, figure_names, governance_html, per_scenario, summary_rows

        try:
            data = _run(run_id, s[0].namespace)
        except SkillbankError as exc:
            return page("login.html", status=404, token=s[0], error=str(exc))
        row = summary_rows([data])[0]
        cards = [(k, row[k]) for k in ("tasks", "TGC", "SGC", "steps", "tokens")]
        # The report's own sections (escaped there), so the page and the report agree.
        return page("run.html", token=s[0], run=data, cards=cards, figures=figure_names([data]),
                    scenarios=per_scenario(data), governance=Markup(governance_html(data)),
                    failures=Markup(failures_html(data)))

    @app.get("/runs/{run_id}/figures/{name}.png", include_in_schema=False)
    def run_figure(request: Request, run_id: str, name: str) -> Response:
        s = session(request)
        if s is None:
            return Response(status_code=401)
        from skillbank.serve.report import run_figures

        try:
            figs = run_figures([_run(run_id, s[0].namespace)], only=name)
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
