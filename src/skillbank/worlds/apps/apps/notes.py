"""`notes`: personal notes with tags and pins. (Also the template the other apps follow.)"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from skillbank.worlds.apps.context import CallContext
from skillbank.worlds.base import ApiError
from skillbank.worlds.engine.api import (
    NOW,
    NOW_ISO,
    AppDef,
    Param,
    paginate,
    public,
    require_owner,
    sort_param,
    sort_rows,
    stable_id,
)

APP = AppDef("notes", "Personal notes: write, tag, pin, search and delete notes.")
TABLES = {"notes": "owner_id"}

_TOPICS = (
    ("Groceries", "milk, eggs, spinach, rice, coffee beans", ("shopping",)),
    ("Book list", "The Dispossessed; Piranesi; Middlemarch", ("reading",)),
    ("Gift ideas", "a cookbook, a plant, concert tickets", ("gifts", "family")),
    ("Trip packing", "passport, charger, rain jacket, adapters", ("travel",)),
    ("Recipe: dal", "lentils, turmeric, cumin, garlic; simmer 25 min", ("recipes",)),
    ("Meeting notes", "quarterly planning: hiring, budget, roadmap", ("work",)),
    ("Workout plan", "mon run, wed swim, fri weights", ("health",)),
    ("Wifi password", "guest network: sunflower-42", ("home",)),
    ("Movie night", "vote between three films; bring snacks", ("friends",)),
    ("Garden", "plant tomatoes after the last frost", ("home",)),
    ("Ideas", "a tiny app to split groceries", ("work", "ideas")),
    ("Birthday plans", "cake, candles, invite the family", ("family",)),
)
_NOTE_FIELDS = ("id", "title", "content", "tags", "pinned", "created_at", "updated_at")


def seed(b: Any, population: Any, rng: random.Random) -> None:
    for person in population.people:
        for k in range(rng.randrange(3, 9)):
            title, content, tags = rng.choice(_TOPICS)
            created = NOW - dt.timedelta(days=rng.randrange(1, 400), minutes=rng.randrange(0, 1440))
            rid = stable_id("note", person.id, k)
            b.add(
                "notes",
                "notes",
                rid,
                {
                    "id": rid,
                    "owner_id": person.id,
                    "title": title,
                    "content": content,
                    "tags": list(tags),
                    "pinned": rng.random() < 0.2,
                    "created_at": created.isoformat(),
                    "updated_at": created.isoformat(),
                },
            )


def _note(ctx: CallContext, note_id: str) -> dict[str, Any]:
    return require_owner("notes", ctx.table("notes").get(note_id), "owner_id", ctx.user, "note", note_id)


_NOTE = {f: "string" for f in _NOTE_FIELDS} | {"tags": "list[string]", "pinned": "boolean"}


@APP.api(
    "show_notes",
    "List your notes, newest first by default, optionally filtered by a text query, a tag or pinned state.",
    [
        Param("query", "string", "Case-insensitive text to find in the title or content.", required=False, nullable=True),
        Param("tag", "string", "Only notes with this tag.", required=False, nullable=True),
        Param("pinned", "boolean", "Only pinned (true) or unpinned (false) notes.", required=False, nullable=True),
        sort_param(("created_at", "updated_at", "title"), "-created_at"),
    ],
    response=[_NOTE],
    paginated=True,
)
def show_notes(ctx, query=None, tag=None, pinned=None, sort_by="-created_at", page_index=0, page_limit=5):
    rows = ctx.table("notes").rows_of(ctx.user)
    if query:
        q = query.lower()
        rows = [r for r in rows if q in r["title"].lower() or q in r["content"].lower()]
    if tag:
        rows = [r for r in rows if tag in r["tags"]]
    if pinned is not None:
        rows = [r for r in rows if r["pinned"] == pinned]
    rows = sort_rows(rows, sort_by, ("created_at", "updated_at", "title"))
    return [public(r, "owner_id") for r in paginate(rows, page_index, page_limit)]


@APP.api("show_note", "Show one note.", [Param("note_id", "string", "The note's id.")], response=_NOTE, errors=("404 note not found",))
def show_note(ctx, note_id):
    return public(_note(ctx, note_id), "owner_id")


@APP.api(
    "create_note",
    "Create a note.",
    [
        Param("title", "string", "Title.", max_length=200),
        Param("content", "string", "Body text.", required=False, default="", max_length=20000),
        Param("tags", "list[string]", "Tags.", required=False, default=None, nullable=True),
        Param("pinned", "boolean", "Pin it.", required=False, default=False),
    ],
    response={"note_id": "string"},
    mutates=True,
)
def create_note(ctx, title, content="", tags=None, pinned=False):
    if not title.strip():
        raise ApiError("notes.create_note: parameter 'title' must not be empty.")
    rid = ctx.new_id("note")
    ctx.table("notes").insert(
        rid,
        {
            "id": rid,
            "owner_id": ctx.user,
            "title": title,
            "content": content,
            "tags": sorted(set(tags or [])),
            "pinned": pinned,
            "created_at": NOW_ISO,
            "updated_at": NOW_ISO,
        },
    )
    return {"note_id": rid}


@APP.api(
    "update_note",
    "Change a note's title and/or content.",
    [
        Param("note_id", "string", "The note's id."),
        Param("title", "string", "New title.", required=False, nullable=True, max_length=200),
        Param("content", "string", "New content.", required=False, nullable=True, max_length=20000),
    ],
    response={"message": "string"},
    errors=("404 note not found",),
    mutates=True,
)
def update_note(ctx, note_id, title=None, content=None):
    _note(ctx, note_id)
    fields: dict[str, Any] = {"updated_at": NOW_ISO}
    if title is not None:
        fields["title"] = title
    if content is not None:
        fields["content"] = content
    ctx.table("notes").update(note_id, **fields)
    return {"message": "Note updated."}


@APP.api(
    "append_to_note",
    "Append a line of text to a note's content.",
    [Param("note_id", "string", "The note's id."), Param("text", "string", "Text to append on a new line.")],
    response={"message": "string"},
    errors=("404 note not found",),
    mutates=True,
)
def append_to_note(ctx, note_id, text):
    note = _note(ctx, note_id)
    content = f"{note['content']}\n{text}" if note["content"] else text
    ctx.table("notes").update(note_id, content=content, updated_at=NOW_ISO)
    return {"message": "Text appended."}


@APP.api(
    "delete_note",
    "Delete a note.",
    [Param("note_id", "string", "The note's id.")],
    response={"message": "string"},
    errors=("404 note not found",),
    mutates=True, destructive=True,
)
def delete_note(ctx, note_id):
    _note(ctx, note_id)
    ctx.table("notes").delete(note_id)
    return {"message": "Note deleted."}


@APP.api(
    "add_tag",
    "Add a tag to a note (no effect if it already has it).",
    [Param("note_id", "string", "The note's id."), Param("tag", "string", "The tag.", max_length=40)],
    response={"tags": "list[string]"},
    errors=("404 note not found",),
    mutates=True,
)
def add_tag(ctx, note_id, tag):
    note = _note(ctx, note_id)
    if tag in note["tags"]:
        return {"tags": list(note["tags"])}
    new = ctx.table("notes").update(note_id, tags=sorted({*note["tags"], tag}), updated_at=NOW_ISO)
    return {"tags": list(new["tags"])}


@APP.api(
    "remove_tag",
    "Remove a tag from a note.",
    [Param("note_id", "string", "The note's id."), Param("tag", "string", "The tag.")],
    response={"tags": "list[string]"},
    errors=("404 note not found", "404 the note has no such tag"),
    mutates=True,
)
def remove_tag(ctx, note_id, tag):
    note = _note(ctx, note_id)
    if tag not in note["tags"]:
        raise ApiError(f"notes.remove_tag: note {note_id!r} has no tag {tag!r}.")
    new = ctx.table("notes").update(note_id, tags=[t for t in note["tags"] if t != tag], updated_at=NOW_ISO)
    return {"tags": list(new["tags"])}


@APP.api(
    "pin_note",
    "Pin or unpin a note.",
    [Param("note_id", "string", "The note's id."), Param("pinned", "boolean", "True to pin, false to unpin.", required=False, default=True)],
    response={"message": "string"},
    errors=("404 note not found",),
    mutates=True,
)
def pin_note(ctx, note_id, pinned=True):
    note = _note(ctx, note_id)
    if note["pinned"] != pinned:
        ctx.table("notes").update(note_id, pinned=pinned, updated_at=NOW_ISO)
    return {"message": "Note pinned." if pinned else "Note unpinned."}


@APP.api(
    "show_tags",
    "List the tags used in your notes with how many notes carry each.",
    response=[{"tag": "string", "count": "integer"}],
)
def show_tags(ctx):
    counts: dict[str, int] = {}
    for r in ctx.table("notes").rows_of(ctx.user):
        for t in r["tags"]:
            counts[t] = counts.get(t, 0) + 1
    return [{"tag": t, "count": n} for t, n in sorted(counts.items())]


@APP.api("show_account", "Show your notes account: email and note count.", response={"email": "string", "note_count": "integer"})
def show_account(ctx):
    return {"email": ctx.person(ctx.user)["email"], "note_count": len(ctx.table("notes").rows_of(ctx.user))}
