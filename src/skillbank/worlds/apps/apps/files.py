"""`files`: a personal file system of directories and text files, addressed by path.

Paths are absolute ("/documents/taxes/2025.txt"); the root "/" always exists. A file's
size is the length of its UTF-8 content in bytes. Move, copy and rename work on files;
directories are created empty and deleted only when empty.
"""

from __future__ import annotations

import datetime as dt
import posixpath
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
    sort_param,
    sort_rows,
    stable_id,
)

APP = AppDef("files", "Your files: directories and text files by path; list, read, write, move, copy, delete and search.")
TABLES = {"files": "owner_id"}

_DIRS = ("/documents", "/documents/taxes", "/documents/work", "/downloads", "/photos", "/photos/trips", "/notes", "/music")
_FILES = {
    "/documents": (("cv", "pdf"), ("lease_agreement", "pdf"), ("budget", "csv"), ("letter_to_landlord", "docx"), ("reading_list", "txt")),
    "/documents/taxes": (("return_2024", "pdf"), ("return_2025", "pdf"), ("receipts", "csv"), ("checklist", "txt")),
    "/documents/work": (("roadmap", "md"), ("meeting_minutes", "txt"), ("quarterly_report", "pdf"), ("team_contacts", "csv")),
    "/downloads": (("setup_installer", "tmp"), ("boarding_pass", "pdf"), ("invoice_march", "pdf"), ("cache_0412", "tmp"),
                   ("wallpaper", "jpg"), ("unzipped_notes", "txt"), ("partial_download", "tmp"), ("menu", "pdf")),
    "/photos": (("beach", "jpg"), ("birthday_cake", "jpg"), ("garden", "png"), ("screenshot_0311", "png")),
    "/photos/trips": (("lisbon_day1", "jpg"), ("lisbon_day2", "jpg"), ("mountains", "jpg"), ("itinerary", "txt")),
    "/notes": (("ideas", "md"), ("recipes", "txt"), ("groceries", "txt"), ("journal", "md"), ("passwords_hint", "txt")),
    "/music": (("playlist_road_trip", "txt"), ("guitar_chords", "txt"), ("concert_ticket", "pdf")),
}
_TEXT = (
    "Remember to bring the charger and the spare keys.",
    "Totals checked twice; the numbers add up.",
    "Draft: needs another pass before sending.",
    "Call the office on Monday about the renewal.",
    "Ideas: a garden bench, a reading lamp, a new kettle.",
    "Meeting moved to Thursday at 3pm.",
    "Lentils, rice, tomatoes, garlic, cumin.",
    "Chapter notes: the ending surprised me.",
)
_BINARY = {"pdf", "jpg", "png", "docx", "tmp"}

_ENTRY = {
    "path": "string", "name": "string", "kind": "file|directory", "extension": "string", "size_bytes": "integer",
    "created_at": "datetime", "modified_at": "datetime",
}
_FILE = {**_ENTRY, "content": "string"}


def _size(content: str) -> int:
    return len(content.encode())


def _ext(name: str) -> str:
    return name.rsplit(".", 1)[1].lower() if "." in name.strip(".") else ""


def seed(b: Any, population: Any, rng: random.Random) -> None:
    for person in population.people:
        made: set[str] = set()
        for d in _DIRS:
            if d.count("/") > 1 and rng.random() < 0.25:
                continue
            made.add(d)
            created = (NOW - dt.timedelta(days=rng.randrange(200, 800))).replace(second=0, microsecond=0)
            rid = stable_id("dir", person.id, d)
            b.add("files", "files", rid, {
                "id": rid, "owner_id": person.id, "path": d, "parent": posixpath.dirname(d), "name": posixpath.basename(d),
                "kind": "directory", "extension": "", "content": "", "size_bytes": 0,
                "created_at": created.isoformat(), "modified_at": created.isoformat(),
            })
        for d in sorted(made):
            for stem, ext in _FILES[d]:
                if rng.random() < 0.3:
                    continue
                name = f"{stem}.{ext}"
                if ext in _BINARY:
                    content = f"[{ext} data]" + "~" * rng.randrange(200, 6000)
                else:
                    content = "\n".join(rng.sample(_TEXT, rng.randrange(1, 4)))
                created = (NOW - dt.timedelta(days=rng.randrange(1, 200), minutes=rng.randrange(0, 1440))).replace(second=0, microsecond=0)
                path = f"{d}/{name}"
                rid = stable_id("file", person.id, path)
                b.add("files", "files", rid, {
                    "id": rid, "owner_id": person.id, "path": path, "parent": d, "name": name, "kind": "file",
                    "extension": ext, "content": content, "size_bytes": _size(content),
                    "created_at": created.isoformat(), "modified_at": created.isoformat(),
                })


