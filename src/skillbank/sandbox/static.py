"""The static check: refuse obviously dangerous code with messages the model can act on.

This is *not* the security boundary (the locked-down worker is); it exists so that the
model learns quickly why a block was refused instead of meeting an opaque
`PermissionError` from the kernel. It runs inside the worker before each block, so it
must stay cheap: :func:`needs_full_check` scans the compiled code objects (names and
string constants) with the same predicates the AST walk applies, and the walk with
line numbers runs whenever that scan finds any name or constant the walk could refuse
(so the scan can only err towards the walk). The worker backs the rule on private
names at run time: agent code's imports give it views of modules that expose public
names and allowed submodules only.
"""

from __future__ import annotations

import ast
import string
import types
from collections.abc import Iterable

from skillbank.errors import ValidationError

DEFAULT_ALLOWED_IMPORTS: tuple[str, ...] = (
    "collections",
    "datetime",
    "itertools",
    "functools",
    "math",
    "re",
    "json",
    "statistics",
    "string",
    "random",
    "decimal",
    "fractions",
    "operator",
    "typing",
    "dataclasses",
    "heapq",
    "bisect",
    "textwrap",
)

# Builtins that reach the interpreter's internals, the file system or the terminal.
FORBIDDEN_NAMES = frozenset(
    {
        "exec",
        "eval",
        "compile",
        "open",
        "__import__",
        "globals",
        "vars",
        "locals",
        "breakpoint",
        "input",
        "help",
        "memoryview",
        "__builtins__",
        "__loader__",
        "__spec__",
    }
)

# Frame, generator, coroutine and traceback internals: each is a step on the classic
# walks from an innocent object to `os` or `sys`.
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "cr_await",
        "ag_frame",
        "ag_code",
        "ag_await",
        "tb_frame",
        "tb_next",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "co_code",
        "func_globals",
        "mro",
    }
)

# getattr/setattr/delattr/hasattr with a constant dunder or forbidden name is the same
# access spelled differently.
_ATTR_FUNCTIONS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
_FORMAT_METHODS = frozenset({"format", "format_map"})


class StaticCheckError(ValidationError):
    """A code block was refused before it ran; `errors` holds one message per problem."""

    def __init__(self, errors: Iterable[str]):
        self.errors: tuple[str, ...] = tuple(errors)
        super().__init__("; ".join(self.errors))


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


# Dunders that reveal nothing beyond a name or call an object's own protocol; ordinary
# code (`type(e).__name__`, `super().__init__()`) needs them.
HARMLESS_DUNDERS = frozenset({"__name__", "__qualname__", "__doc__", "__init__", "__len__", "__iter__", "__next__", "__enter__", "__exit__", "__repr__", "__str__"})


def _forbidden_attribute(name: str) -> bool:
    return (_is_dunder(name) and name not in HARMLESS_DUNDERS) or name in FORBIDDEN_ATTRIBUTES


# Private names of other objects (`collections._sys`) lead to the same internals as
# dunders; an object's own (`self._cache`) and namedtuple's public API are fine.
_OWN_NAMES = frozenset({"self", "cls"})
NAMEDTUPLE_METHODS = frozenset({"_asdict", "_replace", "_fields", "_make", "_field_defaults"})


def _private(name: str) -> bool:
    return name.startswith("_") and not _is_dunder(name) and name != "_" and name not in NAMEDTUPLE_METHODS


def _forbidden_attribute_of(base: ast.AST, name: str) -> bool:
    if _forbidden_attribute(name):
        return True
    return _private(name) and not (isinstance(base, ast.Name) and base.id in _OWN_NAMES)


def _format_field_problem(fmt: str) -> str | None:
    """The first attribute walk in a format string's fields, e.g. '{0.__class__}'."""
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return None
    for _literal, field, spec, _conv in parsed:
        for text in (field, spec):
            if not text:
                continue
            # Attribute steps are ".name"; a walk to internals always passes a name
            # starting with "_" (or a frame/generator attribute).
            for part in text.replace("[", ".").replace("]", ".").split(".")[1:]:
                if part.startswith("_") or part in FORBIDDEN_ATTRIBUTES:
                    return text
            if spec and "{" in spec:
                nested = _format_field_problem(spec)
                if nested:
                    return nested
    return None


