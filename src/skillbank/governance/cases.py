"""Evaluation cases: what a skill version is tested on, each with its recorded origin.

- **call** cases: the arguments and JSON result of one successful call of the skill in
  an episode (or in a replay of one), with the task and world seed it ran against.
  Replayed in a fresh copy of that task's world; the result must be the same JSON (a
  result recorded as ``unserialisable`` or ``too_large`` only has to come back without
  an error).
- **task** cases: the episode's recorded code, re-run in a fresh world with the version
  under test preloaded (the episode's own definition of the skill removed), graded by
  the world's tests.
- **user** cases: inputs with an expected output or a predicate over ``result``,
  attached by a person (``skillbank skills cases add NAME FILE``, TOML or JSON).

Cases live in the library as events (``case_recorded`` for evidence of one version,
``case_added`` for a name's user cases), so they travel with export and import and
keep their history.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillbank.errors import ValidationError

CASE_KINDS = ("call", "task", "user")
MAX_CASE_CHARS = 64_000


@dataclass(frozen=True)
class EvalCase:
    kind: str
    task_id: str | None = None
    seed: int | None = None
    world: str = "apps"
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    expected_kind: str | None = None  # call: json | unserialisable | too_large; user: json or None
    expected: Any = None
    code: str | None = None  # task cases
    predicate: str | None = None  # user cases: a Python expression over `result`
    origin: dict[str, Any] = field(default_factory=dict)  # run_id, episode_id, source: live|replay|file
    description: str = ""

    @property
    def id(self) -> str:
        body = json.dumps([self.kind, self.task_id, self.seed, self.world, list(self.args), self.kwargs,
                           self.expected_kind, self.expected, self.code, self.predicate], sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "task_id": self.task_id, "seed": self.seed, "world": self.world,
                "args": list(self.args), "kwargs": dict(self.kwargs), "expected_kind": self.expected_kind,
                "expected": self.expected, "code": self.code, "predicate": self.predicate, "origin": dict(self.origin),
                "description": self.description}

    @classmethod
    def from_dict(cls, data: Any) -> EvalCase:
        if not isinstance(data, dict) or data.get("kind") not in CASE_KINDS:
            raise ValidationError(f"not an evaluation case: {str(data)[:80]!r}")
        return cls(
            kind=data["kind"], task_id=data.get("task_id"), seed=data.get("seed"), world=data.get("world") or "apps",
            args=tuple(data.get("args") or ()), kwargs=dict(data.get("kwargs") or {}),
            expected_kind=data.get("expected_kind"), expected=data.get("expected"), code=data.get("code"),
            predicate=data.get("predicate"), origin=dict(data.get("origin") or {}), description=data.get("description") or "",
        )


def _user_case(raw: Any, where: str) -> EvalCase:
    if not isinstance(raw, dict):
        raise ValidationError(f"{where}: a case must be a table/object")
    known = {"args", "kwargs", "expect", "predicate", "task", "seed", "description"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValidationError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if ("expect" in raw) == ("predicate" in raw):
        raise ValidationError(f"{where}: give exactly one of 'expect' (the output) or 'predicate' (an expression over result)")
    args, kwargs = raw.get("args", []), raw.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ValidationError(f"{where}: 'args' must be a list and 'kwargs' a table")
    predicate = raw.get("predicate")
    if predicate is not None:
        if not isinstance(predicate, str) or not predicate.strip():
            raise ValidationError(f"{where}: 'predicate' must be a Python expression over result, e.g. \"result >= 0\"")
        try:
            compile(predicate, "<predicate>", "eval")
        except SyntaxError as exc:
            raise ValidationError(f"{where}: predicate {predicate!r} is not a Python expression: {exc.msg}") from None
    seed = raw.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ValidationError(f"{where}: 'seed' must be an integer")
    task = raw.get("task")
    if task is not None and not isinstance(task, str):
        raise ValidationError(f"{where}: 'task' must be a task id string")
    try:
        json.dumps([args, kwargs, raw.get("expect")])
    except (TypeError, ValueError):
        raise ValidationError(f"{where}: arguments and expected output must be JSON values") from None
    return EvalCase(kind="user", task_id=task, seed=seed, args=tuple(args), kwargs=kwargs,
                    expected_kind="json" if "expect" in raw else None, expected=raw.get("expect"),
                    predicate=predicate, origin={"source": "file"}, description=str(raw.get("description") or ""))


def load_user_cases(path: str | Path) -> list[EvalCase]:
    """User cases from a TOML file (``[[case]]`` tables) or a JSON file (a list, or an
    object with a ``cases`` list). Each case: ``args``/``kwargs``, and ``expect`` or
    ``predicate``; optional ``task`` (task id), ``seed``, ``description``."""
    p = Path(path)
    if not p.is_file():
        raise ValidationError(f"cases file {str(p)!r} does not exist")
    text = p.read_text(encoding="utf-8")
    if len(text) > 10 * MAX_CASE_CHARS:
        raise ValidationError(f"cases file {str(p)!r} is larger than {10 * MAX_CASE_CHARS} characters")
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"cases file {str(p)!r} is not valid JSON: {exc}") from None
        raw = data.get("cases") if isinstance(data, dict) else data
    elif p.suffix.lower() == ".toml":
        try:
            raw = tomllib.loads(text).get("case")
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"cases file {str(p)!r} is not valid TOML: {exc}") from None
    else:
        raise ValidationError(f"cases file {str(p)!r}: use a .toml or .json file")
    if not isinstance(raw, list) or not raw:
        raise ValidationError(f"cases file {str(p)!r} holds no cases (TOML: [[case]] tables; JSON: a list)")
    return [_user_case(item, f"{p.name} case {i + 1}") for i, item in enumerate(raw)]
