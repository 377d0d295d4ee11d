"""Realistically buggy variants of a scenario's reference skill, for fault injection.

Each variant is an AST rewrite of the reference source that mimics a mistake agents
make; a variant applies only where its pattern exists in the skill:

- ``first_page``: the pagination loop stops after the first page (a forgotten
  ``page += 1`` path). Passes wherever the data fits in one page.
- ``off_by_one``: pagination starts at page 1, skipping the first page; or a count
  slice keeps one item too few.
- ``wrong_comparison``: a comparison points the wrong way (``<`` for ``>``, ``<=`` for
  ``>=``).
- ``missing_filter``: a loop's ``if`` filter (or a comprehension's condition) is gone,
  so the skill acts on every item.
- ``undeclared_destructive``: inside a loop that writes to each item, the item is also
  deleted (or cancelled) through the app's own API; the docstring says nothing of it.

:func:`buggy_variant` picks one applicable variant with a seeded RNG.
"""

from __future__ import annotations

import ast
import random
from dataclasses import dataclass
from typing import Any, TypeGuard

FAULT_KINDS = ("first_page", "off_by_one", "wrong_comparison", "missing_filter", "undeclared_destructive")
_PAGE_KWARGS = {"page_index", "page"}
_FLIP = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}


@dataclass(frozen=True)
class Fault:
    kind: str
    source: str


def _paginated(node: ast.AST) -> TypeGuard[ast.Call]:
    return isinstance(node, ast.Call) and any(k.arg in _PAGE_KWARGS for k in node.keywords)


def _first_page(tree: ast.Module, world: Any) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.While) and any(_paginated(n) for n in ast.walk(node)):
            node.body.append(ast.Break())
            return True
    return False


def _off_by_one(tree: ast.Module, world: Any) -> bool:
    pagination_vars: set[str] = set()
    for node in ast.walk(tree):
        if _paginated(node):
            for k in node.keywords:
                if k.arg in _PAGE_KWARGS and isinstance(k.value, ast.Name):
                    pagination_vars.add(k.value.id)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in pagination_vars and isinstance(node.value, ast.Constant) and node.value.value == 0):
            node.value = ast.Constant(1)
            return True
    for node in ast.walk(tree):
        if isinstance(node, ast.Slice) and node.lower is None and node.upper is not None and node.step is None:
            node.upper = ast.BinOp(node.upper, ast.Sub(), ast.Constant(1))
            return True
    return False


def _wrong_comparison(tree: ast.Module, world: Any) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _FLIP:
            node.ops = [_FLIP[type(node.ops[0])]()]
            return True
    return False


def _missing_filter(tree: ast.Module, world: Any) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.For):
            for i, stmt in enumerate(node.body):
                if isinstance(stmt, ast.If) and not stmt.orelse and not any(isinstance(s, (ast.Break, ast.Return)) for s in stmt.body):
                    # `if not batch: break` style exits are not filters
                    node.body[i:i + 1] = stmt.body
                    return True
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            for gen in node.generators:
                if gen.ifs:
                    gen.ifs = []
                    return True
    return False


def _destructive_api(world: Any, app: str, param: str) -> str | None:
    apps = getattr(world, "apps", {}) or {}
    spec_app = apps.get(app)
    if spec_app is None:
        return None
    for name, spec in spec_app.apis.items():
        if name.startswith(("delete_", "cancel_")) and param in {p.name for p in spec.params}:
            return name
    return None


def _undeclared_destructive(tree: ast.Module, world: Any) -> bool:
    for loop in ast.walk(tree):
        if not isinstance(loop, ast.For):
            continue
        for stmt in loop.body:
            call = stmt.value if isinstance(stmt, ast.Expr) else None
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and isinstance(call.func.value, ast.Attribute) and isinstance(call.func.value.value, ast.Name)
                    and call.func.value.value.id == "apis"):
                continue
            app = call.func.value.attr
            id_kw = next((k for k in call.keywords if k.arg and k.arg.endswith("_id")), None)
            token_kw = next((k for k in call.keywords if k.arg == "access_token"), None)
            if id_kw is None or id_kw.arg is None or token_kw is None:
                continue
            api = _destructive_api(world, app, id_kw.arg)
            if api is None or api == call.func.attr:
                continue
            extra = ast.Expr(ast.Call(
                func=ast.Attribute(ast.Attribute(ast.Name("apis", ast.Load()), app, ast.Load()), api, ast.Load()),
                args=[], keywords=[ast.keyword("access_token", token_kw.value), ast.keyword(id_kw.arg, id_kw.value)]))
            loop.body.insert(loop.body.index(stmt) + 1, extra)
            return True
    return False


_REWRITES = {
    "first_page": _first_page,
    "off_by_one": _off_by_one,
    "wrong_comparison": _wrong_comparison,
    "missing_filter": _missing_filter,
    "undeclared_destructive": _undeclared_destructive,
}


def apply_fault(source: str, kind: str, world: Any = None) -> str | None:
    """`source` with fault `kind` applied, or None where the pattern is absent."""
    tree = ast.parse(source)
    if not _REWRITES[kind](tree, world):
        return None
    ast.fix_missing_locations(tree)
    out = ast.unparse(tree) + "\n"
    return None if ast.dump(ast.parse(out)) == ast.dump(ast.parse(source)) else out


def applicable_faults(source: str, world: Any = None) -> list[Fault]:
    out = []
    for kind in FAULT_KINDS:
        buggy = apply_fault(source, kind, world)
        if buggy is not None:
            out.append(Fault(kind, buggy))
    return out


def buggy_variant(source: str, rng: random.Random, world: Any = None) -> Fault | None:
    """One applicable variant of `source`, chosen by `rng`; None if none applies."""
    options = applicable_faults(source, world)
    return rng.choice(options) if options else None
