"""How the built-in apps world's scenarios and tasks are declared, and how a task is graded.

A scenario is a procedure (one reusable skill) and at least three tasks that need it with
different supervisors and parameters. Each task declares, as data, the changes it
requests (`skillbank.worlds.engine.grading.Expect`, or a `FundedBalance`), the extra
changes it tolerates (`Allow`) and the answer it asks for. `grade_changes` grades it
with the engine's tests (`skillbank.worlds.engine.grading`): the requested changes and
the answer are *task* tests; completion, no collateral damage and "nothing sent that was
not asked for" are *guards*; see `Grade.fraction`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from skillbank.worlds.base import GUARD, TestResult
from skillbank.worlds.engine.answers import canonical
from skillbank.worlds.engine.grading import (
    Allow,
    Requirement,
    answer_test,
    collateral_test,
    completed_test,
    ledger_test,
    requested_tests,
)
from skillbank.worlds.engine.state import Change, OutboundEntry

#: Marks a task that asks for no answer.
NO_ANSWER = object()

Predicate = Callable[[Any], bool]


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
class TaskSpec:
    """One task of a scenario. `call` is the expert's call of the scenario's skill for
    this task (an expression); the world wraps it with `complete_task`."""

    instruction: str
    supervisor: str  # person id
    call: str
    expect: tuple[Requirement, ...] = ()
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
    requested, unmatched, claimed = requested_tests(spec.expect, changes)
    tests = [completed_test(completed, status), *requested, collateral_test(unmatched, spec.allow),
             ledger_test(outbound, claimed)]
    if spec.answer is not NO_ANSWER:
        tests.append(answer_test(answer, spec.answer, order_matters=spec.answer_order_matters))
    return tuple(tests)