def _norm(api: str, name: str, path: str) -> str:
    if not path.startswith("/"):
        raise ApiError(f"files.{api}: parameter '{name}' must be an absolute path starting with '/', got {path!r}.")
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ApiError(f"files.{api}: parameter '{name}' may not contain '.' or '..' segments, got {path!r}.")
    return "/" + "/".join(parts)


def _by_path(ctx: CallContext) -> dict[str, dict[str, Any]]:
    return {r["path"]: r for r in ctx.table("files").rows_of(ctx.user)}


def _entry(ctx: CallContext, api: str, name: str, path: str, kind: str | None = None) -> dict[str, Any]:
    p = _norm(api, name, path)
    row = _by_path(ctx).get(p)
    if row is None:
        raise ApiError(f"files: path {p!r} not found.")
    if kind and row["kind"] != kind:
        raise ApiError(f"files.{api}: parameter '{name}': {p!r} is a {row['kind']}, not a {kind}.")
    return row


def _require_dir(ctx: CallContext, api: str, name: str, path: str, entries: dict[str, dict[str, Any]]) -> None:
    if path == "/":
        return
    row = entries.get(path)
    if row is None:
        raise ApiError(f"files: directory {path!r} not found.")
    if row["kind"] != "directory":
        raise ApiError(f"files.{api}: parameter '{name}': {path!r} is a file, not a directory.")


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return public(row, "owner_id", "id", "content", "parent")


def _new_file(ctx: CallContext, path: str, content: str, created_at: str = NOW_ISO) -> dict[str, Any]:
    name = posixpath.basename(path)
    rid = ctx.new_id("file")
    row = {
        "id": rid, "owner_id": ctx.user, "path": path, "parent": posixpath.dirname(path), "name": name, "kind": "file",
        "extension": _ext(name), "content": content, "size_bytes": _size(content), "created_at": created_at, "modified_at": NOW_ISO,
    }
    ctx.table("files").insert(rid, row)
    return row


def _target(ctx: CallContext, api: str, name: str, path: str, overwrite: bool) -> tuple[str, dict[str, Any] | None]:
    """Validate a destination file path: its directory exists; an existing file only with overwrite."""
    p = _norm(api, name, path)
    if p == "/":
        raise ApiError(f"files.{api}: parameter '{name}' must name a file, not the root.")
    entries = _by_path(ctx)
    _require_dir(ctx, api, name, posixpath.dirname(p), entries)
    existing = entries.get(p)
    if existing is not None:
        if existing["kind"] == "directory":
            raise ApiError(f"files.{api}: parameter '{name}': {p!r} is a directory.")
        if not overwrite:
            raise ApiError(f"files.{api}: {p!r} already exists; pass overwrite=true to replace it.")
    return p, existing


@APP.api(
    "show_account",
    "Show your files account: email, number of files and directories, and total size in bytes.",
    response={"email": "string", "file_count": "integer", "directory_count": "integer", "total_bytes": "integer"},
)
def show_account(ctx):
    rows = ctx.table("files").rows_of(ctx.user)
    files = [r for r in rows if r["kind"] == "file"]
    return {"email": ctx.person(ctx.user)["email"], "file_count": len(files), "directory_count": len(rows) - len(files),
            "total_bytes": sum(r["size_bytes"] for r in files)}


_SORT = ("name", "size_bytes", "modified_at", "created_at")


@APP.api(
    "list_directory",
    "List the entries directly inside a directory (files and subdirectories, without content), by name by default.",
    [Param("path", "string", "The directory's absolute path.", required=False, default="/"),
     Param("kind", "string", "Only files or only directories.", required=False, nullable=True, choices=("file", "directory")),
     sort_param(_SORT, "name")],
    response=[_ENTRY],
    errors=("404 directory not found", "422 the path is a file"),
    paginated=True,
)
def list_directory(ctx, path="/", kind=None, sort_by="name", page_index=0, page_limit=5):
    p = _norm("list_directory", "path", path)
    entries = _by_path(ctx)
    _require_dir(ctx, "list_directory", "path", p, entries)
    rows = [r for r in entries.values() if r["parent"] == p and (kind is None or r["kind"] == kind)]
    rows = sort_rows(rows, sort_by, _SORT)
    return [_view(r) for r in paginate(rows, page_index, page_limit)]


