"""`api_docs`: documentation of every app and API, for the agent to read."""

from __future__ import annotations

from typing import Any

from skillbank.worlds.apps.core import AppDef, CallContext, Param

APP = AppDef("api_docs", "Documentation of the apps and their APIs.", login=False)
TABLES: dict[str, str | None] = {}


@APP.api(
    "show_app_descriptions",
    "List every app with a one-line description.",
    response=[{"name": "string", "description": "string"}],
    auth=False,
)
def show_app_descriptions(ctx: CallContext) -> list[dict[str, str]]:
    return [{"name": a.name, "description": a.description} for a in ctx.env.world.apps.values()]


@APP.api(
    "show_api_descriptions",
    "List the APIs of one app with a one-line description each.",
    [Param("app_name", "string", "The app, e.g. 'mail'.")],
    response=[{"name": "string", "description": "string"}],
    errors=("404 no such app",),
    auth=False,
)
def show_api_descriptions(ctx: CallContext, app_name: str) -> list[dict[str, str]]:
    app = ctx.env.world.apps.get(app_name)
    if app is None:
        ctx.env.world.api(app_name, "login")  # raises the helpful not-found error
    return [{"name": s.name, "description": s.description} for s in app.apis.values()]


@APP.api(
    "show_api_doc",
    "Show the full documentation of one API: parameters (type, required, default, constraints), response and errors.",
    [Param("app_name", "string", "The app, e.g. 'mail'."), Param("api_name", "string", "The API, e.g. 'login'.")],
    response={"app_name": "string", "api_name": "string", "description": "string", "parameters": "list", "response": "any", "errors": "list"},
    errors=("404 no such app or API",),
    auth=False,
)
def show_api_doc(ctx: CallContext, app_name: str, api_name: str) -> dict[str, Any]:
    return ctx.env.world.api(app_name, api_name).doc()
