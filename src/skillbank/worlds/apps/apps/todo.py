"""`todo`: task lists and tasks with due dates, priorities, tags, completion and sharing.

A task's `shared_with` lists the email addresses of the people it is shared with; it is
still stored once, in its owner's account.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from skillbank.worlds.apps.context import CallContext
from skillbank.worlds.base import ApiError
from skillbank.worlds.engine.api import (
    NOW_ISO,
    TODAY,
    AppDef,
    Param,
    paginate,
    public,
    require_owner,
    sort_param,
    sort_rows,
    stable_id,
)

APP = AppDef("todo", "To-do lists: tasks with due dates, priorities, tags and completion; tasks can be shared by email.")
TABLES = {"lists": "owner_id", "tasks": "owner_id"}

PRIORITIES = ("low", "medium", "high")
_PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2}

_LISTS = {
    "Personal": ("Renew passport", "Book dentist appointment", "Call the bank", "Update CV", "Back up laptop",
                 "Sort old photos", "Cancel gym trial", "Return library books"),
    "Work": ("Prepare slides for review", "Send weekly status report", "Review pull request", "Plan team offsite",
             "Write onboarding guide", "Fix expense report", "Schedule one-on-ones", "Draft hiring plan"),
    "Home": ("Fix leaking tap", "Clean the gutters", "Replace smoke alarm battery", "Paint the hallway",
             "Organise the garage", "Buy new curtains", "Service the boiler", "Defrost the freezer"),
    "Errands": ("Pick up dry cleaning", "Post the parcel", "Buy birthday card", "Get car washed",
                "Collect prescription", "Drop off donations", "Buy printer ink", "Renew parking permit"),
    "Trip": ("Book flights", "Reserve hotel", "Buy travel insurance", "Exchange currency", "Pack bags",
             "Print tickets", "Arrange pet sitter", "Check visa rules"),
}
_TAGS = ("urgent", "waiting", "shopping", "calls", "weekend", "finance", "health")

_LIST = {"id": "string", "name": "string", "created_at": "datetime", "task_count": "integer", "open_count": "integer"}
_TASK = {
    "id": "string", "list_id": "string", "title": "string", "notes": "string", "due_date": "date|null",
    "priority": "low|medium|high", "completed": "boolean", "completed_at": "datetime|null", "tags": "list[string]",
    "shared_with": "list[string]", "created_at": "datetime",
}


def seed(b: Any, population: Any, rng: random.Random) -> None:
    people = population.by_id()
    for person in population.people:
        related = sorted(person.relationships)
        for name in rng.sample(sorted(_LISTS), rng.randrange(3, 5)):
            lid = stable_id("list", person.id, name)
            created = dt.datetime(2025, 1, 1, 9, tzinfo=dt.UTC) + dt.timedelta(days=rng.randrange(0, 300))
            b.add("todo", "lists", lid, {"id": lid, "owner_id": person.id, "name": name, "created_at": created.isoformat()})
            for k, title in enumerate(rng.sample(_LISTS[name], rng.randrange(4, 8))):
                tid = stable_id("task", person.id, name, k)
                due = None if rng.random() < 0.2 else (TODAY + dt.timedelta(days=rng.randrange(-25, 30))).isoformat()
                completed = rng.random() < 0.3
                shared = []
                if related and rng.random() < 0.25:
                    shared = sorted({people[o].email for o in rng.sample(related, min(len(related), rng.randrange(1, 3)))})
                b.add("todo", "tasks", tid, {
                    "id": tid, "owner_id": person.id, "list_id": lid, "title": title, "notes": "",
                    "due_date": due, "priority": rng.choice(PRIORITIES), "completed": completed,
                    "completed_at": (created + dt.timedelta(days=rng.randrange(1, 60))).isoformat() if completed else None,
                    "tags": sorted(set(rng.sample(_TAGS, rng.choice((0, 0, 1, 1, 2))))),
                    "shared_with": shared, "created_at": created.isoformat(),
                })


def _date(api: str, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ApiError(f"todo.{api}: parameter '{name}' must be an ISO date (YYYY-MM-DD), got {value!r}.") from None


def _list(ctx: CallContext, list_id: str) -> dict[str, Any]:
    return require_owner("todo", ctx.table("lists").get(list_id), "owner_id", ctx.user, "list", list_id)


def _task(ctx: CallContext, task_id: str) -> dict[str, Any]:
    return require_owner("todo", ctx.table("tasks").get(task_id), "owner_id", ctx.user, "task", task_id)


def _list_view(row: dict[str, Any], tasks: list[dict[str, Any]]) -> dict[str, Any]:
    mine = [t for t in tasks if t["list_id"] == row["id"]]
    return {**public(row, "owner_id"), "task_count": len(mine), "open_count": sum(not t["completed"] for t in mine)}


def _task_view(row: dict[str, Any]) -> dict[str, Any]:
    return public(row, "owner_id")


@APP.api(
    "show_account",
    "Show your to-do account: email and counts of lists, tasks and open tasks.",
    response={"email": "string", "list_count": "integer", "task_count": "integer", "open_count": "integer"},
)
def show_account(ctx):
    tasks = ctx.table("tasks").rows_of(ctx.user)
    return {
        "email": ctx.person(ctx.user)["email"], "list_count": len(ctx.table("lists").rows_of(ctx.user)),
        "task_count": len(tasks), "open_count": sum(not t["completed"] for t in tasks),
    }


@APP.api(
    "show_lists",
    "List your to-do lists with their task counts, by name.",
    [Param("query", "string", "Case-insensitive text to find in the list name.", required=False, nullable=True)],
    response=[_LIST],
    paginated=True,
)
def show_lists(ctx, query=None, page_index=0, page_limit=5):
    rows = ctx.table("lists").rows_of(ctx.user)
    if query:
        rows = [r for r in rows if query.lower() in r["name"].lower()]
    rows = sorted(rows, key=lambda r: r["name"].lower())
    tasks = ctx.table("tasks").rows_of(ctx.user)
    return [_list_view(r, tasks) for r in paginate(rows, page_index, page_limit)]


@APP.api(
    "create_list",
    "Create a to-do list. Names are unique (case-insensitive).",
    [Param("name", "string", "The list's name.", max_length=100)],
    response={"list_id": "string"},
    errors=("409 a list with this name exists",),
    mutates=True,
)
def create_list(ctx, name):
    if not name.strip():
        raise ApiError("todo.create_list: parameter 'name' must not be empty.")
    if any(r["name"].lower() == name.lower() for r in ctx.table("lists").rows_of(ctx.user)):
        raise ApiError(f"todo.create_list: a list named {name!r} already exists.")
    rid = ctx.new_id("list")
    ctx.table("lists").insert(rid, {"id": rid, "owner_id": ctx.user, "name": name, "created_at": NOW_ISO})
    return {"list_id": rid}


@APP.api(
    "rename_list",
    "Rename a to-do list.",
    [Param("list_id", "string", "The list's id."), Param("name", "string", "The new name.", max_length=100)],
    response={"message": "string"},
    errors=("404 list not found", "409 a list with this name exists"),
    mutates=True,
)
def rename_list(ctx, list_id, name):
    _list(ctx, list_id)
    if not name.strip():
        raise ApiError("todo.rename_list: parameter 'name' must not be empty.")
    if any(r["name"].lower() == name.lower() and r["id"] != list_id for r in ctx.table("lists").rows_of(ctx.user)):
        raise ApiError(f"todo.rename_list: a list named {name!r} already exists.")
    ctx.table("lists").update(list_id, name=name)
    return {"message": "List renamed."}


@APP.api(
    "delete_list",
    "Delete an empty to-do list (move or delete its tasks first).",
    [Param("list_id", "string", "The list's id.")],
    response={"message": "string"},
    errors=("404 list not found", "409 the list still has tasks"),
    mutates=True, destructive=True,
)
def delete_list(ctx, list_id):
    _list(ctx, list_id)
    if any(t["list_id"] == list_id for t in ctx.table("tasks").rows_of(ctx.user)):
        raise ApiError(f"todo.delete_list: list {list_id!r} still has tasks.")
    ctx.table("lists").delete(list_id)
    return {"message": "List deleted."}


_TASK_SORT = ("due_date", "priority_rank", "title", "created_at")


@APP.api(
    "show_tasks",
    "List your tasks, by due date by default (tasks without one last). Filters: list, text, tag, priority, "
    "completion, a due-date range, overdue (open and due before today), shared.",
    [
        Param("list_id", "string", "Only tasks in this list.", required=False, nullable=True),
        Param("query", "string", "Case-insensitive text to find in the title or notes.", required=False, nullable=True),
        Param("tag", "string", "Only tasks with this tag.", required=False, nullable=True),
        Param("priority", "string", "Only tasks with this priority.", required=False, nullable=True, choices=PRIORITIES),
        Param("completed", "boolean", "Only completed (true) or open (false) tasks.", required=False, nullable=True),
        Param("due_after", "string", "Only tasks due on or after this ISO date.", required=False, nullable=True),
        Param("due_before", "string", "Only tasks due on or before this ISO date.", required=False, nullable=True),
        Param("overdue", "boolean", "Only open tasks due before today (true).", required=False, nullable=True),
        Param("shared", "boolean", "Only tasks shared with someone (true) or with no one (false).", required=False, nullable=True),
        sort_param(_TASK_SORT, "due_date"),
    ],
    response=[_TASK],
    errors=("404 list not found", "422 a date filter is not an ISO date"),
    paginated=True,
)
def show_tasks(ctx, list_id=None, query=None, tag=None, priority=None, completed=None, due_after=None, due_before=None,
               overdue=None, shared=None, sort_by="due_date", page_index=0, page_limit=5):
    after = _date("show_tasks", "due_after", due_after)
    before = _date("show_tasks", "due_before", due_before)
    rows = ctx.table("tasks").rows_of(ctx.user)
    if list_id:
        _list(ctx, list_id)
        rows = [r for r in rows if r["list_id"] == list_id]
    if query:
        q = query.lower()
        rows = [r for r in rows if q in r["title"].lower() or q in r["notes"].lower()]
    if tag:
        rows = [r for r in rows if tag in r["tags"]]
    if priority:
        rows = [r for r in rows if r["priority"] == priority]
    if completed is not None:
        rows = [r for r in rows if r["completed"] == completed]
    if after:
        rows = [r for r in rows if r["due_date"] and r["due_date"] >= after]
    if before:
        rows = [r for r in rows if r["due_date"] and r["due_date"] <= before]
    if overdue is not None:
        today = TODAY.isoformat()
        rows = [r for r in rows if (not r["completed"] and r["due_date"] is not None and r["due_date"] < today) == overdue]
    if shared is not None:
        rows = [r for r in rows if bool(r["shared_with"]) == shared]
    if sort_by and sort_by.lstrip("+-") == "priority_rank":
        rows = sorted(rows, key=lambda r: _PRIORITY_RANK[r["priority"]], reverse=sort_by.startswith("-"))
    else:
        rows = sort_rows(rows, sort_by, _TASK_SORT)
    return [_task_view(r) for r in paginate(rows, page_index, page_limit)]


@APP.api("show_task", "Show one task.", [Param("task_id", "string", "The task's id.")], response=_TASK, errors=("404 task not found",))
def show_task(ctx, task_id):
    return _task_view(_task(ctx, task_id))


@APP.api(
    "create_task",
    "Add a task to one of your lists.",
    [
        Param("list_id", "string", "The list to add it to."),
        Param("title", "string", "The task's title.", max_length=200),
        Param("due_date", "string", "Due date (YYYY-MM-DD).", required=False, nullable=True),
        Param("priority", "string", "Priority.", required=False, default="medium", choices=PRIORITIES),
        Param("tags", "list[string]", "Tags.", required=False, default=None, nullable=True),
        Param("notes", "string", "Free-text notes.", required=False, default="", max_length=5000),
    ],
    response={"task_id": "string"},
    errors=("404 list not found",),
    mutates=True,
)
def create_task(ctx, list_id, title, due_date=None, priority="medium", tags=None, notes=""):
    _list(ctx, list_id)
    if not title.strip():
        raise ApiError("todo.create_task: parameter 'title' must not be empty.")
    rid = ctx.new_id("task")
    ctx.table("tasks").insert(rid, {
        "id": rid, "owner_id": ctx.user, "list_id": list_id, "title": title, "notes": notes,
        "due_date": _date("create_task", "due_date", due_date), "priority": priority, "completed": False,
        "completed_at": None, "tags": sorted(set(tags or [])), "shared_with": [], "created_at": NOW_ISO,
    })
    return {"task_id": rid}


@APP.api(
    "update_task",
    "Change a task's title, notes, due date or priority; omitted fields stay as they are. "
    "Pass clear_due_date=true to remove the due date.",
    [
        Param("task_id", "string", "The task's id."),
        Param("title", "string", "New title.", required=False, nullable=True, max_length=200),
        Param("notes", "string", "New notes.", required=False, nullable=True, max_length=5000),
        Param("due_date", "string", "New due date (YYYY-MM-DD).", required=False, nullable=True),
        Param("clear_due_date", "boolean", "Remove the due date.", required=False, default=False),
        Param("priority", "string", "New priority.", required=False, nullable=True, choices=PRIORITIES),
    ],
    response=_TASK,
    errors=("404 task not found",),
    mutates=True,
)
def update_task(ctx, task_id, title=None, notes=None, due_date=None, clear_due_date=False, priority=None):
    _task(ctx, task_id)
    fields: dict[str, Any] = {}
    if title is not None:
        if not title.strip():
            raise ApiError("todo.update_task: parameter 'title' must not be empty.")
        fields["title"] = title
    if notes is not None:
        fields["notes"] = notes
    if due_date is not None:
        if clear_due_date:
            raise ApiError("todo.update_task: give either 'due_date' or 'clear_due_date', not both.")
        fields["due_date"] = _date("update_task", "due_date", due_date)
    if clear_due_date:
        fields["due_date"] = None
    if priority is not None:
        fields["priority"] = priority
    row = ctx.table("tasks").update(task_id, **fields) if fields else _task(ctx, task_id)
    return _task_view(row)


@APP.api(
    "mark_task_completed",
    "Mark a task completed (or open again with completed=false).",
    [Param("task_id", "string", "The task's id."), Param("completed", "boolean", "True for done, false to reopen.", required=False, default=True)],
    response={"message": "string"},
    errors=("404 task not found",),
    mutates=True,
)
def mark_task_completed(ctx, task_id, completed=True):
    row = _task(ctx, task_id)
    if row["completed"] != completed:
        ctx.table("tasks").update(task_id, completed=completed, completed_at=NOW_ISO if completed else None)
    return {"message": "Task completed." if completed else "Task reopened."}


@APP.api(
    "move_task",
    "Move a task to another of your lists.",
    [Param("task_id", "string", "The task's id."), Param("list_id", "string", "The destination list's id.")],
    response={"message": "string"},
    errors=("404 task not found", "404 list not found"),
    mutates=True,
)
def move_task(ctx, task_id, list_id):
    row = _task(ctx, task_id)
    _list(ctx, list_id)
    if row["list_id"] != list_id:
        ctx.table("tasks").update(task_id, list_id=list_id)
    return {"message": "Task moved."}


@APP.api(
    "delete_task",
    "Delete a task.",
    [Param("task_id", "string", "The task's id.")],
    response={"message": "string"},
    errors=("404 task not found",),
    mutates=True, destructive=True,
)
def delete_task(ctx, task_id):
    _task(ctx, task_id)
    ctx.table("tasks").delete(task_id)
    return {"message": "Task deleted."}


@APP.api(
    "add_task_tag",
    "Add a tag to a task (no effect if it already has it).",
    [Param("task_id", "string", "The task's id."), Param("tag", "string", "The tag.", max_length=40)],
    response={"tags": "list[string]"},
    errors=("404 task not found",),
    mutates=True,
)
def add_task_tag(ctx, task_id, tag):
    row = _task(ctx, task_id)
    if not tag.strip():
        raise ApiError("todo.add_task_tag: parameter 'tag' must not be empty.")
    if tag in row["tags"]:
        return {"tags": list(row["tags"])}
    return {"tags": list(ctx.table("tasks").update(task_id, tags=sorted({*row["tags"], tag}))["tags"])}


@APP.api(
    "remove_task_tag",
    "Remove a tag from a task.",
    [Param("task_id", "string", "The task's id."), Param("tag", "string", "The tag.")],
    response={"tags": "list[string]"},
    errors=("404 task not found", "404 the task has no such tag"),
    mutates=True,
)
def remove_task_tag(ctx, task_id, tag):
    row = _task(ctx, task_id)
    if tag not in row["tags"]:
        raise ApiError(f"todo.remove_task_tag: task {task_id!r} has no tag {tag!r}.")
    return {"tags": list(ctx.table("tasks").update(task_id, tags=[t for t in row["tags"] if t != tag])["tags"])}


@APP.api(
    "share_task",
    "Share a task with someone by email address.",
    [Param("task_id", "string", "The task's id."), Param("email", "string", "The person's email address.")],
    response={"shared_with": "list[string]"},
    errors=("404 task not found", "422 the email address is invalid"),
    mutates=True, destructive=True, outbound=True,
)
def share_task(ctx, task_id, email):
    row = _task(ctx, task_id)
    email = email.strip().lower()
    if "@" not in email:
        raise ApiError(f"todo.share_task: parameter 'email' is not an email address: {email!r}.")
    if email in row["shared_with"]:
        return {"shared_with": list(row["shared_with"])}
    return {"shared_with": list(ctx.table("tasks").update(task_id, shared_with=sorted({*row["shared_with"], email}))["shared_with"])}


@APP.api(
    "unshare_task",
    "Stop sharing a task with someone.",
    [Param("task_id", "string", "The task's id."), Param("email", "string", "The person's email address.")],
    response={"shared_with": "list[string]"},
    errors=("404 task not found", "404 the task is not shared with this address"),
    mutates=True,
)
def unshare_task(ctx, task_id, email):
    row = _task(ctx, task_id)
    email = email.strip().lower()
    if email not in row["shared_with"]:
        raise ApiError(f"todo.unshare_task: task {task_id!r} is not shared with {email!r}.")
    return {"shared_with": list(ctx.table("tasks").update(task_id, shared_with=[e for e in row["shared_with"] if e != email])["shared_with"])}


@APP.api(
    "show_tags",
    "List the tags used on your tasks with how many tasks carry each.",
    response=[{"tag": "string", "count": "integer"}],
)
def show_tags(ctx):
    counts: dict[str, int] = {}
    for r in ctx.table("tasks").rows_of(ctx.user):
        for t in r["tags"]:
            counts[t] = counts.get(t, 0) + 1
    return [{"tag": t, "count": n} for t, n in sorted(counts.items())]