class _Checker(ast.NodeVisitor):
    def __init__(self, allowed_imports: frozenset[str]):
        self.allowed = allowed_imports
        self.errors: list[str] = []

    def _add(self, node: ast.AST, message: str) -> None:
        self.errors.append(f"line {getattr(node, 'lineno', '?')}: {message}")

    def _allowed_text(self) -> str:
        return ", ".join(sorted(self.allowed)) or "(none)"

    def _check_module(self, node: ast.AST, module: str) -> None:
        top = module.split(".")[0]
        if top not in self.allowed:
            self._add(
                node,
                f"import of '{module}' is not allowed here; allowed modules: {self._allowed_text()}. "
                "Use the apis object for anything outside the sandbox.",
            )

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self._add(node, "relative imports are not allowed here; there is no package to import from")
        else:
            self._check_module(node, node.module or "")
        for alias in node.names:
            if alias.name.startswith("_"):
                self._add(node, f"importing the private name '{alias.name}' is not allowed; use the module's public API")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES:
            self._add(node, f"'{node.id}' is not available in the sandbox; write plain Python and call apis.* for I/O")
        elif _is_dunder(node.id) and node.id not in ("__name__", "__doc__"):
            self._add(node, f"the name '{node.id}' reaches interpreter internals and is not allowed")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _forbidden_attribute(node.attr):
            self._add(
                node,
                f"access to attribute '{node.attr}' is not allowed (dunder, frame and generator internals are off limits)",
            )
        elif _forbidden_attribute_of(node.value, node.attr):
            self._add(
                node,
                f"access to the private attribute '{node.attr}' of another object is not allowed "
                "(only self._name and cls._name); use its public API",
            )
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        # `case C(attr=x)` reads the attribute by name, like getattr().
        for name in node.kwd_attrs:
            if _forbidden_attribute(name) or _private(name):
                self._add(node, f"a class pattern reading attribute '{name}' is not allowed (it reaches internals)")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in _ATTR_FUNCTIONS and len(node.args) >= 2:
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str) and (_forbidden_attribute(name.value) or _private(name.value)):
                self._add(node, f"{func.id}() with attribute '{name.value}' is not allowed (it reaches interpreter internals)")
        if isinstance(func, ast.Attribute) and func.attr in _FORMAT_METHODS:
            fmt = func.value
            if isinstance(fmt, ast.Constant) and isinstance(fmt.value, str):
                bad = _format_field_problem(fmt.value)
                if bad:
                    self._add(node, f"format field '{{{bad}}}' walks attributes and is not allowed; format plain values instead")
            # str.format(template, ...) spelled through the type.
            if isinstance(fmt, ast.Name) and fmt.id == "str" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    bad = _format_field_problem(first.value)
                    if bad:
                        self._add(node, f"format field '{{{bad}}}' walks attributes and is not allowed; format plain values instead")
        self.generic_visit(node)


def check_tree(tree: ast.AST, allowed_imports: Iterable[str] = DEFAULT_ALLOWED_IMPORTS) -> tuple[str, ...]:
    checker = _Checker(frozenset(allowed_imports))
    checker.visit(tree)
    return tuple(checker.errors)


def find_problems(
    source: str, allowed_imports: Iterable[str] = DEFAULT_ALLOWED_IMPORTS, filename: str = "<block>"
) -> tuple[str, ...]:
    """All static problems in `source` (empty when it passes); a syntax error is one problem."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        return (f"line {exc.lineno}: syntax error: {exc.msg}",)
    return check_tree(tree, allowed_imports)


def check_source(
    source: str, allowed_imports: Iterable[str] | None = None, filename: str = "<block>"
) -> None:
    """Raise :class:`StaticCheckError` when `source` would be refused by the sandbox."""
    if not isinstance(source, str):
        raise ValidationError(f"source must be a str, not {type(source).__name__}")
    problems = find_problems(source, DEFAULT_ALLOWED_IMPORTS if allowed_imports is None else allowed_imports, filename)
    if problems:
        raise StaticCheckError(problems)


def _walk_code(code: types.CodeType) -> Iterable[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _walk_code(const)


def _strings(consts: tuple) -> Iterable[str]:
    for const in consts:
        if isinstance(const, str):
            yield const
        elif isinstance(const, (tuple, frozenset)):  # match patterns' attribute names, fromlists
            yield from _strings(tuple(const))


def _name_may_be_refused(name: str) -> bool:
    # Superset of what visit_Name, visit_Attribute and visit_ImportFrom refuse.
    return name.startswith("_") or name in FORBIDDEN_NAMES or name in FORBIDDEN_ATTRIBUTES


def _string_may_be_refused(text: str) -> bool:
    # Superset of the attribute names getattr()-style calls and class patterns refuse.
    return text.startswith("_") or "__" in text or text in FORBIDDEN_ATTRIBUTES


def needs_full_check(source: str, codes: Iterable[types.CodeType]) -> bool:
    """Cheap pre-scan: False only when the AST check is certain to pass.

    Every construct the AST check refuses leaves a trace here, tested with a predicate
    that contains the walk's: imports need the word 'import'; names and attributes land
    in co_names/co_varnames (any name starting with '_' counts); attribute names given
    as constants (getattr(), class patterns) land in co_consts, inside tuples too;
    format templates need a format method and a '{'. Code that never runs (an
    unevaluated annotation, a branch the compiler drops) leaves no trace and needs none.
    """
    if "import" in source:
        return True
    names: set[str] = set()
    strings: list[str] = []
    for top in codes:
        for code in _walk_code(top):
            names.update(code.co_names)
            names.update(code.co_varnames)
            names.update(code.co_cellvars)
            names.update(code.co_freevars)
            strings.extend(_strings(code.co_consts))
    if any(_name_may_be_refused(name) for name in names):
        return True
    if names & _FORMAT_METHODS and any("{" in s for s in strings):
        return True
    return any(_string_may_be_refused(s) for s in strings)
