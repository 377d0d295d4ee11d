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

from __future__ import annotations

from typing import Annotated, Any

import typer

from skillbank.agent.config import DEFAULT_LIBRARY
from skillbank.errors import SkillbankError
from skillbank.library_service import LibraryService


def build_server(service: LibraryService) -> Any:
    """An `MCPServer` whose tools call `service`; SkillbankErrors become tool errors."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("skillbank", log_level="WARNING", instructions=(
        "A library of executable Python skills. Search and read skills, run code against the configured world "
        "in a sandbox with the library preloaded (`apis.<app>.<api>(...)` calls its tools), and save a working "
        "function as a candidate version."))

    def guarded(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SkillbankError as exc:
            raise ToolError(" ".join(str(exc).split())) from None

    @server.tool()
    def search_skills(query: str = "", k: int = 5, include_candidates: bool = True) -> list[dict[str, Any]]:
        """Search the skill library by words (name, signature, docstring, code); an empty query lists skills.

        Returns one entry per skill name (promoted, else canary, else the latest candidate).
        """
        return guarded(service.search_skills, query, k, include_candidates)

    @server.tool()
    def show_skill(ref: str) -> dict[str, Any]:
        """Show one skill version: signature, docstring, source, status, aliases, provenance, call counts.

        `ref` is a name (the version search would pick), name@3 or name@promoted.
        """
        return guarded(service.show_skill, ref)

    @server.tool()
    def list_apis(app: str | None = None, api: str | None = None) -> dict[str, Any]:
        """The configured world's apps; with `app`, its APIs; with `app` and `api`, that API's full docs."""
        return guarded(service.list_apis, app, api)

    @server.tool()
    def run_code(code: str, skills: list[str] | None = None, reset: bool = False) -> dict[str, Any]:
        """Run Python in the sandbox against a live task of the configured world, library skills preloaded.

        Call the world's tools as `apis.<app>.<api>(**kwargs)`. Variables persist across calls until
        `reset` (or `skills`, extra versions to preload such as ["refund_order@2"], starts a fresh shell).
        """
        return guarded(service.run_code, code, skills, reset)

    @server.tool()
    def save_skill(source: str, query: str | None = None, parent: str | None = None,
                   failure_log: str | None = None) -> dict[str, Any]:
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
