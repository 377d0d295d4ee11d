"""`supervisor`: the person the agent works for: profile, passwords, task completion."""

from __future__ import annotations

from typing import Any

from skillbank.worlds.apps.core import AppDef, CallContext, Param

APP = AppDef(
    "supervisor",
    "The supervisor you act for: their profile, their app passwords, and completing the task.",
    login=False,
)
TABLES: dict[str, str | None] = {}


@APP.api(
    "show_profile",
    "Show the supervisor's profile: name, email, phone number, birthday and city.",
    response={"first_name": "string", "last_name": "string", "email": "string", "phone": "string", "birthday": "date", "city": "string"},
    auth=False,
)
def show_profile(ctx: CallContext) -> dict[str, Any]:
    p = ctx.person(ctx.env.supervisor_id)
    return {k: p[k] for k in ("first_name", "last_name", "email", "phone", "birthday", "city")}


@APP.api(
    "show_account_passwords",
    "Show the supervisor's passwords for every app, as a list of {account_name, password}.",
    response=[{"account_name": "string", "password": "string"}],
    auth=False,
)
def show_account_passwords(ctx: CallContext) -> list[dict[str, str]]:
    pw = ctx.env.world.population.passwords
    sid = ctx.env.supervisor_id
    return [{"account_name": app, "password": pw[(app, sid)]} for app in ctx.env.world.apps if (app, sid) in pw]


@APP.api(
    "show_addresses",
    "Show the supervisor's saved postal addresses.",
    response=[{"name": "string", "street": "string", "city": "string"}],
    auth=False,
)
def show_addresses(ctx: CallContext) -> list[dict[str, str]]:
    p = ctx.person(ctx.env.supervisor_id)
    return [{"name": "home", "street": f"{(int(p['id'][1:]) * 7) % 180 + 1} Harbour Street", "city": p["city"]}]


@APP.api(
    "complete_task",
    "Mark the task as done. Pass the answer if the task asks a question; pass status='fail' to give up.",
    [
        Param("answer", "any", "The answer to the task's question, if it asks one.", required=False, nullable=True),
        Param("status", "string", "'success' or 'fail'.", required=False, default="success", choices=("success", "fail")),
    ],
    response={"message": "string"},
    errors=("409 the task is already completed",),
    auth=False,
    mutates=True,
)
def complete_task(ctx: CallContext, answer: Any = None, status: str = "success") -> dict[str, str]:
    ctx.env.complete(answer, status)
    return {"message": f"Task marked as {status}."}
