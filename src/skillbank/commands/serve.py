"""`skillbank serve` (the REST API and dashboard over a library) and `skillbank tokens …`."""

from __future__ import annotations

import importlib.util
import logging
import sys
from typing import Annotated, Any

import typer

from skillbank.agent.config import DEFAULT_RUNS_DIR
from skillbank.commands._options import DEFAULT_LIBRARY, JsonOpt, LibraryOpt
from skillbank.console import console, emit, table
from skillbank.errors import ConfigError
from skillbank.store import open_store

tokens_app = typer.Typer(no_args_is_help=True)


def serve(
    library: LibraryOpt = DEFAULT_LIBRARY,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
    runs_dir: Annotated[str, typer.Option("--runs-dir", help="Runs shown by the API and the dashboard.")] = DEFAULT_RUNS_DIR,
    access_log: Annotated[str, typer.Option(
        "--access-log", help="Where the access log goes: a file, '-' for stderr, 'off' for nowhere.")] = "-",
) -> None:
    """Serve a library over HTTP: the REST API under /api/v1 (OpenAPI at /docs) and the dashboard at /.

    Every request is logged (method, path, status, the token's id, client, time); refused
    requests are also counted per client in the library (`skillbank tokens denied`)."""
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"`skillbank serve` needs {', '.join(missing)}: pip install 'skillbank[web]'")
    import uvicorn

    from skillbank.redact import redact_text
    from skillbank.serve.app import create_app

    store = open_store(library)
    if not hasattr(store, "engine"):
        raise ConfigError("serve a library database (SQLite or PostgreSQL), not another server's URL")
    handler = _access_log_handler(access_log)
    app = None
    try:
        app = create_app(store, runs_dir=runs_dir)
        console.print(f"serving {redact_text(str(library))} on http://{host}:{port} (API at /api/v1, docs at /docs); "
                      "Ctrl-C stops", markup=False, highlight=False)
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        if app is not None:
            app.state.audit.close()
        if handler is not None:
            logging.getLogger("skillbank.serve.access").removeHandler(handler)
            handler.close()
        store.close()


def _access_log_handler(where: str) -> logging.Handler | None:
    """The access log's handler: one line per request, with the time."""
    if where == "off":
        return None
    handler: logging.Handler
    if where == "-":
        handler = logging.StreamHandler(sys.stderr)
    else:
        try:
            handler = logging.FileHandler(where, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot open the access log {where!r}: {exc.strerror}") from None
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log = logging.getLogger("skillbank.serve.access")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.propagate = False
    return handler


@tokens_app.command("create")
def create(
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="The one namespace the token may use.")],
    role: Annotated[str, typer.Option("--role", help="read, write or admin.")],
    label: Annotated[str | None, typer.Option("--label", help="A note saying whose token this is.")] = None,
    library: LibraryOpt = DEFAULT_LIBRARY,
    as_json: JsonOpt = False,
) -> None:
    """Create a token and print it ONCE (the library keeps only its hash)."""
    from skillbank.serve.tokens import TokenRegistry

    store = open_store(library)
    try:
        secret, tok = TokenRegistry(store).create(namespace, role, label)
    finally:
        store.close()
    data = {"token": secret, "id": tok.id, "namespace": tok.namespace, "role": tok.role, "label": tok.label}

    def render(d: dict[str, Any]) -> None:
        console.print(f"token {d['id']} ({d['role']} on namespace {d['namespace']}); shown once, keep it now:",
                      markup=False, highlight=False)
        print(d["token"])

    emit(data, as_json, render)


@tokens_app.command("ls")
def ls(library: LibraryOpt = DEFAULT_LIBRARY, as_json: JsonOpt = False) -> None:
    """List tokens (ids, scopes, state; never the secrets)."""
    from skillbank.serve.tokens import TokenRegistry

    store = open_store(library)
    try:
        rows = [vars(t) for t in TokenRegistry(store).list()]
    finally:
        store.close()

    def render(rows: list[dict[str, Any]]) -> None:
        if not rows:
            console.print("no tokens")
            return
        t = table("id", "namespace", "role", "label", "created", "revoked", keep=("id", "created", "revoked"),
                  flex=("label",))
        for r in rows:
            t.add_row(r["id"], r["namespace"], r["role"], r["label"] or "", r["created_at"], r["revoked_at"] or "")
        console.print(t)

    emit(rows, as_json, render)


@tokens_app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from `tokens ls`).")],
    library: LibraryOpt = DEFAULT_LIBRARY,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a token; it stops working on the next request."""
    from skillbank.serve.tokens import TokenRegistry

    store = open_store(library)
    try:
        tok = TokenRegistry(store).revoke(token_id)
    finally:
        store.close()
    emit(vars(tok), as_json, lambda d: console.print(f"revoked token {d['id']} at {d['revoked_at']}", markup=False))


@tokens_app.command("denied")
def denied(
    library: LibraryOpt = DEFAULT_LIBRARY,
    limit: Annotated[int, typer.Option("--limit", help="Clients and samples to show.", min=1, max=100_000)] = 50,
    client: Annotated[str | None, typer.Option("--client", help="Only this client (an address).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The served library's refused requests: counts per client and recent samples."""
    store = open_store(library)
    try:
        if not hasattr(store, "access_denials"):
            raise ConfigError("the refused-request log is in the library's database; run this where it is")
        data = store.access_denials(limit=limit, client=client)
    finally:
        store.close()

    def render(d: dict[str, Any]) -> None:
        if not d["clients"]:
            console.print("no refused requests")
            return
        t = table("client", "status", "count", "first", "last", keep=("status", "count"))
        for r in d["clients"]:
            t.add_row(r["client"], str(r["status"]), str(r["count"]), r["first_at"], r["last_at"])
        console.print(t)
        s = table("at", "client", "status", "method", "path", "token", "reason", flex=("path", "reason"))
        for r in d["samples"]:
            s.add_row(r["at"], r["client"], str(r["status"]), r["method"], r["path"], r["token_id"] or "",
                      r["reason"] or "")
        console.print(s)

    emit(data, as_json, render)


def report(
    runs: Annotated[list[str], typer.Argument(help="One run id (or 'latest'), or two to compare (e.g. with and without skills).")],
    out: Annotated[str, typer.Option("--out", "-o", help="The HTML file to write.")] = "report.html",
    runs_dir: Annotated[str, typer.Option("--runs-dir", help="Directory of run directories.")] = DEFAULT_RUNS_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Write one self-contained HTML report with plots for a run, or two runs compared."""
    from pathlib import Path

    from skillbank.errors import ValidationError
    from skillbank.serve.report import load_run_data, render_report

    if not 1 <= len(runs) <= 2:
        raise ValidationError(f"give one run or two to compare, not {len(runs)}")
    data = [load_run_data(runs_dir, r) for r in runs]
    target = Path(out)
    if target.is_dir():
        raise ValidationError(f"--out {out!r} is a directory; name a file such as {str(target / 'report.html')!r}")
    html_text = render_report(data)
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(html_text, encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        raise ValidationError(f"cannot write {out!r}: {exc.strerror}") from None
    result = {"out": str(target), "runs": [d.run_id for d in data], "bytes": len(html_text.encode())}
    emit(result, as_json, lambda r: console.print(f"wrote {r['out']} ({r['bytes']} bytes) for {', '.join(r['runs'])}",
                                                   markup=False, highlight=False))
