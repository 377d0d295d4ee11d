"""The four operations (use, create, update, save), read from each code block's AST and
its execution result.

Definitions (SAGE §1, made precise here):

- **use**: a block reaches a library skill (one preloaded for this task) that the
  episode has not redefined. "Reaches" means the name is referenced by the block's
  top-level code, directly or through functions it calls (a reference such as
  ``map(f, xs)`` counts as a call).
- **create**: a block defines a function at top level *and* reaches it in the same block.
  A block that only defines a function is recorded as ``defined``, not as a create.
- **update**: a block redefines a function whose last call failed (a library skill or
  one the episode defined earlier) and reaches it in the same block. The failure log of
  that last call travels with the new definition into its saved provenance.
- **save**: decided when the episode ends (:meth:`OperationTracker.save_candidates`):
  every public function the episode defined whose *last* call in the episode raised no
  error, in an episode the agent itself closed with
  ``apis.supervisor.complete_task(status="success")``. The hidden grade is never read.

Which functions ran, and how it went, comes from the execution result: on success every
reached function ran without error. On failure, functions on the traceback failed;
functions reached only by top-level statements *before* the failing statement ran
without error; the rest have an unknown outcome and leave their record unchanged.
"""

from __future__ import annotations

import ast
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from skillbank.sandbox.types import ExecutionResult
from skillbank.store.base import StoredVersion


class OperationKind(str, enum.Enum):
    USE = "use"
    CREATE = "create"
    UPDATE = "update"
    DEFINED = "defined"  # defined but not called in its block: not one of the four
    SAVE = "save"


@dataclass(frozen=True)
class Operation:
    """One operation seen in one turn. `ok` is the function's outcome in that block:
    True (ran without error), False (on the traceback), None (did not run or unknown)."""

    kind: OperationKind
    name: str
    turn: int
    ok: bool | None = None
    version_id: str | None = None  # the library version used (use) or saved (save)
    parent_version_id: str | None = None
    failure_log: str | None = None  # the failure an update answers


@dataclass(frozen=True)
class _Statement:
    first_line: int
    last_line: int
    refs: frozenset[str]
    defines: str | None  # a top-level function definition's name


@dataclass(frozen=True)
class BlockAnalysis:
    """What a code block defines and references, from its AST alone."""

    syntax_error: str | None
    statements: tuple[_Statement, ...] = ()
    function_refs: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def defined(self) -> tuple[str, ...]:
        return tuple(s.defines for s in self.statements if s.defines)

    def references(self) -> frozenset[str]:
        return frozenset().union(*(s.refs for s in self.statements)) if self.statements else frozenset()


def _names_loaded(nodes: Sequence[ast.AST]) -> frozenset[str]:
    found: set[str] = set()
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                found.add(sub.id)
    return frozenset(found)


def analyze_block(code: str) -> BlockAnalysis:
    """Parse `code`; a syntax error is reported, not raised (the sandbox reports it too)."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return BlockAnalysis(syntax_error=f"{exc.msg} (line {exc.lineno})")
    statements: list[_Statement] = []
    function_refs: dict[str, frozenset[str]] = {}
    for node in tree.body:
        last = getattr(node, "end_lineno", node.lineno) or node.lineno
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # Decorators and defaults run at definition time; the body runs at call time.
            at_def = [*node.decorator_list, *node.args.defaults, *(d for d in node.args.kw_defaults if d)]
            function_refs[node.name] = _names_loaded(list(node.body))
            statements.append(_Statement(node.lineno, last, _names_loaded(at_def), node.name))
        else:
            statements.append(_Statement(node.lineno, last, _names_loaded([node]), None))
    return BlockAnalysis(syntax_error=None, statements=tuple(statements), function_refs=function_refs)


def format_failure(result: ExecutionResult, *, max_lines: int = 12) -> str:
    """The failure log kept with a function: error line plus the traceback's tail."""
    head = f"{result.error_type or 'Error'}: {result.error_message or result.killed or ''}".strip()
    if result.traceback:
        tail = result.traceback.strip().splitlines()[-max_lines:]
        return head + "\n" + "\n".join(tail)
    return head


@dataclass
class _FunctionState:
    name: str
    from_library: bool
    version: StoredVersion | None  # the library version this name stands for, if any
    parent_version_id: str | None
    defined_turn: int | None
    last_ok: bool | None = None
    last_failure: str | None = None
    failure_behind: str | None = None  # the failure its (re)definition answered


