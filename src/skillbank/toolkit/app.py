"""`App`: plain Python functions as an app the agent calls as ``apis.<app>.<tool>(...)``.

::

    desk = App("desk", "The support desk: customers, orders and tickets.")
    desk.table("orders", owner="customer_id")

    @desk.tool()
    def show_order(ctx: ToolContext, order_id: str) -> Order:
        '''Show one order.

        Args:
            order_id: The order's id, e.g. "o_1001".
        '''
        return ctx.get("orders", order_id)

The docs the agent reads (`apis.api_docs.show_api_doc`) are derived from the function
(see :mod:`skillbank.toolkit.signature`) and registered on the world engine's
:class:`~skillbank.worlds.engine.api.AppDef`, so a toolkit app documents, validates and
reports errors exactly as a hand-written one does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from skillbank.errors import ValidationError
from skillbank.toolkit.signature import read_signature
from skillbank.worlds.base import ApiError
from skillbank.worlds.engine.api import ApiSpec, AppDef, fresh, paginate
from skillbank.worlds.engine.state import Table

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ToolError(ApiError):
    """Raise it from a tool to refuse a call; the agent sees ``app.tool: <message>``."""


@dataclass(frozen=True)
class TableDef:
    name: str
    owner: str | None = None
    ephemeral: bool = False


class ToolContext:
    """What a tool sees when its first parameter is ``ctx``: this task's tables (a
    copy-on-write view of the world's base data), ids, the frozen clock and the task.

    :meth:`get` and :meth:`rows` hand out copies, so a tool cannot edit the shared base
    data by accident; change a record with ``ctx.table("orders").update(order_id,
    status="cancelled")``. ``ctx.table(...)`` itself is the raw copy-on-write view:
    records read from it must not be edited in place.
    """

    __slots__ = ("app", "env")

    def __init__(self, env: Any, app: str):
        self.env = env
        self.app = app

    def table(self, name: str, app: str | None = None) -> Table:
        """This task's view of ``<app>.<name>`` (the calling tool's app by default)."""
        try:
            return self.env.state.table(app or self.app, name)
        except KeyError:
            raise ValidationError(
                f"{self.app}: no table {(app or self.app)}.{name}; declare it with App.table({name!r})"
            ) from None

    # `get` and `rows` return `Any`: a record is a plain dict whose shape only the tool
    # knows (its return annotation, often a TypedDict, documents it for the agent), so a
    # tool returns what it read without a cast.
    def get(self, table: str, rid: str, *, what: str | None = None, app: str | None = None) -> Any:
        """A copy of the record `rid` of `table`, or a :class:`ToolError` naming what was
        not found. Editing the copy changes nothing: write with ``ctx.table(...).update``."""
        row = self.table(table, app).get(rid) if isinstance(rid, str) else None
        if row is None:
            raise ToolError(f"{what or table.rstrip('s')} {rid!r} not found.")
        return fresh(row)

    def rows(self, table: str, app: str | None = None, **where: Any) -> list[Any]:
        """Copies of the records of `table` whose fields equal `where` (all when empty)."""
        t = self.table(table, app)
        owner = t.base.owner_field
        if owner and owner in where:
            rows: Iterable[dict[str, Any]] = t.rows_of(where[owner])
        else:
            rows = t.rows()
        return [fresh(r) for r in rows if all(r.get(k) == v for k, v in where.items())]

    def new_id(self, prefix: str) -> str:
        """A fresh id, deterministic per task: ``<prefix>_n001…``."""
        return self.env.new_id(prefix)

    @property
    def now(self) -> dt.datetime:
        """The world's frozen clock: every task sees the same now."""
        return self.env.world.now

    @property
    def today(self) -> dt.date:
        return self.env.world.now.date()

    @property
    def task(self) -> Any:
        return self.env.task


@dataclass(frozen=True)
class ToolInfo:
    """A tool's side-effect flags, for the side-effect audit and the docs."""

    app: str
    name: str
    mutates: bool
    destructive: bool


