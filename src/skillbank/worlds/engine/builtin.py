"""The two apps every world has, written once: `supervisor` (the person the agent works
for: profile, passwords, task completion) and `api_docs` (documentation of every app and
API, for the agent to read).

Each world builds its own copies (`supervisor_app`, `api_docs_app`) and serves them with
its task env (`SupervisedEnv`): the built-in apps world's supervisor is one of its people,
with passwords and addresses; a toolkit world's is the profile the world declares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from skillbank.worlds.base import ApiError
from skillbank.worlds.engine.api import ApiSpec, AppDef, Param

#: The apps a world provides itself; a user's app may not take these names.
BUILTIN_APPS = ("supervisor", "api_docs")


class DocumentedWorld(Protocol):
    """What `api_docs` reads of a world."""

    apps: dict[str, AppDef]

    def api(self, app: str, api: str) -> ApiSpec: ...

    def api_doc(self, app: str, api: str) -> dict[str, Any]: ...


class SupervisedEnv(Protocol):
    """What the built-in apps need of a task env."""

    @property
    def world(self) -> DocumentedWorld: ...

    def supervisor_profile(self) -> dict[str, Any]: ...

    def account_passwords(self) -> list[dict[str, str]]: ...

    def supervisor_addresses(self) -> list[dict[str, str]]: ...

    def complete(self, answer: Any, status: str) -> None: ...


class Context(Protocol):
    """Any API function's context carries its task env."""

    @property
    def env(self) -> SupervisedEnv: ...


@dataclass(frozen=True)
class SupervisorDocs:
    """How a world describes its supervisor to the agent (the texts of `supervisor_app`)."""

    description: str = "The supervisor you act for: their profile, their app passwords, and completing the task."
    profile: str = "Show the supervisor's profile: name, email, phone number, birthday and city."
    profile_response: Any = field(default_factory=lambda: {
        "first_name": "string", "last_name": "string", "email": "string", "phone": "string", "birthday": "date",
        "city": "string"})
    passwords: str = "Show the supervisor's passwords for every app, as a list of {account_name, password}."
    #: Whether the supervisor has saved postal addresses (`show_addresses`).
    addresses: bool = True


def supervisor_app(docs: SupervisorDocs = SupervisorDocs()) -> AppDef:
    """The `supervisor` app: the profile and passwords the env gives, and `complete_task`."""
    app = AppDef("supervisor", docs.description, login=False)

    @app.api("show_profile", docs.profile, response=docs.profile_response, auth=False)
    def show_profile(ctx: Context) -> dict[str, Any]:
        return ctx.env.supervisor_profile()

    @app.api("show_account_passwords", docs.passwords,
             response=[{"account_name": "string", "password": "string"}], auth=False)
    def show_account_passwords(ctx: Context) -> list[dict[str, str]]:
        return ctx.env.account_passwords()

    if docs.addresses:
        @app.api("show_addresses", "Show the supervisor's saved postal addresses.",
                 response=[{"name": "string", "street": "string", "city": "string"}], auth=False)
        def show_addresses(ctx: Context) -> list[dict[str, str]]:
            return ctx.env.supervisor_addresses()

    @app.api(
        "complete_task",
        "Mark the task as done. Pass the answer if the task asks a question; pass status='fail' to give up.",
        [
            Param("answer", "any", "The answer to the task's question, if it asks one.", required=False, nullable=True),
            Param("status", "string", "'success' or 'fail'.", required=False, default="success",
                  choices=("success", "fail")),
        ],
        response={"message": "string"},
        errors=("409 the task is already completed",),
        auth=False,
        mutates=True,
    )
    def complete_task(ctx: Context, answer: Any = None, status: str = "success") -> dict[str, str]:
        ctx.env.complete(answer, status)
        return {"message": f"Task marked as {status}."}

    return app


#: What `show_api_doc` returns, and the side-effect flags a world may add to it.
API_DOC_RESPONSE = {"app_name": "string", "api_name": "string", "description": "string", "parameters": "list",
                    "response": "any", "errors": "list"}
SIDE_EFFECT_FLAGS = {"mutates": "boolean", "destructive": "boolean"}


def api_docs_app(*, example: tuple[str, str] = ("mail", "login"), side_effects: bool = False) -> AppDef:
    """The `api_docs` app. `example` is the (app, API) its parameter docs cite;
    `side_effects`: the world's `api_doc` adds the ``mutates``/``destructive`` flags."""
    app = AppDef("api_docs", "Documentation of the apps and their APIs.", login=False)
    example_app = Param("app_name", "string", f"The app, e.g. '{example[0]}'.")

    @app.api(
        "show_app_descriptions",
        "List every app with a one-line description.",
        response=[{"name": "string", "description": "string"}],
        auth=False,
    )
    def show_app_descriptions(ctx: Context) -> list[dict[str, str]]:
        return [{"name": a.name, "description": a.description} for a in ctx.env.world.apps.values()]

    @app.api(
        "show_api_descriptions",
        "List the APIs of one app with a one-line description each.",
        [example_app],
        response=[{"name": "string", "description": "string"}],
        errors=("404 no such app",),
        auth=False,
    )
    def show_api_descriptions(ctx: Context, app_name: str) -> list[dict[str, str]]:
        world = ctx.env.world
        a = world.apps.get(app_name)
        if a is None:
            world.api(app_name, "login")  # raises the not-found error, with a suggestion
            raise ApiError(f"No app named '{app_name}'.")
        return [{"name": s.name, "description": s.description} for s in a.apis.values()]

    what = "parameters, response, errors and side effects" if side_effects else (
        "parameters (type, required, default, constraints), response and errors")

    @app.api(
        "show_api_doc",
        f"Show the full documentation of one API: {what}.",
        [example_app, Param("api_name", "string", f"The API, e.g. '{example[1]}'.")],
        response={**API_DOC_RESPONSE, **(SIDE_EFFECT_FLAGS if side_effects else {})},
        errors=("404 no such app or API",),
        auth=False,
    )
    def show_api_doc(ctx: Context, app_name: str, api_name: str) -> dict[str, Any]:
        return ctx.env.world.api_doc(app_name, api_name)

    return app
