"""A tool's documented interface, read from the function itself.

Parameters, their types, defaults and which are required come from the signature and
its annotations; descriptions come from the docstring (Google style ``Args:`` /
``Returns:`` / ``Raises:`` sections, or reST ``:param name:`` lines) or from
``Annotated[T, "description"]``; bounds from ``Annotated[T, Field(ge=..., le=...,
max_length=...)]``. The result is the same :class:`~skillbank.worlds.engine.api.Param`
list a hand-written app declares, so both kinds of app document and validate alike.

Supported parameter types: ``str``, ``int``, ``float``, ``bool``, ``list[str]``,
``list[int]``, ``list`` (of anything), ``dict``, ``Any``, ``Literal[...]`` (choices) and
``X | None`` (nullable). Anything else is refused when the tool is defined, with the
parameter named, rather than discovered when the agent first calls it.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Union

from skillbank.errors import ValidationError
from skillbank.worlds.engine.api import Param


@dataclass(frozen=True)
class Field:
    """Bounds and a description for a parameter: ``Annotated[int, Field(ge=1)]``."""

    description: str | None = None
    ge: int | float | None = None
    le: int | float | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class DocString:
    summary: str
    params: dict[str, str]
    returns: str
    raises: tuple[str, ...]


_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Returns|Return|Yields|Raises|Errors|Examples?|Notes?)\s*:\s*$")
_ARG_LINE = re.compile(r"^\*{0,2}([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_REST_PARAM = re.compile(r"^:param\s+(?:[^:\s]+\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*)$")
_REST_OTHER = re.compile(r"^:(returns?|raises?\s+[A-Za-z_.]+|rtype)\s*:\s*(.*)$")


def _one_line(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split())


def parse_docstring(doc: str | None) -> DocString:
    """Split a docstring into its summary, per-parameter text, returns and raises."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    params: dict[str, list[str]] = {}
    returns: list[str] = []
    raises: list[list[str]] = []
    section = "summary"
    current: list[str] | None = None
    indent = None
    for raw in lines:
        line = raw.strip()
        m = _SECTION.match(line)
        if m and not raw.startswith((" ", "\t")):
            name = m.group(1).lower()
            section = {"arguments": "args", "parameters": "args", "params": "args", "return": "returns",
                       "yields": "returns", "errors": "raises", "example": "other", "examples": "other",
                       "note": "other", "notes": "other"}.get(name, name)
            current, indent = None, None
            continue
        rest = _REST_PARAM.match(line)
        if rest:
            section = "rest"
            current = params.setdefault(rest.group(1), [])
            current.append(rest.group(2))
            continue
        other = _REST_OTHER.match(line)
        if other:
            section = "rest"
            kind = other.group(1)
            if kind.startswith("return"):
                current = returns
            elif kind.startswith("raise"):
                raises.append([other.group(2)])
                current = raises[-1]
            else:
                current = None
            if current is returns:
                current.append(other.group(2))
            continue
        if section == "summary":
            summary.append(line)
        elif section == "args":
            lead = len(raw) - len(raw.lstrip())
            arg = _ARG_LINE.match(line)
            if arg and (indent is None or lead <= indent):
                indent = lead
                current = params.setdefault(arg.group(1), [])
                current.append(arg.group(3))
            elif current is not None and line:
                current.append(line)
        elif section == "returns":
            if line:
                returns.append(line)
        elif section == "raises":
            lead = len(raw) - len(raw.lstrip())
            if line and (indent is None or lead <= indent):
                indent = lead
                raises.append([line])
            elif line and raises:
                raises[-1].append(line)
        elif section == "rest" and current is not None and line:
            current.append(line)
    # The summary is the text before the first section, as one paragraph per blank line.
    text = "\n".join(summary).strip()
    return DocString(
        summary=" ".join(text.split()),
        params={k: _one_line(v) for k, v in params.items()},
        returns=_one_line(returns),
        raises=tuple(_error_text(_one_line(r)) for r in raises if _one_line(r)),
    )


def _error_text(entry: str) -> str:
    """``ToolError: no such order`` → ``no such order`` (the exception class is noise)."""
    m = re.match(r"^[A-Za-z_][A-Za-z0-9_.]*(?:Error|Exception)\s*:\s*(.+)$", entry)
    text = m.group(1) if m else entry
    return text[:-1] if text.endswith(".") and not text.endswith("..") else text


_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object",
                            Any: "any", object: "any", list: "list"}
_LISTS = {str: "list[string]", int: "list[integer]"}


@dataclass(frozen=True)
class _Typed:
    type: str
    nullable: bool = False
    choices: tuple[Any, ...] | None = None