class App:
    """An app made of plain functions. Declare tables with :meth:`table` and tools with
    :meth:`tool`; a world (:class:`~skillbank.toolkit.world.ToolkitWorld`) serves them."""

    def __init__(self, name: str, description: str):
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValidationError(f"app name {name!r} must be lower_snake_case (a Python identifier)")
        if not description or not description.strip():
            raise ValidationError(f"app {name!r}: the description must not be empty")
        self.name = name
        self.description = description.strip()
        self.definition = AppDef(name, self.description, login=False)
        self.tables: dict[str, TableDef] = {}

    @property
    def apis(self) -> dict[str, ApiSpec]:
        return self.definition.apis

    def table(self, name: str, *, owner: str | None = None, ephemeral: bool = False) -> App:
        """Declare a table of this app's state. `owner` names a field to index rows by
        (fast ``ctx.rows(table, <owner>=...)``); `ephemeral` tables are not graded."""
        if not _NAME.match(name):
            raise ValidationError(f"{self.name}: table name {name!r} must be lower_snake_case")
        if name in self.tables:
            raise ValidationError(f"{self.name}: table {name!r} is declared twice")
        self.tables[name] = TableDef(name, owner, ephemeral)
        return self

    def tool(
        self,
        func: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        mutates: bool = False,
        destructive: bool = False,
        outbound: bool | Callable[[dict[str, Any]], bool] | None = None,
        paginated: bool = False,
    ) -> Any:
        """Register `func` as a tool (usable bare, ``@app.tool``, or ``@app.tool(...)``).

        Args:
            name: the API name (default: the function's name).
            mutates: the tool changes state (the side-effect audit looks at these).
            destructive: its effect cannot be undone (money moved, a message sent);
                implies `mutates`, and by default `outbound`.
            outbound: each successful call that writes something goes to the task's
                append-only outbound ledger, which the standard checker holds against
                the requested changes (deleting what the call wrote does not erase the
                entry). True, False, or a predicate of the call's arguments (say, only a
                message to an outside address); default: the value of `destructive`.
            paginated: the function returns a whole list; the agent pages through it
                with ``page_index`` / ``page_limit`` like every list API of the apps world.
        """

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            api = name or f.__name__
            if not _NAME.match(api):
                raise ValidationError(f"{self.name}: tool name {api!r} must be lower_snake_case")
            if api in self.apis:
                raise ValidationError(f"{self.name}: tool {api!r} is defined twice")
            where = f"{self.name}.{api}"
            if outbound is not None and not isinstance(outbound, bool) and not callable(outbound):
                raise ValidationError(f"{where}: outbound must be True, False or a predicate of the arguments, "
                                      f"got {type(outbound).__name__}")
            sig = read_signature(f, where=where, context_type=ToolContext)
            for p in sig.params:
                if paginated and p.name in ("page_index", "page_limit"):
                    raise ValidationError(f"{where}: a paginated tool gets page_index/page_limit from the toolkit")
            self.definition.api(
                api, sig.description, sig.params, response=sig.response, errors=sig.errors, auth=False,
                mutates=mutates, destructive=destructive, paginated=paginated,
                outbound=destructive if outbound is None else outbound,
            )(_adapter(f, sig.takes_context, paginated))
            return f

        return register(func) if func is not None else register

    def tool_info(self, api: str) -> ToolInfo:
        spec = self.apis[api]
        return ToolInfo(self.name, api, spec.mutates, spec.destructive)

    def doc(self, api: str) -> dict[str, Any]:
        """One tool's docs as the agent reads them, with its side-effect flags."""
        return api_doc(self.apis[api])


def api_doc(spec: ApiSpec) -> dict[str, Any]:
    """`spec.doc()` plus the side-effect flags (``mutates``, ``destructive``)."""
    return {**spec.doc(), "mutates": spec.mutates, "destructive": spec.destructive}


def _adapter(f: Callable[..., Any], takes_context: bool, paginated: bool) -> Callable[..., Any]:
    """The world engine calls ``func(ctx, **args)``; a plain function gets only its args.
    An ``async def`` tool is run to completion on a fresh event loop per call."""
    if inspect.iscoroutinefunction(f):
        coroutine_function = f

        def f(*args: Any, **kwargs: Any) -> Any:
            return asyncio.run(coroutine_function(*args, **kwargs))

    if paginated:
        def paged(ctx: ToolContext, page_index: int = 0, page_limit: int = 5, **kwargs: Any) -> Any:
            rows = f(ctx, **kwargs) if takes_context else f(**kwargs)
            if not isinstance(rows, (list, tuple)):
                raise TypeError(f"a paginated tool must return a list, got {type(rows).__name__}")
            return paginate(rows, page_index, page_limit)
        return paged
    if takes_context:
        return f

    def call(ctx: ToolContext, **kwargs: Any) -> Any:
        return f(**kwargs)
    return call
