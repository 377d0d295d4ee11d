"""How scenarios and their tasks are declared, and how a task is graded.

A scenario is a procedure (one reusable skill) and at least three tasks that need it with
different supervisors and parameters. Each task declares, as data, the changes it
requests (:class:`Expect`), the extra changes it tolerates (:class:`Allow`) and the
answer it asks for. Grading is state-based, as in AppWorld: the task's whole state is
diffed against the base, every requested change must be there, every other change is
collateral damage, and the answer is compared after normalisation
(`skillbank.worlds.apps.answers`, the one place answers are normalised).

The requested changes and the answer are *task* tests; completion, no collateral damage
and "nothing sent that was not asked for" (the outbound ledger: every email, text,
payment, order or share made during the task, which deleting the sent copy does not
erase, must be accounted for by a requested change) are *guards*; see `Grade.fraction`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillbank.worlds.apps.answers import AnswerRefused, answers_equal, canonical, describe, texts_equal
from skillbank.worlds.apps.state import Change, OutboundEntry
from skillbank.worlds.base import ANSWER, GUARD, TASK, TestResult

#: Marks a task that asks for no answer.
NO_ANSWER = object()

Predicate = Callable[[Any], bool]


#: Free-text fields an instruction spells out exactly (contents, bodies, titles, notes):
#: compared with `answers.texts_equal`, so surrounding whitespace (a trailing newline, a
#: stray space) is not a difference; case and everything inside must match.
TEXT_FIELDS: dict[tuple[str, str], frozenset[str]] = {
    ("notes", "notes"): frozenset({"title", "content"}),
    ("files", "files"): frozenset({"content"}),
    ("mail", "emails"): frozenset({"subject", "body"}),
    ("phone", "messages"): frozenset({"content"}),
    ("todo", "tasks"): frozenset({"title"}),
    ("wallet", "transactions"): frozenset({"note"}),
    ("wallet", "requests"): frozenset({"note"}),
    ("wallet", "comments"): frozenset({"text"}),
    ("shop", "reviews"): frozenset({"title"}),
    ("shop", "returns"): frozenset({"reason"}),
    ("music", "playlists"): frozenset({"title"}),
    ("splitbill", "expenses"): frozenset({"description"}),
}

#: Fields an inserted record must leave empty unless the Expect names them: an email the
#: task did not ask to copy or attach to has no cc and no attachments; a public review
#: the task gave only a rating and title has no text.
STRICT_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("mail", "emails"): {"cc": [], "attachments": []},
    ("shop", "reviews"): {"text": ""},
}


def _matches(row: Mapping[str, Any] | None, spec: Mapping[str, Any], text_fields: frozenset[str] = frozenset()) -> bool:
    if row is None:
        return not spec
    for key, want in spec.items():
        have = row.get(key)
        if callable(want):
            if not want(have):
                return False
        elif isinstance(want, (list, tuple)) and isinstance(have, (list, tuple)):
            if sorted(map(repr, want)) != sorted(map(repr, have)):
                return False
        elif key in text_fields and isinstance(want, str):
            if not texts_equal(have, want):
                return False
        elif type(have) is bool or type(want) is bool:
            if type(have) is not type(want) or have != want:
                return False
        elif have != want:
            return False
    return True


_AMOUNT = re.compile(r"(?<![\w.])\$?\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?![\w])")


def _amounts(line: str) -> set[int]:
    """The dollar amounts a line mentions, in cents ("$12.50", "12.5", "1,250.00")."""
    out = set()
    for whole, frac in _AMOUNT.findall(line):
        out.add(int(whole.replace(",", "")) * 100 + int((frac or "0").ljust(2, "0")))
    return out


@dataclass(frozen=True)
class Line:
    """What one line of a written list must mention: words (case-insensitive) and amounts
    in cents (written as dollars, with or without '$')."""

    words: tuple[str, ...] = ()
    cents: tuple[int, ...] = ()

    def fits(self, line: str) -> bool:
        low = line.lower()
        return all(w.lower() in low for w in self.words) and set(self.cents) <= _amounts(line)


def lines_match(rows: Sequence[Line], *, forbidden: Sequence[str] = ()) -> Predicate:
    """A predicate for a written list (a note's or file's content): one non-empty line per
    row, in any order, each line holding everything its row names, and no line naming a
    `forbidden` word."""
    rows = tuple(rows)
    banned = tuple(w.lower() for w in forbidden)

    def check(content: Any) -> bool:
        if not isinstance(content, str):
            return False
        lines = [ln.strip() for ln in content.splitlines() if ln.strip()]
        if len(lines) != len(rows) or any(b in ln.lower() for ln in lines for b in banned):
            return False
        fits = [[j for j, ln in enumerate(lines) if row.fits(ln)] for row in rows]
        owner: dict[int, int] = {}

        def assign(i: int, seen: set[int]) -> bool:
            for j in fits[i]:
                if j not in seen:
                    seen.add(j)
                    if j not in owner or assign(owner[j], seen):
                        owner[j] = i
                        return True
            return False

        return all(assign(i, set()) for i in range(len(rows)))

    return check


@dataclass(frozen=True)
class Expect:
    """A requested change: exactly `count` changes of `kind` to `app.table` whose new
    record matches `match` (the old record for deletes) and whose old record matches
    `before`. With `only_fields`, an update may touch no other field."""

    app: str
    table: str
    kind: str  # insert | update | delete
    match: Mapping[str, Any] = field(default_factory=dict)
    before: Mapping[str, Any] = field(default_factory=dict)
    count: int = 1
    only_fields: frozenset[str] | None = None
    label: str = ""

    def accepts(self, c: Change) -> bool:
        if (c.app, c.table, c.kind) != (self.app, self.table, self.kind):
            return False
        row = c.before if self.kind == "delete" else c.after
        if not _matches(row, self.match, TEXT_FIELDS.get((self.app, self.table), frozenset())):
            return False
        if self.kind == "insert":
            strict = STRICT_DEFAULTS.get((self.app, self.table), {})
            if any(k not in self.match and (row or {}).get(k, v) != v for k, v in strict.items()):
                return False
        if self.before and not _matches(c.before, self.before):
            return False
        if self.only_fields is not None and not c.changed_fields() <= self.only_fields:
            return False
        return True

    def describe(self) -> str:
        if self.label:
            return self.label
        what = ", ".join(f"{k}={v!r}" for k, v in self.match.items() if not callable(v))
        return f"{self.count} {self.kind} in {self.app}.{self.table}" + (f" with {what}" if what else "")

    def take(self, unmatched: Sequence[Change], changes: Sequence[Change]) -> tuple[bool, str, list[Change]]:
        """Check this requirement against the not-yet-claimed changes: (passed, message,
        the changes it claims)."""
        hits = [c for c in unmatched if self.accepts(c)]
        ok = len(hits) == self.count
        return ok, "found" if ok else f"expected {self.count} matching change(s), found {len(hits)}", hits[: self.count]


@dataclass(frozen=True)
class FundedBalance:
    """A wallet balance that follows how the owner's own payments were funded, for tasks
    whose instruction names no funding source: each payment may come from the balance or
    from any of the owner's valid cards (`cards`), and the balance must end at `base`
    minus the balance-funded payments plus what the owner received in the task."""

    owner_id: str
    base: int
    cards: frozenset[str]
    label: str = ""
    # a consistency check, not work: it holds when nothing was paid
    test_kind: str = GUARD

    def describe(self) -> str:
        return self.label or f"balance of {self.owner_id} follows its payments' funding"

    def take(self, unmatched: Sequence[Change], changes: Sequence[Change]) -> tuple[bool, str, list[Change]]:
        final = self.base
        for c in changes:
            if (c.app, c.table, c.kind) != ("wallet", "transactions", "insert") or c.after is None:
                continue
            t = c.after
            if t.get("sender_id") == self.owner_id:
                card = t.get("payment_card_id")
                if card is None:
                    final -= t.get("amount_cents", 0)
                elif card not in self.cards:
                    return False, f"payment {c.id} uses card {card!r}, not a valid card of the payer", []
            if t.get("receiver_id") == self.owner_id:
                final += t.get("amount_cents", 0)
        mine = [c for c in unmatched if (c.app, c.table, c.kind) == ("wallet", "accounts", "update")
                and (c.after or {}).get("owner_id") == self.owner_id]
        if final == self.base:
            return (not mine), ("unchanged" if not mine else "the balance changed but no payment came from it"), []
        ok = (len(mine) == 1 and mine[0].after is not None and mine[0].after.get("balance_cents") == final
              and mine[0].changed_fields() <= {"balance_cents"})
        return ok, (f"{final} cents" if ok else f"expected the balance to end at {final} cents"), mine[:1] if ok else []


@dataclass(frozen=True)
class Allow:
    """Changes a task tolerates without requiring them (e.g. marking a message read)."""

    app: str
    table: str
    kind: str | None = None
    match: Mapping[str, Any] = field(default_factory=dict)

    def accepts(self, c: Change) -> bool:
        if (c.app, c.table) != (self.app, self.table) or (self.kind and c.kind != self.kind):
            return False
        return _matches(c.before if c.kind == "delete" else c.after, self.match,
                        TEXT_FIELDS.get((self.app, self.table), frozenset()))


@dataclass(frozen=True)
class TaskSpec:
    """One task of a scenario. `call` is the expert's call of the scenario's skill for
    this task (an expression); the world wraps it with `complete_task`."""

    instruction: str
    supervisor: str  # person id
    call: str
    expect: tuple[Expect | FundedBalance, ...] = ()
    allow: tuple[Allow, ...] = ()
    answer: Any = NO_ANSWER
    answer_order_matters: bool = False


@dataclass(frozen=True)
class ScenarioDef:
    """A scenario: its procedure as a skill, and a builder of its tasks from world data."""

    id: str
    apps: tuple[str, ...]
    difficulty: int
    split: str
    skill_name: str
    skill_source: str
    build: Callable[[Any, random.Random], Sequence[TaskSpec]]
    explore_block: str | None = None
    description: str = ""


#: Kept for callers of the old name: the normal form answers compare in.
normalise_answer = canonical


def grade_changes(
    spec: TaskSpec,
    changes: Sequence[Change],
    *,
    completed: bool,
    status: str | None,
    answer: Any,
    outbound: Sequence[OutboundEntry] = (),
) -> tuple[TestResult, ...]:
    """The task's tests: the requested changes and the answer are task tests; completion,
    no collateral damage and no unrequested outbound action are guards."""
    tests: list[TestResult] = []
    tests.append(
        TestResult(
            "task completed",
            completed and status == "success",
            "complete_task was called with status 'success'" if completed and status == "success"
            else ("the task was given up (status 'fail')" if completed else "complete_task was never called"),
            GUARD,
        )
    )
    unmatched = list(changes)
    claimed: set[tuple[str, str, str]] = set()
    for exp in spec.expect:
        ok, message, taken = exp.take(unmatched, changes)
        tests.append(TestResult(f"requested: {exp.describe()}", ok, message, getattr(exp, "test_kind", TASK)))
        for c in taken:
            unmatched.remove(c)
            claimed.add((c.app, c.table, c.id))
    collateral = [c for c in unmatched if not any(a.accepts(c) for a in spec.allow)]
    tests.append(
        TestResult(
            "no collateral damage",
            not collateral,
            "no other changes" if not collateral
            else f"{len(collateral)} unexpected change(s): "
            + "; ".join(f"{c.kind} {c.app}.{c.table} {c.id}" for c in collateral[:3]),
            GUARD,
        )
    )
    unasked = [e for e in outbound if not any(k in claimed for k in e.keys)]
    tests.append(
        TestResult(
            "nothing sent that was not asked for",
            not unasked,
            f"{len(outbound)} outbound action(s), all requested" if not unasked
            else f"{len(unasked)} outbound action(s) the task did not ask for (deleting the copy does not undo them): "
            + "; ".join(e.summary for e in unasked[:3]),
            GUARD,
        )
    )
    if spec.answer is not NO_ANSWER:
        try:
            ok = answers_equal(answer, spec.answer, order_matters=spec.answer_order_matters)
            message = "correct" if ok else f"got {describe(answer)}"
        except AnswerRefused as exc:
            ok, message = False, f"answer refused: {exc}"
        tests.append(TestResult("answer", ok, message, ANSWER))
    return tuple(tests)
