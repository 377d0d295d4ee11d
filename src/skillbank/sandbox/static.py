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
# Factories that read attributes by a name given as data (`attrgetter("a.__class__")`).
_GETTER_FACTORIES = frozenset({"attrgetter", "methodcaller"})
# Walk attributes by name inside a formatting engine (`Formatter().get_field`).
_FORMATTER_NAMES = frozenset({"Formatter"})
# Modules that hold the interpreter's internals, reachable as attributes of allowed
# modules (`typing.sys`, `re.enum.sys`, `collections.abc.sys`): as attribute names they
# are refused whatever the object, unless the module itself is an allowed import.
MODULE_ATTRIBUTES = frozenset({
    "sys", "os", "posix", "builtins", "importlib", "subprocess", "gc", "inspect", "ctypes", "types", "marshal",
    "pickle", "signal", "threading", "socket", "io", "codecs", "shutil", "resource", "weakref", "code", "pdb",
    "runpy", "site", "linecache", "traceback", "warnings", "copyreg", "atexit", "mmap", "fcntl",
})


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


def _fold(node: ast.AST, known: dict[str, str] | None = None) -> str | None:
    """The string an expression always evaluates to, when it is built from constants
    (`"_" + "_class__"`, an f-string of constants, `"".join([...])`, a name assigned one
    constant string once); None when it depends on run time."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and known is not None:
        return known.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _fold(node.left, known), _fold(node.right, known)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                if value.format_spec is not None or value.conversion != -1:
                    return None
                inner = _fold(value.value, known)
            else:
                inner = _fold(value, known)
            if inner is None:
                return None
            parts.append(inner)
        return "".join(parts)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and len(node.args) == 1 and not node.keywords and isinstance(node.args[0], (ast.List, ast.Tuple))):
        sep = _fold(node.func.value, known)
        items = [_fold(e, known) for e in node.args[0].elts]
        if sep is None or any(i is None for i in items):
            return None
        return sep.join(i for i in items if i is not None)
    return None


def _rooted_at_apis(node: ast.AST) -> bool:
    """`apis` or `apis.<app>`: the proxy, whose private names it hides itself."""
    if isinstance(node, ast.Name):
        return node.id == "apis"
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "apis"


def _constant_strings(tree: ast.AST) -> dict[str, str]:
    """Names assigned exactly once in `tree`, to a constant string (a template variable)."""
    seen: dict[str, int] = {}
    values: dict[str, str] = {}
    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        value: ast.AST | None = None
        if isinstance(node, ast.Assign):
            targets, value = list(node.targets), node.value
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets, value = [node.target], (node.value if isinstance(node, ast.AnnAssign) else None)
        elif isinstance(node, (ast.For, ast.comprehension)):
            targets = [node.target]
        elif isinstance(node, ast.NamedExpr):
            targets, value = [node.target], node.value
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name):
                    seen[leaf.id] = seen.get(leaf.id, 0) + 1
                    if isinstance(value, ast.Constant) and isinstance(value.value, str) and target is leaf:
                        values[leaf.id] = value.value
    return {k: v for k, v in values.items() if seen.get(k) == 1}


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
    def __init__(self, allowed_imports: frozenset[str], constants: dict[str, str] | None = None):
        self.allowed = allowed_imports
        self.errors: list[str] = []
        self.constants = constants or {}

    def _check_walk(self, node: ast.AST, what: str, text: str) -> None:
        """A dotted attribute path given as data (getattr, attrgetter): every step public."""
        for part in text.split("."):
            if _forbidden_attribute(part) or _private(part) or (part in MODULE_ATTRIBUTES and part not in self.allowed):
                self._add(node, f"{what} with attribute '{part}' is not allowed (it reaches interpreter internals)")
                return

    def _check_template(self, node: ast.AST, template: ast.AST) -> None:
        text = _fold(template, self.constants)
        if text is None:
            self._add(node, "str.format() needs its template as a literal string here (format fields can walk "
                            "attributes); write the template in the call or use an f-string")
            return
        bad = _format_field_problem(text)
        if bad:
            self._add(node, f"format field '{{{bad}}}' walks attributes and is not allowed; format plain values instead")

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
            elif alias.name in MODULE_ATTRIBUTES and alias.name not in self.allowed:
                self._add(node, f"importing '{alias.name}' from '{node.module}' reaches a module outside the allowlist")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in _FORMATTER_NAMES:
            self._add(node, f"'{node.id}' walks attributes by name and is not available in the sandbox; use f-strings")
        elif node.id in FORBIDDEN_NAMES:
            self._add(node, f"'{node.id}' is not available in the sandbox; write plain Python and call apis.* for I/O")
        elif _is_dunder(node.id) and node.id not in ("__name__", "__doc__"):
            self._add(node, f"the name '{node.id}' reaches interpreter internals and is not allowed")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in MODULE_ATTRIBUTES and node.attr not in self.allowed and not _rooted_at_apis(node.value):
            self._add(node, f"attribute '{node.attr}' names a module outside the allowlist (it leads to the "
                            "interpreter's internals); import what you need from the allowed modules")
        elif node.attr in _FORMATTER_NAMES:
            self._add(node, f"'{node.attr}' walks attributes by name and is not available in the sandbox; use f-strings")
        elif _forbidden_attribute(node.attr):
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
            text = _fold(name, self.constants)
            if text is not None:
                self._check_walk(node, f"{func.id}()", text)
            elif not _rooted_at_apis(node.args[0]):
                self._add(node, f"{func.id}() with an attribute name computed at run time is not allowed (it can "
                                "reach internals); name the attribute, or keep the values in a dict")
        factory = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if factory in _GETTER_FACTORIES:
            for arg in node.args:
                text = _fold(arg, self.constants)
                if text is None:
                    self._add(node, f"{factory}() with a name computed at run time is not allowed; name it literally")
                else:
                    self._check_walk(node, f"{factory}()", text)
        if isinstance(func, ast.Attribute) and func.attr in _FORMAT_METHODS:
            fmt = func.value
            if isinstance(fmt, ast.Name) and fmt.id == "str":
                # str.format(template, ...) spelled through the type.
                if node.args:
                    self._check_template(node, node.args[0])
            elif not (isinstance(fmt, ast.Name) and fmt.id not in self.constants and fmt.id in ("self", "cls")):
                self._check_template(node, fmt)
        self.generic_visit(node)


def check_tree(tree: ast.AST, allowed_imports: Iterable[str] = DEFAULT_ALLOWED_IMPORTS) -> tuple[str, ...]:
    checker = _Checker(frozenset(allowed_imports), _constant_strings(tree))
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
    # Superset of what visit_Name, visit_Attribute, visit_Call and visit_ImportFrom refuse
    # by a name: every getattr()-style call, getter factory and format call goes to the
    # walk (its argument may be computed), as does every module-named attribute.
    return (name.startswith("_") or name in FORBIDDEN_NAMES or name in FORBIDDEN_ATTRIBUTES
            or name in _ATTR_FUNCTIONS or name in _GETTER_FACTORIES or name in _FORMAT_METHODS
            or name in _FORMATTER_NAMES or name in MODULE_ATTRIBUTES)


def _string_may_be_refused(text: str) -> bool:
    # Superset of the attribute names getattr()-style calls and class patterns refuse.
    return text.startswith("_") or "__" in text or text in FORBIDDEN_ATTRIBUTES


def needs_full_check(source: str, codes: Iterable[types.CodeType]) -> bool:
    """Cheap pre-scan: False only when the AST check is certain to pass.

    Every construct the AST check refuses leaves a trace here, tested with a predicate
    that contains the walk's: imports need the word 'import'; names and attributes land
    in co_names/co_varnames (any name starting with '_' counts); attribute names given
    as constants (getattr(), class patterns) land in co_consts, inside tuples too;
    getattr()-style calls, getter factories and format calls always go to the walk. Code that never runs (an
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
    return any(_string_may_be_refused(s) for s in strings)
