"""`skillbank bench store`: latency of the library's hot paths on a fresh SQLite file
(or on an empty library you name, e.g. a PostgreSQL database, with ``--library``).

Puts `versions` versions (spread over `names` skills, so most puts are version 2+ and
write an ``updated`` event too) into a library in a temporary directory, points a
``promoted`` alias at one version of every skill, then times `reads` get-by-alias
lookups and `lists` list calls (latest version per name, a text search, every version),
the library's counts (`stats`) and the incremental reader's `changes_since` over the
last five events. Each figure is the median and range (min, p95, max) of individually
timed calls, in milliseconds; puts per
second is the count over the wall time of the whole put phase.
"""

from __future__ import annotations

import os
import platform
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from skillbank.bench._stats import render_timings, timing_ms
from skillbank.console import emit
from skillbank.errors import ValidationError
from skillbank.store import LibraryStore, open_store
from skillbank.store.sql import SqlLibraryStore


def _summary(samples: list[float]) -> dict[str, Any]:
    return timing_ms(samples)


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _timed_put(store: LibraryStore, source: str) -> float:
    return _timed(lambda: store.put_version(source, actor="bench"))


def _timed_get_promoted(store: LibraryStore, name: str) -> float:
    return _timed(lambda: store.get_version(name, "promoted"))


def _source(name: str, i: int) -> str:
    return (
        "import json\n\n"
        f"def {name}(items: list[dict], limit: int = {i % 50 + 1}) -> list[str]:\n"
        f'    """Pick the names of up to `limit` items (variant {i})."""\n'
        "    out = []\n"
        "    for item in items[:limit]:\n"
        f"        out.append(str(item.get('name', {i})))\n"
        "    return out\n"
    )


def run_bench(
    versions: int = 10_000,
    names: int = 1_000,
    reads: int = 2_000,
    lists: int = 20,
    directory: str | Path | None = None,
    seed: int = 0,
    library: str | None = None,
) -> dict[str, Any]:
    """Run the benchmark and return the JSON-ready result.

    ``library``: an empty library to run on (any location `open_store` accepts, e.g. a
    ``postgresql://`` URL); by default a temporary SQLite file.
    """
    if versions < 1 or names < 1 or reads < 1 or lists < 1:
        raise ValidationError("versions, names, reads and lists must all be at least 1")
    names = min(names, versions)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="skillbank-bench-", dir=directory) as tmp:
        path = Path(tmp) / "library.db"
        store = open_store(library if library else path)
        if not isinstance(store, SqlLibraryStore):
            store.close()
            raise ValidationError("bench store measures a library database (SQLite or PostgreSQL), not a served URL")
        backend = store.engine.dialect.name
        if library and store.list_versions(namespace=None, latest_only=False, limit=1):
            store.close()
            raise ValidationError(f"bench store writes {versions} versions: --library must name an empty library")
        try:
            skill_names = [f"skill_{n:05d}" for n in range(names)]
            put_samples: list[float] = []
            started = time.perf_counter()
            for i in range(versions):
                src = _source(skill_names[i % names], i)
                put_samples.append(_timed_put(store, src))
            put_wall = time.perf_counter() - started

            for name in skill_names:
                store.set_alias(name, "promoted", 1, expected_generation=None, actor="bench")
            alias_samples = [_timed_get_promoted(store, rng.choice(skill_names)) for _ in range(reads)]
            list_samples = [_timed(lambda: store.list_versions()) for _ in range(lists)]
            search_samples = [_timed(lambda: store.list_versions(text="variant 12")) for _ in range(lists)]
            all_samples = [_timed(lambda: store.list_versions(latest_only=False)) for _ in range(max(1, lists // 4))]
            stats_samples = [_timed(store.stats) for _ in range(lists)]
            cursor = store.changes_since(None).cursor
            changes_samples = [_timed(lambda: store.changes_since(cursor - 5)) for _ in range(reads // 10 or 1)]
            file_bytes = (
                None if library else path.stat().st_size + sum(p.stat().st_size for p in Path(tmp).glob("library.db-*"))
            )
        finally:
            store.close()
    return {
        "bench": "store",
        "backend": backend,
        "versions": versions,
        "names": names,
        "put": _summary(put_samples),
        "puts_per_s": round(versions / put_wall, 1),
        "get_by_alias": _summary(alias_samples),
        "list_latest": {**_summary(list_samples), "rows": names},
        "list_text_search": _summary(search_samples),
        "list_all_versions": {**_summary(all_samples), "rows": versions},
        "stats": _summary(stats_samples),
        "changes_since_5_events": _summary(changes_samples),
        "library_bytes": file_bytes,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }


def command(
    versions: Annotated[int, typer.Option("--versions", help="Versions to put.")] = 10_000,
    names: Annotated[int, typer.Option("--names", help="Distinct skill names the versions spread over.")] = 1_000,
    reads: Annotated[int, typer.Option("--reads", help="Timed get-by-alias calls.")] = 2_000,
    lists: Annotated[int, typer.Option("--lists", help="Timed list calls (each kind).")] = 20,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    library: Annotated[
        str | None,
        typer.Option("--library", help="An EMPTY library to run on (e.g. postgresql://...); default: a temporary SQLite file."),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the summary.")] = False,
) -> None:
    """Store latency (median, p95) and puts/second on a temporary SQLite library (or --library)."""
    result = run_bench(versions=versions, names=names, reads=reads, lists=lists, seed=seed, library=library)

    def render(r: dict[str, Any]) -> None:
        render_timings(
            f"store: {r['versions']:,} versions over {r['names']:,} names ("
            + ("SQLite, temporary file" if r["backend"] == "sqlite" and r.get("library_bytes") is not None else r["backend"]) + ")",
            [("put", r["put"], f"{r['puts_per_s']:,} puts/s"),
             ("get by alias", r["get_by_alias"], ""),
             ("list latest", r["list_latest"], f"{r['list_latest']['rows']:,} rows"),
             ("list text search", r["list_text_search"], ""),
             ("list all versions", r["list_all_versions"], ""),
             ("stats", r["stats"], ""),
             ("changes since (5 events)", r["changes_since_5_events"], "")],
        )

    emit(result, json_, render)