def _strip_none(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        nullable = len(args) != len(typing.get_args(tp))
        if len(args) == 1:
            return args[0], nullable
        raise TypeError("a union of several types")
    return tp, False


def _param_type(tp: Any) -> _Typed:
    tp, nullable = _strip_none(tp)
    origin = typing.get_origin(tp)
    if origin is Literal:
        values = typing.get_args(tp)
        kinds = {type(v) for v in values}
        if kinds <= {str}:
            kind = "string"
        elif kinds <= {int}:
            kind = "integer"
        else:
            kind = "any"
        return _Typed(kind, nullable, tuple(values))
    if tp in _SCALARS:
        return _Typed(_SCALARS[tp], nullable)
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        return _Typed(_LISTS.get(inner, "list"), nullable)
    if origin is dict or _is_typeddict(tp):
        return _Typed("object", nullable)
    raise TypeError(f"unsupported type {tp!r}")


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__annotations__") and hasattr(tp, "__total__")


def response_shape(tp: Any) -> Any:
    """A return annotation as the docs' response shape (``{"field": "type"}``, ``[...]``)."""
    if tp is inspect.Signature.empty or tp is None or tp is type(None):
        return None
    try:
        tp, _ = _strip_none(tp)
    except TypeError:
        return "any"
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if _is_typeddict(tp):
        hints = typing.get_type_hints(tp)
        return {k: response_shape(v) for k, v in hints.items()}
    origin = typing.get_origin(tp)
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        if inner in _LISTS:
            return _LISTS[inner]
        return [response_shape(inner)]
    if origin is Literal:
        return "string"
    if origin is dict:
        return "object"
    return _SCALARS.get(tp, getattr(tp, "__name__", str(tp)))


#: A tool's context parameter: named `ctx`, or annotated with the context class.
CONTEXT_NAMES = ("ctx",)


@dataclass(frozen=True)
class ToolSignature:
    """What a function says about itself, in the world engine's terms."""

    description: str
    params: tuple[Param, ...]
    response: Any
    errors: tuple[str, ...]
    takes_context: bool


def read_signature(func: Callable[..., Any], *, where: str, context_type: type | None = None) -> ToolSignature:
    """Derive a tool's docs from `func`; `where` names it in errors (``app.tool``)."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{where}: cannot read the function's signature ({exc})") from None
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as exc:  # noqa: BLE001 - a user's annotations may fail to resolve
        raise ValidationError(f"{where}: cannot resolve the type annotations ({type(exc).__name__}: {exc})") from None
    doc = parse_docstring(func.__doc__)
    if not doc.summary:
        raise ValidationError(f"{where}: the function needs a docstring: its first line is the tool's description")
    params: list[Param] = []
    takes_context = False
    for i, (name, p) in enumerate(sig.parameters.items()):
        hint = hints.get(name, inspect.Signature.empty)
        base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
        if i == 0 and (name in CONTEXT_NAMES or (context_type is not None and base is context_type)):
            takes_context = True
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise ValidationError(f"{where}: *args and **kwargs cannot be documented; name every parameter")
        if p.kind is p.POSITIONAL_ONLY:
            raise ValidationError(f"{where}: parameter '{name}' is positional-only; tools are called by keyword")
        if name.startswith("_"):
            raise ValidationError(f"{where}: parameter '{name}' starts with '_'; the agent could not pass it")
        if hint is inspect.Signature.empty:
            raise ValidationError(f"{where}: parameter '{name}' needs a type annotation")
        description, field = _annotated_meta(hint)
        try:
            typed = _param_type(base)
        except TypeError as exc:
            raise ValidationError(
                f"{where}: parameter '{name}' has an {exc}; use str, int, float, bool, list[str], list[int], "
                "list, dict, Any, Literal[...] or one of them | None"
            ) from None
        required = p.default is inspect.Parameter.empty
        default = None if required else p.default
        params.append(Param(
            name=name,
            type=typed.type,
            description=description or (field.description if field and field.description else None)
            or doc.params.get(name, ""),
            required=required,
            default=default,
            choices=typed.choices,
            minimum=field.ge if field else None,
            maximum=field.le if field else None,
            max_length=field.max_length if field else None,
            nullable=typed.nullable or (not required and default is None),
        ))
    unknown = sorted(set(doc.params) - {p.name for p in params} - set(CONTEXT_NAMES))
    if unknown:
        raise ValidationError(f"{where}: the docstring documents parameter(s) the function lacks: {', '.join(unknown)}")
    response = response_shape(hints.get("return", inspect.Signature.empty))
    if response is None and doc.returns:
        response = doc.returns
    return ToolSignature(doc.summary, tuple(params), response, doc.raises, takes_context)


def _annotated_meta(hint: Any) -> tuple[str | None, Field | None]:
    if typing.get_origin(hint) is not typing.Annotated:
        return None, None
    description, field = None, None
    for meta in typing.get_args(hint)[1:]:
        if isinstance(meta, str):
            description = meta
        elif isinstance(meta, Field):
            field = meta
    return description, field
