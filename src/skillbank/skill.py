"""A skill version parsed from source: what one stored function *is*.

A skill source holds, at top level, only:

- an optional module docstring,
- imports (``import x`` / ``from x import y``),
- exactly **one public function** (its name is the skill's name), and
- any number of **private helper functions** (names starting with ``_``).

Helpers travel with the skill because agents routinely factor a skill into a small
public entry point plus private pieces; keeping them in the same source keeps a version
self-contained, so running it never depends on some other version of a helper. Public
functions that a skill calls are *other* skills and are looked up in the library, which
is why a source may define only one. Classes, assignments, calls and every other
top-level statement are refused: a stored skill must be safe to ``exec`` just to define
it.

Defining a function still evaluates some expressions: its decorators, its default values
and (without ``from __future__ import annotations``) its annotations. A skill is loaded
into other agents' runs, so code there would run with their `apis` before anyone called
the skill (a decorator that completes the task, a default that logs in).
:func:`load_time_problems` therefore refuses decorators, any default that is not a literal
(``ast.literal_eval`` accepts it) and any annotation that is more than names, attributes,
constants and subscripts of them: defining a skill runs no code of the skill's own. The
sandbox applies the same rule to every source it preloads (whatever store it came from),
and refuses API calls while a skill is being defined as a second line.

The content hash is the SHA-256 of the AST dump (no line numbers), so re-formatting,
re-indenting or changing comments leaves it unchanged while any change a Python
interpreter could observe changes it.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
import keyword
import re
from dataclasses import dataclass
from typing import Any

from skillbank.errors import ValidationError

DEFAULT_MAX_BYTES = 64 * 1024

_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")
# Shadowing a builtin would silently change the meaning of every later code block that
# calls, say, `print` in the agent's shell.
_RESERVED_NAMES = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | {"apis"}


class SkillParseError(ValidationError):
    """Source text that is not a valid skill. `lineno`/`col` locate it when known
    (1-based line, 0-based column, as Python reports them)."""

    def __init__(self, message: str, *, lineno: int | None = None, col: int | None = None) -> None:
        self.lineno = lineno
        self.col = col
        where = f"line {lineno}, column {col}: " if lineno is not None and col is not None else (
            f"line {lineno}: " if lineno is not None else ""
        )
        super().__init__(f"{where}{message}")
        self.reason = message


@dataclass(frozen=True)
class Parameter:
    """One parameter of a skill's function; annotation and default are source text."""

    name: str
    kind: str  # positional_only | positional_or_keyword | var_positional | keyword_only | var_keyword
    annotation: str | None = None
    default: str | None = None  # None means "no default"; a default of None is "None"

    @property
    def required(self) -> bool:
        return self.default is None and self.kind in ("positional_only", "positional_or_keyword", "keyword_only")


@dataclass(frozen=True)
class SkillVersion:
    """An immutable, parsed skill. Build it with :func:`parse_skill`."""

    name: str
    source: str
    content_hash: str  # "sha256:<hex>" of the normalised AST
    signature: str  # "def f(a: int, b: str = 'x') -> list"
    parameters: tuple[Parameter, ...]
    return_annotation: str | None
    docstring: str | None
    imports: tuple[str, ...]  # each top-level import statement, normalised
    helpers: tuple[str, ...]  # names of the private helper functions
    input_schema_json: str | None  # JSON text keeps the record hashable and immutable

    @property
    def input_schema(self) -> dict[str, Any] | None:
        """JSON schema (draft 2020-12 subset) of the inputs, or None when an
        annotation has no JSON equivalent or the function takes *args/**kwargs."""
        return None if self.input_schema_json is None else json.loads(self.input_schema_json)


