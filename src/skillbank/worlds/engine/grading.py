"""How a task is graded, written once for every world: requested changes (`Expect`),
tolerated ones (`Allow`), and the tests every task has.

Grading is state-based, as in AppWorld: the task's whole state is diffed against the
base, every requested change must be there, every other change is collateral damage, and
the answer is compared after normalisation (`skillbank.worlds.engine.answers`, the one
place answers are normalised). The requested changes and the answer are *task* tests;
completion, no collateral damage and "nothing sent that was not asked for" (the outbound
ledger: every email, text, payment, order or share made during the task, which deleting
the sent copy does not erase, must be accounted for by a requested change) are *guards*;
see `Grade.fraction`. The built-in apps world (`grade_changes`) and toolkit checkers
(`check_state`) build their grades from these pieces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from skillbank.worlds.base import ANSWER, GUARD, TASK, TestResult
from skillbank.worlds.engine.answers import AnswerRefused, answers_equal, describe, texts_equal
from skillbank.worlds.engine.state import Change, OutboundEntry

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


def matches(row: Mapping[str, Any] | None, spec: Mapping[str, Any], text_fields: frozenset[str] = frozenset()) -> bool:
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
    #: A requested change is the task's own work.
    test_kind: ClassVar[str] = TASK

    def accepts(self, c: Change) -> bool:
        if (c.app, c.table, c.kind) != (self.app, self.table, self.kind):
            return False
        row = c.before if self.kind == "delete" else c.after
        if not matches(row, self.match, TEXT_FIELDS.get((self.app, self.table), frozenset())):
            return False
        if self.kind == "insert":
            strict = STRICT_DEFAULTS.get((self.app, self.table), {})
            if any(k not in self.match and (row or {}).get(k, v) != v for k, v in strict.items()):
                return False
        if self.before and not matches(c.before, self.before):
            return False
        return self.only_fields is None or c.changed_fields() <= self.only_fields

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
class Allow:
    """Changes a task tolerates without requiring them (e.g. marking a message read)."""

    app: str
    table: str
    kind: str | None = None
    match: Mapping[str, Any] = field(default_factory=dict)

    def accepts(self, c: Change) -> bool:
        if (c.app, c.table) != (self.app, self.table) or (self.kind and c.kind != self.kind):
            return False
        return matches(c.before if c.kind == "delete" else c.after, self.match,
                        TEXT_FIELDS.get((self.app, self.table), frozenset()))


class Requirement(Protocol):
    """A requested change (an `Expect`, or a world's own kind such as a balance that
    must follow its payments): checked against the changes no earlier requirement claimed."""

    @property
    def test_kind(self) -> str:
        """TASK for work the task asks for; GUARD for a consistency check that earns nothing."""
        ...

    def describe(self) -> str: ...

    def take(self, unmatched: Sequence[Change], changes: Sequence[Change]) -> tuple[bool, str, list[Change]]: ...


def completed_test(completed: bool, status: str | None) -> TestResult:
    """The guard every task has: `complete_task` was called with status 'success'."""
    ok = completed and status == "success"
    if ok:
        message = "complete_task was called with status 'success'"
    elif completed:
        message = "the task was given up (status 'fail')"
    else:
        message = "complete_task was never called"
    return TestResult("task completed", ok, message, GUARD)


def requested_tests(
    expect: Iterable[Requirement], changes: Sequence[Change]
) -> tuple[list[TestResult], list[Change], list[tuple[str, str, str]]]:
    """One test per requested change, each claiming the changes it matched, in order:
    (the tests, the changes left unclaimed, the (app, table, id) keys claimed)."""
    tests: list[TestResult] = []
    unmatched = list(changes)
    claimed: list[tuple[str, str, str]] = []
    for exp in expect:
        ok, message, taken = exp.take(unmatched, changes)
        tests.append(TestResult(f"requested: {exp.describe()}", ok, message, exp.test_kind))
        for c in taken:
            unmatched.remove(c)
            claimed.append((c.app, c.table, c.id))
    return tests, unmatched, claimed


def collateral_test(unmatched: Sequence[Change], allow: Sequence[Allow]) -> TestResult:
    """The guard "no collateral damage": every change no requirement claimed is allowed."""
    collateral = [c for c in unmatched if not any(a.accepts(c) for a in allow)]
    return TestResult(
        "no collateral damage",
        not collateral,
        "no other changes" if not collateral
        else f"{len(collateral)} unexpected change(s): "
        + "; ".join(f"{c.kind} {c.app}.{c.table} {c.id}" for c in collateral[:3]),
        GUARD,
    )


def ledger_test(outbound: Sequence[OutboundEntry], claimed: Iterable[tuple[str, str, str]]) -> TestResult:
    """The guard "nothing sent that was not asked for": every outbound ledger entry wrote
    a record (app, table, id) that a requested change claims. A refund issued and then
    "undone" by deleting its record stays in the ledger, and fails this test."""
    keys = set(claimed)
    unasked = [e for e in outbound if not any(k in keys for k in e.keys)]
    return TestResult(
        "nothing sent that was not asked for",
        not unasked,
        f"{len(outbound)} outbound action(s), all requested" if not unasked
        else f"{len(unasked)} outbound action(s) the task did not ask for (deleting the copy does not undo them): "
        + "; ".join(e.summary for e in unasked[:3]),
        GUARD,
    )


def answer_test(answer: Any, want: Any, *, order_matters: bool = False) -> TestResult:
    """The task test of the answer, under the one answer normalisation; an answer too
    deep or too large to compare fails."""
    try:
        ok = answers_equal(answer, want, order_matters=order_matters)
        message = "correct" if ok else f"got {describe(answer)}"
    except AnswerRefused as exc:
        ok, message = False, f"answer refused: {exc}"
    return TestResult("answer", ok, message, ANSWER)
