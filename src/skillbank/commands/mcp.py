"""`skillbank mcp`: a Model Context Protocol server over stdio that opens a skill
library to any MCP client (an IDE assistant, a chat app, another agent).

Tools it serves:

- ``search_skills``: BM25 over each skill's name, signature, docstring and source head;
  one version per name (promoted, else canary, else the latest candidate);
- ``show_skill``: one version with its signature, docs, source, status, aliases,
  provenance and call statistics;
- ``list_apis``: the configured world's apps, an app's APIs, or one API's docs;
- ``run_code``: runs a code block **in the sandbox** against a live task of the
  configured world (``--world``: apps, support, or your ``package.module:make_world``)
  with the library's promoted and canary skills preloaded; the shell persists across
  calls like a notebook until ``reset``;
- ``save_skill``: stores a function as a **candidate** version (with an optional parent
  and failure log, which makes it an update); only governance promotes it.

:class:`skillbank.library_service.LibraryService` holds the logic as plain methods
(this module only adapts them to MCP and reads the command's flags), so the same
operations are usable and testable without MCP.
"""

# No `from __future__ import annotations` here: the tools' annotations name CallToolResult
# and pydantic's Field, imported inside build_server (the mcp extra is optional), and the
# server reads them when the tools are registered, so they must be objects, not strings.

from typing import Annotated, Any

import typer

from skillbank.agent.config import DEFAULT_LIBRARY
from skillbank.errors import SkillbankError
from skillbank.library_service import LibraryService


def no_match_text(query: str, library_size: int) -> str:
    """What a search that found nothing tells the client (its text content; an empty
    list alone reads as no answer at all)."""
    if library_size == 0:
        return "the library has no skills yet (save_skill stores one)"
    if not query.strip():
        return "no skill to list (every version is quarantined or retired)"
    return (f"no skill matches {query!r} ({library_size} skill name(s) in the library; "
            "an empty query lists them)")


def build_server(service: LibraryService) -> Any:
    """An `MCPServer` whose tools call `service`; SkillbankErrors become tool errors.
    It announces skillbank's version, and every tool parameter has a description."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.types import CallToolResult, TextContent
    from pydantic import Field

    from skillbank import __version__

    server = MCPServer("skillbank", version=__version__, log_level="WARNING", instructions=(
        "A library of executable Python skills. Search and read skills, run code against the configured world "
        "in a sandbox with the library preloaded (`apis.<app>.<api>(...)` calls its tools), and save a working "
        "function as a candidate version."))

    def guarded(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SkillbankError as exc:
            raise ToolError(" ".join(str(exc).split())) from None

    @server.tool()
    def search_skills(
        query: Annotated[str, Field(description="Words to look for in skill names, signatures, docstrings "
                                                "and code; empty lists the skills.")] = "",
        k: Annotated[int, Field(description="How many skills to return at most (1 to 100).")] = 5,
        include_candidates: Annotated[bool, Field(description="Also offer names that have only candidate "
                                                              "(not yet promoted) versions.")] = True,
    ) -> Annotated[CallToolResult, list[dict[str, Any]]]:
        """Search the skill library by words (name, signature, docstring, code); an empty query lists skills.

        Returns one entry per skill name (promoted, else canary, else the latest candidate).
        """
        hits = guarded(service.search_skills, query, k, include_candidates)
        if hits:
            return hits
        size = len({v.name for v in service.store.list_versions(namespace=service.namespace, latest_only=True)})
        return CallToolResult(content=[TextContent(type="text", text=no_match_text(query, size))],
                              structured_content={"result": []})

    @server.tool()
    def show_skill(
        ref: Annotated[str, Field(description="A skill name (the version search would pick), name@3 or "
                                              "name@promoted.")],
    ) -> dict[str, Any]:
        """Show one skill version: signature, docstring, source, status, aliases, provenance, call counts.

        `ref` is a name (the version search would pick), name@3 or name@promoted.
        """
        return guarded(service.show_skill, ref)

    @server.tool()
    def list_apis(
        app: Annotated[str | None, Field(description="An app of the world (omit: list the apps).")] = None,
        api: Annotated[str | None, Field(description="One API of `app` (omit: list the app's APIs).")] = None,
    ) -> dict[str, Any]:
        """The configured world's apps; with `app`, its APIs; with `app` and `api`, that API's full docs."""
        return guarded(service.list_apis, app, api)

    @server.tool()
    def run_code(
        code: Annotated[str, Field(description="Python to run; its last expression's value is returned.")],
        skills: Annotated[list[str] | None, Field(description="Extra skill versions to preload, e.g. "
                                                              "[\"refund_order@2\"]; starts a fresh shell.")] = None,
        reset: Annotated[bool, Field(description="Start a fresh shell (variables from earlier calls are "
                                                 "dropped).")] = False,
    ) -> dict[str, Any]:
        """Run Python in the sandbox against a live task of the configured world, library skills preloaded.

        Call the world's tools as `apis.<app>.<api>(**kwargs)`. Variables persist across calls until
        `reset` (or `skills`, extra versions to preload such as ["refund_order@2"], starts a fresh shell).
        """
        return guarded(service.run_code, code, skills, reset)

    @server.tool()
    def save_skill(
        source: Annotated[str, Field(description="The source of one public Python function (imports and "
                                                 "_private helpers may come with it).")],
        query: Annotated[str | None, Field(description="The task the function solves, in words (helps "
                                                       "retrieval).")] = None,
        parent: Annotated[str | None, Field(description="The version this one fixes, as name@N (makes the "
                                                        "save an update).")] = None,
        failure_log: Annotated[str | None, Field(description="The error that prompted the fix (with "
                                                             "`parent`).")] = None,
    ) -> dict[str, Any]:
        """Save one Python function as a candidate skill version (not trusted until governance promotes it).

        `query` is the task it solves (helps retrieval); `parent` (name@N) and `failure_log` record an
        update: the version it fixes and the error that prompted the fix. The reply says whether
        governance's intake accepted it (`accepted`); why it refused one is for people to read.
        """
        return guarded(service.save_skill, source, query, parent, failure_log)

    return server


def mcp(
    library: Annotated[str, typer.Option("--library", "-L", envvar="SKILLBANK_LIBRARY", help="Library: SQLite path or URL.")] = DEFAULT_LIBRARY,
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="Library namespace.")] = "default",
    world: Annotated[str, typer.Option("--world", help="World run_code runs against: apps, support, or package.module:make_world.")] = "support",
    task: Annotated[str | None, typer.Option("--task", help="The world's task whose live state run_code uses (default: its first).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="World seed.")] = 0,
    actor: Annotated[str, typer.Option("--actor", help="Who the library's events name for saves.")] = "mcp",
) -> None:
    """Serve the library over MCP (stdio): search, show, run code in the sandbox, save candidates."""
    try:
        import mcp as _mcp  # noqa: F401
    except ImportError:
        from skillbank.errors import ConfigError

        raise ConfigError("the MCP server needs the mcp package: pip install 'skillbank[mcp]'") from None
    service = LibraryService.open(library, namespace=namespace, world=world, seed=seed, task_id=task, actor=actor)
    try:
        build_server(service).run("stdio")
    finally:
        service.close()