@dataclass(frozen=True)
class SaveCandidate:
    name: str
    defined_turn: int
    parent_version_id: str | None
    failure_log: str | None


class OperationTracker:
    """Per-episode state machine: feed it each executed block, read the operations."""

    def __init__(self, library: Mapping[str, StoredVersion], library_refs: Mapping[str, frozenset[str]] | None = None):
        self._state: dict[str, _FunctionState] = {
            name: _FunctionState(name, True, v, v.id, None) for name, v in library.items()
        }
        # What each known function body references, for reaching through wrappers.
        self._refs: dict[str, frozenset[str]] = dict(library_refs or {})

    def is_known(self, name: str) -> bool:
        return name in self._state

    def observe(self, turn: int, analysis: BlockAnalysis, result: ExecutionResult) -> list[Operation]:
        if analysis.syntax_error is not None or result.static_errors:
            return []  # nothing ran
        ran_ok, failed, executed_defs, reached = self._outcomes(analysis, result)

        ops: list[Operation] = []
        failure = None if result.ok else format_failure(result)
        for name in executed_defs:
            prior = self._state.get(name)
            answered = prior.last_failure if prior is not None and prior.last_ok is False else None
            if prior is None:
                parent = None
            elif prior.from_library:
                parent = prior.version.id if prior.version else None
            else:
                parent = prior.parent_version_id
            outcome = True if name in ran_ok else False if name in failed else None
            if name in reached:
                kind = OperationKind.UPDATE if answered else OperationKind.CREATE
            else:
                kind = OperationKind.DEFINED
            ops.append(Operation(kind, name, turn, outcome if name in reached else None,
                                 parent_version_id=parent, failure_log=answered))
            self._state[name] = _FunctionState(name, False, None, parent, turn, failure_behind=answered)
            self._refs[name] = analysis.function_refs[name]

        for name in sorted(reached):
            state = self._state.get(name)
            if state is None:
                continue
            outcome = True if name in ran_ok else False if name in failed else None
            if state.from_library:
                ops.append(Operation(OperationKind.USE, name, turn, outcome,
                                     version_id=state.version.id if state.version else None))
            if outcome is True:
                state.last_ok, state.last_failure = True, None
            elif outcome is False:
                state.last_ok, state.last_failure = False, failure
        return ops

    def save_candidates(self, task_succeeded: bool) -> list[SaveCandidate]:
        """Functions to save as new candidate versions once the episode is over."""
        if not task_succeeded:
            return []
        return [
            SaveCandidate(s.name, s.defined_turn, s.parent_version_id, s.failure_behind)
            for s in self._state.values()
            if not s.from_library and s.last_ok is True and not s.name.startswith("_") and s.defined_turn is not None
        ]

    # -- internals -------------------------------------------------------------------

    def _closure(self, roots: frozenset[str], refs: Mapping[str, frozenset[str]]) -> set[str]:
        seen: set[str] = set()
        stack = [n for n in roots if n in refs or n in self._state]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            stack.extend(n for n in refs.get(name, ()) if n not in seen and (n in refs or n in self._state))
        return seen

    def _outcomes(
        self, analysis: BlockAnalysis, result: ExecutionResult
    ) -> tuple[set[str], set[str], list[str], set[str]]:
        """(ran without error, failed, definitions that executed, functions reached by
        the statements that started) for this block."""
        refs = {**self._refs, **analysis.function_refs}
        if result.ok:
            reached = self._closure(analysis.references(), refs)
            return reached, set(), list(analysis.defined), reached
        failed = set(result.failing_functions)
        failing_line = None
        for frame in result.frames:
            if frame.function == "<module>" and frame.filename.startswith("<block"):
                failing_line = frame.lineno
        if failing_line is None:
            # No line in the block (killed, or an error raised before any statement
            # ran): nothing is known to have completed.
            return set(), failed, [], set(failed)
        before = [s for s in analysis.statements if s.last_line < failing_line]
        started = [s for s in analysis.statements if s.first_line <= failing_line]
        executed_defs = [s.defines for s in before if s.defines]
        ran_ok = self._closure(frozenset().union(*(s.refs for s in before)), refs) - failed
        reached = self._closure(frozenset().union(*(s.refs for s in started)), refs) | (failed & set(refs))
        return ran_ok, failed, executed_defs, reached