def parse_skill(source: str | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> SkillVersion:
    """Parse `source` into a :class:`SkillVersion` or raise :class:`SkillParseError`."""
    text = _decode(source, max_bytes)
    tree = _parse(text)
    body = list(tree.body)
    if body and _is_docstring(body[0]):
        body = body[1:]

    imports: list[str] = []
    functions: list[ast.FunctionDef] = []
    seen: dict[str, int] = {}
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(ast.unparse(node))
        elif isinstance(node, ast.FunctionDef):
            if node.name in seen:
                raise SkillParseError(
                    f"function {node.name!r} is defined twice (first at line {seen[node.name]})",
                    lineno=node.lineno, col=node.col_offset,
                )
            seen[node.name] = node.lineno
            functions.append(node)
        elif isinstance(node, ast.AsyncFunctionDef):
            raise SkillParseError(
                f"async function {node.name!r} is not supported; skills are plain functions",
                lineno=node.lineno, col=node.col_offset,
            )
        else:
            raise SkillParseError(
                f"top-level {_describe(node)} is not allowed; a skill holds only imports, "
                "one public function and private helpers (names starting with '_')",
                lineno=node.lineno, col=node.col_offset,
            )

    public = [f for f in functions if not f.name.startswith("_")]
    if not functions:
        raise SkillParseError("no function defined; a skill is one public top-level function")
    if not public:
        raise SkillParseError(
            "no public function: only private helpers ("
            + ", ".join(f.name for f in functions) + "); the skill's function must not start with '_'",
            lineno=functions[0].lineno, col=functions[0].col_offset,
        )
    if len(public) > 1:
        extra = public[1]
        raise SkillParseError(
            "several public functions (" + ", ".join(f.name for f in public)
            + "); a skill has exactly one, helpers must start with '_'",
            lineno=extra.lineno, col=extra.col_offset,
        )
    fn = public[0]
    _check_name(fn)
    problems = _load_time_nodes(functions)
    if problems:
        where, message = problems[0]
        raise SkillParseError(message, lineno=getattr(where, "lineno", None), col=getattr(where, "col_offset", None))

    params = _parameters(fn.args)
    returns = ast.unparse(fn.returns) if fn.returns is not None else None
    signature = f"def {fn.name}({_format_parameters(params)})" + (f" -> {returns}" if returns else "")
    schema = _input_schema(fn.args)
    return SkillVersion(
        name=fn.name,
        source=text,
        content_hash=content_hash_of(tree),
        signature=signature,
        parameters=params,
        return_annotation=returns,
        docstring=ast.get_docstring(fn),
        imports=tuple(imports),
        helpers=tuple(f.name for f in functions if f is not fn),
        input_schema_json=None if schema is None else json.dumps(schema, sort_keys=True),
    )


def load_time_problems(source: str | ast.Module) -> list[str]:
    """What in `source` (text, or its parsed tree) would run code when its functions are
    defined ("line N: ..."); empty when defining them runs none (see the module
    docstring). A source that does not parse is one problem."""
    if isinstance(source, ast.Module):
        tree = source
    else:
        try:
            tree = ast.parse(source, mode="exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            return [f"line {getattr(exc, 'lineno', 0) or 0}: syntax error: {getattr(exc, 'msg', exc)}"]
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    problems: list[tuple[ast.AST, str]] = []
    for i, node in enumerate(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.append(node)
        elif not (isinstance(node, (ast.Import, ast.ImportFrom)) or (i == 0 and _is_docstring(node))):
            problems.append((node, (f"top-level {_describe(node)} runs when the skill is loaded; "
                                   "a skill holds only imports and function definitions")))
    problems.extend(_load_time_nodes(functions))
    problems.sort(key=lambda p: (getattr(p[0], "lineno", 0), getattr(p[0], "col_offset", 0)))
    return [f"line {getattr(node, 'lineno', 0)}: {message}" for node, message in problems]


#: Annotation nodes that evaluate without calling anything of the skill's own.
_INERT_ANNOTATION = (ast.Name, ast.Attribute, ast.Constant, ast.Subscript, ast.Tuple, ast.List, ast.BinOp,
                     ast.BitOr, ast.Load, ast.Slice)


def _load_time_nodes(functions: list[Any]) -> list[tuple[ast.AST, str]]:
    """Decorators, non-literal defaults and active annotations of top-level functions
    (nested functions are defined only when the skill runs)."""
    found: list[tuple[ast.AST, str]] = []
    for fn in functions:
        for deco in fn.decorator_list:
            found.append((deco, (f"decorator on {fn.name!r} runs when the skill is loaded; "
                                "skills take no decorators")))
        args = fn.args
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            try:
                ast.literal_eval(default)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                found.append((default, (f"default value {_short(default)} of {fn.name!r} is evaluated when the "
                                       "skill is loaded; defaults must be literals (compute it in the body)")))
        annotated = [*args.posonlyargs, *args.args, *args.kwonlyargs,
                     *(a for a in (args.vararg, args.kwarg) if a is not None)]
        notes = [a.annotation for a in annotated if a.annotation is not None]
        if fn.returns is not None:
            notes.append(fn.returns)
        for note in notes:
            bad = next((n for n in ast.walk(note) if not isinstance(n, _INERT_ANNOTATION)
                        and not isinstance(n, (ast.operator, ast.expr_context))), None)
            if bad is not None or any(isinstance(n, ast.BinOp) and not isinstance(n.op, ast.BitOr)
                                      for n in ast.walk(note)):
                found.append((note, (f"annotation {_short(note)} of {fn.name!r} is evaluated when the skill "
                                    "is loaded; use names and subscripts only (e.g. list[str] | None)")))
    return found


def _short(node: ast.AST) -> str:
    text = ast.unparse(node)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def content_hash_of(tree: ast.AST) -> str:
    """Hash of an AST that ignores positions, so formatting never changes it."""
    dump = ast.dump(tree, annotate_fields=True, include_attributes=False)
    return "sha256:" + hashlib.sha256(dump.encode("utf-8")).hexdigest()


def extract_function(code: str, name: str) -> str:
    """Cut a standalone skill source for function `name` out of an agent's code block.

    The result holds every top-level import of the block, the private helpers (``_x``)
    that `name` references directly or through other helpers, and the function itself,
    in the block's order and with its original formatting. Other statements (calls,
    assignments, other public functions) are dropped. When `name` is defined several
    times, the last definition wins, as it would when the block runs. Raises
    :class:`SkillParseError` when the block does not parse, does not define `name` at
    top level, or the result is not a valid skill.
    """
    tree = _parse(code)
    lines = code.splitlines(keepends=True)
    defs: dict[str, ast.FunctionDef] = {}
    imports: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(node)
        elif isinstance(node, ast.FunctionDef):
            defs[node.name] = node
    if name not in defs:
        raise SkillParseError(f"the code defines no top-level function {name!r}")
    if name.startswith("_"):
        raise SkillParseError(f"{name!r} is a private helper (starts with '_'); a skill's function must be public")

    wanted = {name}
    pending = [defs[name]]
    while pending:
        node = pending.pop()
        for ref in ast.walk(node):
            if isinstance(ref, ast.Name) and ref.id.startswith("_") and ref.id in defs and ref.id not in wanted:
                wanted.add(ref.id)
                pending.append(defs[ref.id])

    def segment(node: ast.stmt) -> str:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        chunk = "".join(lines[start - 1 : node.end_lineno])
        return chunk if chunk.endswith("\n") else chunk + "\n"

    parts: list[str] = []
    import_text = "".join(ast.unparse(n) + "\n" for n in imports)
    if import_text:
        parts.append(import_text)
    chosen = [n for n in tree.body if isinstance(n, ast.FunctionDef) and defs.get(n.name) is n and n.name in wanted]
    parts.extend(segment(n) for n in chosen)
    result = "\n\n".join(parts)
    parse_skill(result)
    return result


# ---------------------------------------------------------------------------------
# internals


def _decode(source: str | bytes, max_bytes: int) -> str:
    if isinstance(source, bytes):
        if len(source) > max_bytes:
            raise SkillParseError(f"source is {len(source)} bytes, over the {max_bytes}-byte limit")
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SkillParseError(f"source is not valid UTF-8 (bad byte at offset {exc.start})") from None
    elif isinstance(source, str):
        try:
            size = len(source.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise SkillParseError(f"source is not valid UTF-8 (lone surrogate at offset {exc.start})") from None
        if size > max_bytes:
            raise SkillParseError(f"source is {size} bytes, over the {max_bytes}-byte limit")
        text = source
    else:
        raise SkillParseError(f"source must be str or bytes, not {type(source).__name__}")
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise SkillParseError("source is empty")
    if "\x00" in text:
        raise SkillParseError("source contains a NUL byte")
    return text


def _parse(text: str) -> ast.Module:
    try:
        return ast.parse(text, mode="exec")
    except SyntaxError as exc:
        col = None if exc.offset is None else max(exc.offset - 1, 0)
        raise SkillParseError(f"syntax error: {exc.msg}", lineno=exc.lineno, col=col) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SkillParseError(f"source cannot be parsed: {type(exc).__name__}: {exc}") from None


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _describe(node: ast.stmt) -> str:
    if isinstance(node, ast.ClassDef):
        return f"class {node.name!r}"
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return "call"
    return {
        "Assign": "assignment", "AnnAssign": "assignment", "AugAssign": "assignment",
        "Expr": "expression", "If": "if statement", "For": "for loop", "While": "while loop",
        "With": "with statement", "Try": "try statement", "Return": "return",
    }.get(type(node).__name__, f"statement ({type(node).__name__})")


def _check_name(fn: ast.FunctionDef) -> None:
    if not _NAME_RE.fullmatch(fn.name):
        raise SkillParseError(
            f"invalid skill name {fn.name!r}: use ASCII letters, digits and '_', starting with a letter, at most 100 chars",
            lineno=fn.lineno, col=fn.col_offset,
        )
    if fn.name in _RESERVED_NAMES:
        raise SkillParseError(
            f"invalid skill name {fn.name!r}: it shadows a Python builtin or reserved name",
            lineno=fn.lineno, col=fn.col_offset,
        )


def _parameters(args: ast.arguments) -> tuple[Parameter, ...]:
    out: list[Parameter] = []
    positional = list(args.posonlyargs) + list(args.args)
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    for i, (a, d) in enumerate(zip(positional, defaults)):
        kind = "positional_only" if i < len(args.posonlyargs) else "positional_or_keyword"
        out.append(Parameter(a.arg, kind, _src(a.annotation), _src(d)))
    if args.vararg:
        out.append(Parameter(args.vararg.arg, "var_positional", _src(args.vararg.annotation)))
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        out.append(Parameter(a.arg, "keyword_only", _src(a.annotation), _src(d)))
    if args.kwarg:
        out.append(Parameter(args.kwarg.arg, "var_keyword", _src(args.kwarg.annotation)))
    return tuple(out)


def _format_parameters(params: tuple[Parameter, ...]) -> str:
    """PEP 8 spelling (`b: str = 'x'`, `b='x'`), which `ast.unparse` does not produce."""
    parts: list[str] = []
    kinds = [p.kind for p in params]
    for i, p in enumerate(params):
        if p.kind == "keyword_only" and "var_positional" not in kinds and (i == 0 or params[i - 1].kind != "keyword_only"):
            parts.append("*")
        star = {"var_positional": "*", "var_keyword": "**"}.get(p.kind, "")
        text = star + p.name + (f": {p.annotation}" if p.annotation else "")
        if p.default is not None:
            text += f" = {p.default}" if p.annotation else f"={p.default}"
        parts.append(text)
        if p.kind == "positional_only" and (i + 1 == len(params) or params[i + 1].kind != "positional_only"):
            parts.append("/")
    return ", ".join(parts)


def _src(node: ast.AST | None) -> str | None:
    return None if node is None else ast.unparse(node)


class _NoSchema(Exception):
    pass


_SCALARS = {"int": "integer", "float": "number", "str": "string", "bool": "boolean", "bytes": "string"}
_ARRAYS = {"list", "List", "tuple", "Tuple", "set", "Set", "frozenset", "Sequence", "Iterable", "typing.List"}
_OBJECTS = {"dict", "Dict", "Mapping", "typing.Dict"}


def _input_schema(args: ast.arguments) -> dict[str, Any] | None:
    if args.vararg or args.kwarg:
        return None
    positional = list(args.posonlyargs) + list(args.args)
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = list(zip(positional, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))
    properties: dict[str, Any] = {}
    required: list[str] = []
    try:
        for a, d in pairs:
            prop = _type_schema(a.annotation) if a.annotation is not None else {}
            if d is None:
                required.append(a.arg)
            else:
                try:
                    value = ast.literal_eval(d)
                    json.dumps(value)
                    prop = {**prop, "default": value}
                except (ValueError, TypeError, SyntaxError, RecursionError):
                    pass  # a computed default is still a default; the schema just omits it
            properties[a.arg] = prop
    except _NoSchema:
        return None
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _type_schema(node: ast.expr) -> dict[str, Any]:
    if isinstance(node, ast.Constant):
        if node.value is None:
            return {"type": "null"}
        if isinstance(node.value, str):  # a string annotation: parse it as a type
            try:
                return _type_schema(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                raise _NoSchema from None
        raise _NoSchema
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([node.left, node.right])
    name = ast.unparse(node.value if isinstance(node, ast.Subscript) else node)
    name = name.removeprefix("typing.").removeprefix("collections.abc.")
    if isinstance(node, (ast.Name, ast.Attribute)):
        if name in _SCALARS:
            return {"type": _SCALARS[name]}
        if name in _ARRAYS:
            return {"type": "array"}
        if name in _OBJECTS:
            return {"type": "object"}
        if name in ("Any", "object"):
            return {}
        if name == "None":
            return {"type": "null"}
        raise _NoSchema
    if isinstance(node, ast.Subscript):
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if name in _ARRAYS:
            if name in ("tuple", "Tuple") and not (len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis):
                return {"type": "array", "prefixItems": [_type_schema(a) for a in args], "minItems": len(args), "maxItems": len(args)}
            return {"type": "array", "items": _type_schema(args[0])}
        if name in _OBJECTS:
            return {"type": "object", "additionalProperties": _type_schema(args[1]) if len(args) == 2 else {}}
        if name == "Optional":
            return _union([args[0], ast.Constant(None)])
        if name == "Union":
            return _union(args)
        if name == "Literal":
            try:
                values = [ast.literal_eval(a) for a in args]
                json.dumps(values)
            except (ValueError, TypeError, SyntaxError):
                raise _NoSchema from None
            return {"enum": values}
    raise _NoSchema


def _union(nodes: list[ast.expr]) -> dict[str, Any]:
    flat: list[dict[str, Any]] = []
    for n in nodes:
        s = _type_schema(n)
        flat.extend(s["anyOf"] if set(s) == {"anyOf"} else [s])
    return {"anyOf": flat}
