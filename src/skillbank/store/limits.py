"""Bounds on what a library stores and hands back (issue 27).

Every JSON payload the store keeps (an event's payload; a version's provenance) is
checked at write: nesting depth, encoded size and, for provenance, each field's length
(the columns' own widths, which PostgreSQL enforces and SQLite does not). Rows written
before these checks existed are read back safely: a payload over the limits is replaced
by a small marker object instead of failing every later read of the log.

Integers that reach SQL (version numbers, alias generations, event ids) are checked
against the columns' range, so 2**63 is a 422, not an overflow deep in the driver.

This module imports only the standard library and `skillbank.errors`.
"""

from __future__ import annotations

import json
from typing import Any

from skillbank.errors import ValidationError

#: Deepest nesting of a stored payload ({"a": {"b": 1}} is 2 deep). Governance's own
#: payloads (evaluation outcomes, red-team findings) are 3 or 4 deep.
MAX_PAYLOAD_DEPTH = 32
#: Encoded size of one stored event payload, whatever wrote it.
MAX_PAYLOAD_BYTES = 1 << 20
#: Provenance fields: the column widths for the short ones, generous caps for the texts.
PROVENANCE_LIMITS: dict[str, int] = {
    "created_by": 200, "task_id": 200, "episode_id": 200, "run_id": 200, "scenario_id": 200,
    "parent_version_id": 64, "query": 64 * 1024, "failure_log": 256 * 1024,
}
#: Event columns (schema.events).
EVENT_NAME_MAX = 100
EVENT_ACTOR_MAX = 200
EVENT_VERSION_ID_MAX = 64
EVENT_REASON_MAX = 64 * 1024
#: Versions and generations are INTEGER columns (32-bit on PostgreSQL); event ids may be
#: 64-bit on SQLite, so cursors get the wider range.
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1

UNRENDERABLE_KEY = "_skillbank_omitted"


class PayloadTooLarge(ValidationError):
    """A payload over the size limit (the REST API answers 413 for it, not 422)."""


def json_depth(value: Any, *, stop_at: int = MAX_PAYLOAD_DEPTH + 1) -> int:
    """Nesting depth of a JSON-like value, walked without recursion; stops counting at
    `stop_at` (so a hostile value costs no more than the limit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest >= stop_at:
                return deepest
        stack.extend((c, depth) for c in children)
    return deepest


def check_payload(payload: Any, *, what: str = "event payload", max_depth: int = MAX_PAYLOAD_DEPTH,
                  max_bytes: int = MAX_PAYLOAD_BYTES) -> str:
    """The payload encoded as JSON (sorted keys), or `ValidationError` (too deep, not
    JSON) / `PayloadTooLarge` (too big)."""
    depth = json_depth(payload, stop_at=max_depth + 1)
    if depth > max_depth:
        raise ValidationError(f"{what} is nested more than {max_depth} levels deep")
    try:
        text = json.dumps(payload if payload is not None else {}, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} is not JSON-serialisable: {exc}") from None
    if len(text.encode("utf-8")) > max_bytes:
        raise PayloadTooLarge(f"{what} is {len(text.encode('utf-8'))} bytes encoded; the limit is {max_bytes}")
    return text


def load_payload(text: str) -> dict[str, Any]:
    """A stored payload read back; one over the limits (stored before they existed)
    becomes a marker saying why it is not shown, so reading the log never fails."""
    if len(text) > MAX_PAYLOAD_BYTES:
        return {UNRENDERABLE_KEY: f"payload of {len(text)} characters is over the {MAX_PAYLOAD_BYTES}-byte limit"}
    if _text_depth(text) > MAX_PAYLOAD_DEPTH:
        return {UNRENDERABLE_KEY: f"payload nested more than {MAX_PAYLOAD_DEPTH} levels deep"}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {UNRENDERABLE_KEY: "payload is not valid JSON"}
    return value if isinstance(value, dict) else {"value": value}


def _text_depth(text: str) -> int:
    """Bracket depth of JSON text (brackets inside strings skipped), without parsing.
    Cheap: most payloads hold no bracket beyond the outer one."""
    if text.count("{") + text.count("[") <= MAX_PAYLOAD_DEPTH:
        return 1
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}]":
            depth -= 1
    return deepest


def check_provenance_fields(fields: dict[str, Any]) -> None:
    """Each provenance field within its column's width (`ValidationError` otherwise)."""
    for key, value in fields.items():
        cap = PROVENANCE_LIMITS.get(key)
        if cap is not None and isinstance(value, str) and len(value) > cap:
            raise (PayloadTooLarge if cap >= 64 * 1024 else ValidationError)(
                f"provenance.{key} is {len(value)} characters; the limit is {cap}")


def check_text(value: str | None, cap: int, what: str) -> None:
    if value is not None and len(value) > cap:
        raise ValidationError(f"{what} is {len(value)} characters; the limit is {cap}")


def check_int(value: int, what: str, *, low: int = 0, high: int = MAX_INT32) -> int:
    """`value` within [low, high], or `ValidationError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{what} must be an integer from {low} to {high}, not {value!r}")
    return value
