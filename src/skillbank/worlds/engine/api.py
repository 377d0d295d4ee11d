"""The building blocks of an app: typed parameters, documented APIs, pagination, ids.

An app declares ``APP = AppDef(name, description)`` and its APIs with ``@APP.api(...)``.
Each API function receives a context (the built-in apps world's `CallContext`, a toolkit
tool's `ToolContext`; both carry the task's env as ``ctx.env``) and its validated
arguments. Hand-written apps (the built-in apps world) and plain functions (the toolkit)
both end up as these declarations, so every app documents, validates and reports errors
alike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillbank.worlds.base import ApiError

#: Time is frozen in a world: every task sees the same "now" (a toolkit world may pick its own).
NOW = dt.datetime(2026, 5, 18, 10, 0, 0, tzinfo=dt.UTC)
NOW_ISO = NOW.isoformat()
TODAY = NOW.date()

MAX_PAGE_LIMIT = 20
DEFAULT_PAGE_LIMIT = 5

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list[string]": (list,),
    "list[integer]": (list,),
    "list": (list,),
    "object": (dict,),
    "any": (object,),
}


@dataclass(frozen=True)
class Param:
    """One API parameter, as documented and validated."""

    name: str
    type: str = "string"
    description: str = ""
    required: bool = True
    default: Any = None
    choices: tuple[Any, ...] | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    max_length: int | None = None
    nullable: bool = False

    def check(self, app: str, api: str, value: Any) -> Any:
        where = f"{app}.{api}: parameter '{self.name}'"
        if value is None:
            if self.nullable or not self.required:
                return None
            raise ApiError(f"{where} is required and cannot be null.")
        kinds = _TYPES[self.type]
        ok = isinstance(value, kinds) and not (self.type in ("integer", "number") and isinstance(value, bool))
        if self.type == "number" and isinstance(value, str):
            ok = False
        if not ok:
            raise ApiError(f"{where} must be of type {self.type}, got {type(value).__name__} ({value!r:.40}).")
        if self.type.startswith("list["):
            inner = _TYPES[self.type[5:-1]]
            if not all(isinstance(v, inner) and not isinstance(v, bool) for v in value):
                raise ApiError(f"{where} must be a {self.type}.")
        if self.choices is not None and value not in self.choices:
            raise ApiError(f"{where} must be one of {list(self.choices)}, got {value!r}.")
        if self.minimum is not None and value < self.minimum:
            raise ApiError(f"{where} must be >= {self.minimum}, got {value!r}.")
        if self.maximum is not None and value > self.maximum:
            raise ApiError(f"{where} must be <= {self.maximum}, got {value!r}.")
        if self.max_length is not None and len(value) > self.max_length:
            raise ApiError(f"{where} is too long ({len(value)} > {self.max_length}).")
        return value

    def doc(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required, "description": self.description}
        if not self.required:
            d["default"] = self.default
        constraints: dict[str, Any] = {}
        if self.choices is not None:
            constraints["choices"] = list(self.choices)
        if self.minimum is not None:
            constraints["minimum"] = self.minimum
        if self.maximum is not None:
            constraints["maximum"] = self.maximum
        if self.max_length is not None:
            constraints["max_length"] = self.max_length
        if constraints:
            d["constraints"] = constraints
        return d


ACCESS_TOKEN = Param("access_token", "string", "The token returned by this app's login API.")
PAGE_INDEX = Param("page_index", "integer", "Page to return, starting at 0.", required=False, default=0, minimum=0)
PAGE_LIMIT = Param(
    "page_limit", "integer", "Results per page.", required=False, default=DEFAULT_PAGE_LIMIT, minimum=1, maximum=MAX_PAGE_LIMIT
)
PAGINATION = (PAGE_INDEX, PAGE_LIMIT)


@dataclass(frozen=True)
class ApiSpec:
    app: str
    name: str
    description: str
    params: tuple[Param, ...]
    response: Any
    errors: tuple[str, ...]
    func: Callable[..., Any]
    auth: bool
    mutates: bool
    paginated: bool
    #: Irreversible effects outside the task's state (money moved, mail sent): the
    #: side-effect audit treats calls to such APIs with the most suspicion.
    destructive: bool = False
    # True, or a predicate of the bound arguments (e.g. only an event with attendees)
    outbound: bool | Callable[[dict[str, Any]], bool] = False
    _by_name: dict[str, Param] = field(default_factory=dict, compare=False, repr=False)

    def bind(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Validate keyword arguments and fill defaults; errors name the field."""
        by_name = self._by_name
        for key in kwargs:
            if key not in by_name:
                raise ApiError(
                    f"{self.app}.{self.name}: unexpected parameter '{key}'. Parameters: {', '.join(by_name) or '(none)'}."
                )
        out = {}
        for p in self.params:
            if p.name in kwargs:
                out[p.name] = p.check(self.app, self.name, kwargs[p.name])
            elif p.required:
                raise ApiError(f"{self.app}.{self.name}: missing required parameter '{p.name}'.")
            else:
                out[p.name] = p.default
        return out

    def doc(self) -> dict[str, Any]:
        return {
            "app_name": self.app,
            "api_name": self.name,
            "description": self.description,
            "parameters": [p.doc() for p in self.params],
            "response": self.response,
            "errors": list(self.errors),
        }