@APP.api(
    "search_files",
    "Find files (not directories) anywhere under a directory by name text and/or extension, by path by default.",
    [
        Param("query", "string", "Case-insensitive text to find in the file name.", required=False, nullable=True),
        Param("extension", "string", "Only files with this extension (without the dot, e.g. 'pdf').", required=False, nullable=True),
        Param("under", "string", "Only files below this directory.", required=False, default="/"),
        Param("min_size_bytes", "integer", "Only files at least this large.", required=False, nullable=True, minimum=0),
        sort_param(("path", *_SORT), "path"),
    ],
    response=[_ENTRY],
    errors=("404 directory not found",),
    paginated=True,
)
def search_files(ctx, query=None, extension=None, under="/", min_size_bytes=None, sort_by="path", page_index=0, page_limit=5):
    root = _norm("search_files", "under", under)
    entries = _by_path(ctx)
    _require_dir(ctx, "search_files", "under", root, entries)
    prefix = "/" if root == "/" else root + "/"
    rows = [r for r in entries.values() if r["kind"] == "file" and r["path"].startswith(prefix)]
    if query:
        q = query.lower()
        rows = [r for r in rows if q in r["name"].lower()]
    if extension:
        e = extension.lower().lstrip(".")
        rows = [r for r in rows if r["extension"] == e]
    if min_size_bytes is not None:
        rows = [r for r in rows if r["size_bytes"] >= min_size_bytes]
    rows = sort_rows(rows, sort_by, ("path", *_SORT))
    return [_view(r) for r in paginate(rows, page_index, page_limit)]


@APP.api(
    "show_file_info",
    "Show a file's or directory's metadata (no content).",
    [Param("path", "string", "The absolute path.")],
    response=_ENTRY,
    errors=("404 path not found",),
)
def show_file_info(ctx, path):
    return _view(_entry(ctx, "show_file_info", "path", path))


@APP.api(
    "read_file",
    "Read a file: its metadata and text content.",
    [Param("path", "string", "The file's absolute path.")],
    response=_FILE,
    errors=("404 path not found", "422 the path is a directory"),
)
def read_file(ctx, path):
    row = _entry(ctx, "read_file", "path", path, "file")
    return {**_view(row), "content": row["content"]}


@APP.api(
    "write_file",
    "Create a file with the given content, or replace an existing file's content with overwrite=true. "
    "The parent directory must exist.",
    [
        Param("path", "string", "The file's absolute path."),
        Param("content", "string", "The text content.", required=False, default="", max_length=200000),
        Param("overwrite", "boolean", "Replace the file if it exists.", required=False, default=False),
    ],
    response={"path": "string", "size_bytes": "integer"},
    errors=("404 parent directory not found", "409 the file exists and overwrite is false", "422 the path is a directory"),
    mutates=True,
)
def write_file(ctx, path, content="", overwrite=False):
    p, existing = _target(ctx, "write_file", "path", path, overwrite)
    if existing is None:
        row = _new_file(ctx, p, content)
    else:
        row = ctx.table("files").update(existing["id"], content=content, size_bytes=_size(content), modified_at=NOW_ISO)
    return {"path": row["path"], "size_bytes": row["size_bytes"]}


@APP.api(
    "append_to_file",
    "Append text to an existing file (no newline is added for you).",
    [Param("path", "string", "The file's absolute path."), Param("content", "string", "Text to append.", max_length=200000)],
    response={"path": "string", "size_bytes": "integer"},
    errors=("404 path not found", "422 the path is a directory"),
    mutates=True,
)
def append_to_file(ctx, path, content):
    row = _entry(ctx, "append_to_file", "path", path, "file")
    text = row["content"] + content
    new = ctx.table("files").update(row["id"], content=text, size_bytes=_size(text), modified_at=NOW_ISO)
    return {"path": new["path"], "size_bytes": new["size_bytes"]}


@APP.api(
    "move_file",
    "Move a file to a new path (its directory must exist).",
    [
        Param("source_path", "string", "The file's current path."),
        Param("destination_path", "string", "The new full path, including the file name."),
        Param("overwrite", "boolean", "Replace a file already at the destination.", required=False, default=False),
    ],
    response={"path": "string"},
    errors=("404 path not found", "404 destination directory not found", "409 destination exists"),
    mutates=True,
)
def move_file(ctx, source_path, destination_path, overwrite=False):
    row = _entry(ctx, "move_file", "source_path", source_path, "file")
    p, existing = _target(ctx, "move_file", "destination_path", destination_path, overwrite)
    if p == row["path"]:
        return {"path": p}
    if existing is not None:
        ctx.table("files").delete(existing["id"])
    name = posixpath.basename(p)
    ctx.table("files").update(row["id"], path=p, parent=posixpath.dirname(p), name=name, extension=_ext(name), modified_at=NOW_ISO)
    return {"path": p}


