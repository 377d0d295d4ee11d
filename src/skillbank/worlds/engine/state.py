"""Copy-on-write world state.

The base state is built once per world (from the seed, with a `BaseBuilder`) and never
mutated. Each task gets
a :class:`State` that layers its own changes over the base, so a reset costs one empty
dict per table touched, and the collateral-damage diff is exactly the overlay.

Records are plain dicts treated as immutable: writers replace a record with a new dict,
never edit one in place (APIs return copies).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_DELETED = object()

Record = dict[str, Any]


class BaseTable:
    """A frozen table: rows by id plus an index of ids by owner."""

    __slots__ = ("by_owner", "name", "owner_field", "rows")

    def __init__(self, name: str, rows: Mapping[str, Record], owner_field: str | None = None):
        self.name = name
        self.rows = dict(rows)
        self.owner_field = owner_field
        by_owner: dict[Any, list[str]] = {}
        if owner_field:
            for rid, row in self.rows.items():
                by_owner.setdefault(row.get(owner_field), []).append(rid)
        self.by_owner = {k: tuple(v) for k, v in by_owner.items()}


class Table:
    """One task's view of a table: the frozen base plus this task's changes."""

    __slots__ = ("added_by_owner", "base", "changes", "journal", "key")

    def __init__(self, base: BaseTable, journal: list[tuple[str, str, str]] | None = None):
        self.base = base
        self.changes: dict[str, Any] = {}
        self.added_by_owner: dict[Any, list[str]] = {}
        # every write appends (app, table, id): what an outbound call touched
        self.journal = journal if journal is not None else []
        app, _, name = base.name.partition(".")
        self.key = (app, name)

    @property
    def name(self) -> str:
        return self.base.name

    def get(self, rid: str) -> Record | None:
        row = self.changes.get(rid, None)
        if row is None:
            return self.base.rows.get(rid)
        return None if row is _DELETED else row

    def ref(self, rid: str) -> Record:
        """The row another row refers to (an order's product, a playlist's song): the
        world keeps such references intact, so a missing row is a broken world."""
        row = self.get(rid)
        if row is None:
            raise KeyError(f"broken reference: no id {rid!r} in {self.base.name}")
        return row

    def __contains__(self, rid: str) -> bool:
        return self.get(rid) is not None

    def insert(self, rid: str, row: Record) -> None:
        if self.get(rid) is not None:
            raise KeyError(f"duplicate id {rid!r} in {self.base.name}")
        self.changes[rid] = row
        self.journal.append((*self.key, rid))
        if self.base.owner_field and rid not in self.base.rows:
            self.added_by_owner.setdefault(row.get(self.base.owner_field), []).append(rid)

    def update(self, rid: str, **fields: Any) -> Record:
        row = self.get(rid)
        if row is None:
            raise KeyError(rid)
        new = {**row, **fields}
        self.changes[rid] = new
        self.journal.append((*self.key, rid))
        return new

    def delete(self, rid: str) -> None:
        if self.get(rid) is None:
            raise KeyError(rid)
        self.journal.append((*self.key, rid))
        if rid in self.base.rows:
            self.changes[rid] = _DELETED
        else:
            del self.changes[rid]
            owner_field = self.base.owner_field
            if owner_field:
                # a row added and deleted in the same task leaves no trace
                for ids in self.added_by_owner.values():
                    if rid in ids:
                        ids.remove(rid)

    def rows(self) -> Iterator[Record]:
        changes = self.changes
        for rid, row in self.base.rows.items():
            cur = changes.get(rid, row)
            if cur is not _DELETED:
                yield cur
        for rid, row in changes.items():
            if rid not in self.base.rows and row is not _DELETED:
                yield row

    def rows_of(self, owner: Any) -> list[Record]:
        """Rows whose owner field equals `owner`, in insertion order (fast path)."""
        if not self.base.owner_field:
            raise TypeError(f"table {self.base.name} has no owner index")
        out = []
        changes = self.changes
        for rid in self.base.by_owner.get(owner, ()):
            cur = changes.get(rid)
            if cur is None:
                out.append(self.base.rows[rid])
            # an update may move a row to another owner
            elif cur is not _DELETED and cur.get(self.base.owner_field) == owner:
                out.append(cur)
        for rid in self.added_by_owner.get(owner, ()):
            cur = changes.get(rid)
            if cur is not None and cur is not _DELETED and cur.get(self.base.owner_field) == owner:
                out.append(cur)
        # rows moved *to* this owner from another owner's base rows
        if changes:
            for rid, cur in changes.items():
                if cur is _DELETED or rid not in self.base.rows:
                    continue
                if cur.get(self.base.owner_field) == owner and self.base.rows[rid].get(self.base.owner_field) != owner:
                    out.append(cur)
        return out


@dataclass(frozen=True)
class OutboundEntry:
    """One action that left the supervisor's world or cannot be taken back (an email or
    text sent, money moved, an order placed, a task shared): an append-only record that
    later deletions do not erase. `keys` are the (app, table, id) records the call wrote;
    the grader counts the action as requested when a requested change claims one of them."""

    app: str
    api: str
    summary: str
    keys: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Change:
    app: str
    table: str
    id: str
    kind: str  # "insert", "update", "delete"
    before: Record | None
    after: Record | None

    def changed_fields(self) -> set[str]:
        if self.before is None or self.after is None:
            return set((self.before or self.after or {}).keys())
        keys = set(self.before) | set(self.after)
        return {k for k in keys if self.before.get(k) != self.after.get(k)}


#: A task state's tables as they were at one moment: see `State.checkpoint`.
Checkpoint = dict[tuple[str, str], tuple[dict[str, Any], dict[Any, list[str]]]]


class BaseState:
    """The frozen base of a world: tables keyed by (app, table)."""

    def __init__(self, tables: Mapping[tuple[str, str], BaseTable], ephemeral: frozenset[tuple[str, str]] = frozenset()):
        self.tables = dict(tables)
        self.ephemeral = ephemeral

    def fork(self) -> State:
        return State(self)


class State:
    """A task's mutable view; tables are materialised lazily on first touch."""

    __slots__ = ("_tables", "base", "journal", "outbound")

    def __init__(self, base: BaseState):
        self.base = base
        self._tables: dict[tuple[str, str], Table] = {}
        self.journal: list[tuple[str, str, str]] = []
        self.outbound: list[OutboundEntry] = []

    def table(self, app: str, name: str) -> Table:
        key = (app, name)
        t = self._tables.get(key)
        if t is None:
            try:
                t = Table(self.base.tables[key], self.journal)
            except KeyError:
                raise KeyError(f"no table {app}.{name}") from None
            self._tables[key] = t
        return t

    def checkpoint(self) -> Checkpoint:
        """What `rollback` needs to undo every change made after this call."""
        return {k: (dict(t.changes), {o: list(ids) for o, ids in t.added_by_owner.items()})
                for k, t in self._tables.items()}

    def rollback(self, saved: Checkpoint) -> None:
        """Undo the changes made since `saved` was taken (the journal and the outbound
        ledger keep their entries: they record what was attempted, in order)."""
        for k in list(self._tables):
            if k not in saved:
                del self._tables[k]
            else:
                t = self._tables[k]
                t.changes, t.added_by_owner = saved[k]

    def diff(self) -> list[Change]:
        """Every effective change against the base, ephemeral tables excluded."""
        out: list[Change] = []
        for (app, name), t in self._tables.items():
            if (app, name) in self.base.ephemeral:
                continue
            for rid, row in t.changes.items():
                before = t.base.rows.get(rid)
                after = None if row is _DELETED else row
                if before == after:
                    continue
                kind = "insert" if before is None else ("delete" if after is None else "update")
                out.append(Change(app, name, rid, kind, before, after))
        return out


class BaseBuilder:
    """Collects a world's base rows, table by table, then freezes them into a `BaseState`."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.owner_fields: dict[tuple[str, str], str | None] = {}
        self.ephemeral: set[tuple[str, str]] = set()

    def table(self, app: str, name: str, owner_field: str | None = None, *, ephemeral: bool = False) -> None:
        self.rows.setdefault((app, name), {})
        self.owner_fields[(app, name)] = owner_field
        if ephemeral:
            self.ephemeral.add((app, name))

    def add(self, app: str, name: str, rid: str, row: dict[str, Any]) -> None:
        table = self.rows[(app, name)]
        if rid in table:
            raise ValueError(f"duplicate id {rid} in {app}.{name}")
        table[rid] = row

    def freeze(self) -> BaseState:
        return BaseState(
            {k: BaseTable(f"{k[0]}.{k[1]}", rows, self.owner_fields.get(k)) for k, rows in self.rows.items()},
            frozenset(self.ephemeral),
        )