class AppDef:
    """An app's definition: its name, description and documented APIs.

    An app declared with ``login=True`` (the default) gets a `login` API, served by the
    task env's ``login``; APIs declared with ``auth=True`` (the default) take an
    ``access_token`` parameter. APIs declared with
    ``outbound=True`` send something out of the supervisor's world or cannot be taken back
    (messages, emails, payments, orders, shares): each successful call is written to the
    task's append-only outbound ledger, which the grader checks.
    """

    def __init__(self, name: str, description: str, *, login: bool = True, username_field: str = "email"):
        self.name = name
        self.description = description
        self.apis: dict[str, ApiSpec] = {}
        self.username_field = username_field
        if login:
            self._add_login()

    def api(
        self,
        name: str,
        description: str,
        params: Sequence[Param] = (),
        *,
        response: Any = None,
        errors: Iterable[str] = (),
        auth: bool = True,
        mutates: bool = False,
        paginated: bool = False,
        destructive: bool = False,
        outbound: bool | Callable[[dict[str, Any]], bool] = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            if name in self.apis:
                raise ValueError(f"duplicate API {self.name}.{name}")
            ps = list(params)
            if paginated:
                ps += PAGINATION
            if auth:
                ps = [ACCESS_TOKEN, *ps]
            errs = list(errors)
            if auth:
                errs.insert(0, "401 unauthorised: the access token is missing, invalid or for another app")
            errs.append("422 validation error: a parameter is missing, unexpected, of the wrong type or out of range")
            spec = ApiSpec(
                app=self.name,
                name=name,
                description=description,
                params=tuple(ps),
                response=response,
                errors=tuple(errs),
                func=func,
                auth=auth,
                mutates=mutates or destructive,
                paginated=paginated,
                destructive=destructive,
                outbound=outbound,
            )
            spec._by_name.update({p.name: p for p in spec.params})
            self.apis[name] = spec
            return func

        return register

    def _add_login(self) -> None:
        field_name = self.username_field
        label = "phone number" if field_name == "phone" else "email address"

        @self.api(
            "login",
            f"Log in to {self.name} with your {label} and password; returns an access token for its other APIs.",
            [Param("username", "string", f"Your {label}."), Param("password", "string", f"Your {self.name} password.")],
            response={"access_token": "string", "token_type": "Bearer"},
            errors=("401 invalid credentials",),
            auth=False,
        )
        def login(ctx: Any, username: str, password: str) -> dict[str, Any]:
            return ctx.env.login(self.name, username, password)


def paginate(rows: Sequence[Any], page_index: int, page_limit: int) -> list[Any]:
    start = page_index * page_limit
    return list(rows[start : start + page_limit])


def sort_rows(rows: list[dict[str, Any]], sort_by: str | None, allowed: Sequence[str]) -> list[dict[str, Any]]:
    """Sort by a field; a leading '-' sorts descending. Unknown fields are refused."""
    if not sort_by:
        return rows
    desc = sort_by.startswith("-")
    key = sort_by.lstrip("+-")
    if key not in allowed:
        raise ApiError(f"sort_by must be one of {[*allowed, *('-' + a for a in allowed)]}, got {sort_by!r}.")
    return sorted(rows, key=lambda r: (r.get(key) is None, r.get(key)), reverse=desc)


def sort_param(allowed: Sequence[str], default: str | None = None) -> Param:
    return Param(
        "sort_by",
        "string",
        f"Field to sort by ({', '.join(allowed)}); prefix with '-' for descending.",
        required=False,
        default=default,
        nullable=True,
    )


def stable_id(prefix: str, *parts: Any) -> str:
    """An opaque, deterministic id: the same seed and parts give the same id."""
    h = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=5).hexdigest()
    return f"{prefix}_{h}"


def not_found(app: str, what: str, key: Any) -> ApiError:
    return ApiError(f"{app}: {what} {key!r} not found.")


def require_owner(app: str, row: dict[str, Any] | None, owner_field: str, user: str, what: str, key: Any) -> dict[str, Any]:
    """Return the row if the caller owns it; otherwise the same not-found error (no leaks)."""
    if row is None or row.get(owner_field) != user:
        raise not_found(app, what, key)
    return row


def fresh(value: Any) -> Any:
    """A copy of the lists and dicts inside a value (scalars are shared: they are immutable)."""
    t = type(value)
    if t is list:
        return [fresh(v) for v in value]
    if t is dict:
        return {k: fresh(v) for k, v in value.items()}
    return value


def public(row: dict[str, Any], *hidden: str) -> dict[str, Any]:
    """A copy of a record for a response, without internal fields (those starting with '_').

    Lists and dicts inside are copied too: an in-process caller that edits a response
    (say, appends to its tags) must not edit the base record it came from.
    """
    return {
        k: (fresh(v) if type(v) in (list, dict) else v)
        for k, v in row.items()
        if not k.startswith("_") and k not in hidden
    }