@APP.api(
    "copy_file",
    "Copy a file to a new path (its directory must exist).",
    [
        Param("source_path", "string", "The file to copy."),
        Param("destination_path", "string", "The copy's full path, including the file name."),
        Param("overwrite", "boolean", "Replace a file already at the destination.", required=False, default=False),
    ],
    response={"path": "string", "size_bytes": "integer"},
    errors=("404 path not found", "404 destination directory not found", "409 destination exists"),
    mutates=True,
)
def copy_file(ctx, source_path, destination_path, overwrite=False):
    row = _entry(ctx, "copy_file", "source_path", source_path, "file")
    p, existing = _target(ctx, "copy_file", "destination_path", destination_path, overwrite)
    if p == row["path"]:
        raise ApiError("files.copy_file: parameter 'destination_path' is the source itself.")
    if existing is not None:
        new = ctx.table("files").update(existing["id"], content=row["content"], size_bytes=row["size_bytes"], modified_at=NOW_ISO)
    else:
        new = _new_file(ctx, p, row["content"])
    return {"path": new["path"], "size_bytes": new["size_bytes"]}


@APP.api(
    "rename_file",
    "Rename a file within its directory.",
    [Param("path", "string", "The file's path."), Param("new_name", "string", "The new file name (no '/').", max_length=255)],
    response={"path": "string"},
    errors=("404 path not found", "409 a file with the new name exists"),
    mutates=True,
)
def rename_file(ctx, path, new_name):
    row = _entry(ctx, "rename_file", "path", path, "file")
    if not new_name.strip() or "/" in new_name or new_name in (".", ".."):
        raise ApiError(f"files.rename_file: parameter 'new_name' must be a plain file name, got {new_name!r}.")
    target = posixpath.join(row["parent"], new_name)
    if target != row["path"] and target in _by_path(ctx):
        raise ApiError(f"files.rename_file: {target!r} already exists.")
    return move_file(ctx, row["path"], target)


@APP.api(
    "delete_file",
    "Delete a file.",
    [Param("path", "string", "The file's absolute path.")],
    response={"message": "string"},
    errors=("404 path not found", "422 the path is a directory (use delete_directory)"),
    mutates=True, destructive=True,
)
def delete_file(ctx, path):
    row = _entry(ctx, "delete_file", "path", path, "file")
    ctx.table("files").delete(row["id"])
    return {"message": f"Deleted {row['path']}."}


@APP.api(
    "create_directory",
    "Create an empty directory; its parent must exist.",
    [Param("path", "string", "The new directory's absolute path.")],
    response={"path": "string"},
    errors=("404 parent directory not found", "409 the path exists"),
    mutates=True,
)
def create_directory(ctx, path):
    p = _norm("create_directory", "path", path)
    entries = _by_path(ctx)
    if p == "/" or p in entries:
        raise ApiError(f"files.create_directory: {p!r} already exists.")
    _require_dir(ctx, "create_directory", "path", posixpath.dirname(p), entries)
    rid = ctx.new_id("dir")
    ctx.table("files").insert(rid, {
        "id": rid, "owner_id": ctx.user, "path": p, "parent": posixpath.dirname(p), "name": posixpath.basename(p),
        "kind": "directory", "extension": "", "content": "", "size_bytes": 0, "created_at": NOW_ISO, "modified_at": NOW_ISO,
    })
    return {"path": p}


@APP.api(
    "delete_directory",
    "Delete an empty directory.",
    [Param("path", "string", "The directory's absolute path.")],
    response={"message": "string"},
    errors=("404 path not found", "409 the directory is not empty", "422 the path is a file"),
    mutates=True, destructive=True,
)
def delete_directory(ctx, path):
    row = _entry(ctx, "delete_directory", "path", path, "directory")
    if any(r["parent"] == row["path"] for r in ctx.table("files").rows_of(ctx.user)):
        raise ApiError(f"files.delete_directory: {row['path']!r} is not empty.")
    ctx.table("files").delete(row["id"])
    return {"message": f"Deleted {row['path']}."}


@APP.api(
    "show_disk_usage",
    "Total size in bytes and file count of everything under a directory.",
    [Param("path", "string", "The directory's absolute path.", required=False, default="/")],
    response={"path": "string", "file_count": "integer", "total_bytes": "integer"},
    errors=("404 directory not found",),
)
def show_disk_usage(ctx, path="/"):
    p = _norm("show_disk_usage", "path", path)
    entries = _by_path(ctx)
    _require_dir(ctx, "show_disk_usage", "path", p, entries)
    prefix = "/" if p == "/" else p + "/"
    files = [r for r in entries.values() if r["kind"] == "file" and r["path"].startswith(prefix)]
    return {"path": p, "file_count": len(files), "total_bytes": sum(r["size_bytes"] for r in files)}
