"""`skillbank bench retrieval`: median top-k query latency over synthetic libraries.

For each retrieval mode and library size the bench builds the index once (timed on its
own) and then times `queries` searches, reporting medians. Libraries are generated
deterministically from `seed`, with the status mix a live library has (promoted, canary
second versions, run-scoped candidates, quarantined and retired rows), and every search
passes a run id so the per-run eligibility path is part of what is timed.

Embedding modes: the query is always encoded by the real model, timed separately from the
search (matrix-vector product + argpartition). Encoding a whole library on a shared
2-core machine takes minutes at 10k and far longer at 100k, so libraries larger than
`real_encode_max` are indexed from deterministic synthetic unit vectors; the row says
``"vectors": "synthetic"`` and the JSON carries a note. Search cost does not depend on
what the vectors contain.
"""

from __future__ import annotations

import gc
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import typer

from skillbank.bench._stats import timing_ms
from skillbank.console import console, emit, err_console, table
from skillbank.errors import SkillbankError, ValidationError
from skillbank.retrieval import (
    RETRIEVAL_MODES,
    Embedder,
    EmbeddingRetriever,
    Retriever,
    SkillEntry,
    make_retriever,
)

DEFAULT_SIZES = (1_000, 10_000, 100_000)
BM25_TARGET_MS = 5.0

_APPS = ("venmo", "spotify", "gmail", "todoist", "phone", "calendar", "amazon", "splitwise", "file_system", "simple_note")
_VERBS = (
    "send", "list", "count", "archive", "delete", "find", "update", "create", "share", "rename",
    "export", "sum", "sort", "mark", "reply", "forward", "download", "like", "follow", "cancel",
)
_OBJECTS = (
    "payments", "songs", "emails", "tasks", "contacts", "events", "orders", "expenses", "files",
    "notes", "playlists", "friends", "messages", "albums", "invoices", "reminders", "reviews",
    "transactions", "comments", "subscriptions", "alarms", "receipts", "photos", "podcasts",
)
_QUALIFIERS = (
    "from last week", "this month", "older than 30 days", "with a note", "from my roommate",
    "in the inbox", "that are overdue", "from my manager", "above 50 dollars", "marked important",
    "I received yesterday", "shared with my sister", "in my work folder", "tagged as travel",
    "that I have not opened", "from the last trip", "created before March", "with attachments",
)
_PEOPLE = (
    "Jane", "Omar", "Priya", "Lukas", "Mei", "Carlos", "Aisha", "Tom", "Sofia", "Kenji", "Nina",
    "Ravi", "Elena", "Jamal", "Hannah", "Diego", "Yara", "Felix", "Amara", "Ivan",
)
_TEMPLATES = (
    "{Verb} all the {obj} {qual} on {app}",
    "Please {verb} my {app} {obj} {qual} and tell {person}",
    "How many {obj} {qual} do I have on {app}?",
    "{Verb} every {app} {obj} {qual} for {person}",
    "Using {app}, {verb} the {obj} {qual}",
)
_STATUS_MIX = (("promoted", 0.80), ("candidate", 0.10), ("quarantined", 0.05), ("retired", 0.05))
_RUNS = 64


def _sentence(rng: random.Random) -> tuple[str, str, str, str]:
    app, verb, obj = rng.choice(_APPS), rng.choice(_VERBS), rng.choice(_OBJECTS)
    text = rng.choice(_TEMPLATES).format(
        Verb=verb.capitalize(), verb=verb, obj=obj, qual=rng.choice(_QUALIFIERS),
        app=app.replace("_", " "), person=rng.choice(_PEOPLE),
    )
    return text, app, verb, obj


def synthetic_library(n: int, *, seed: int = 0) -> list[SkillEntry]:
    """`n` deterministic skill versions; every tenth is a canary second version of the
    skill before it, so one-version-per-name is exercised."""
    rng = random.Random(seed)
    statuses = [s for s, _ in _STATUS_MIX]
    weights = [w for _, w in _STATUS_MIX]
    out: list[SkillEntry] = []
    for i in range(n):
        if i % 10 == 9 and out:
            prev = out[-1]
            out.append(
                SkillEntry(
                    version_id=f"syn-{i}", name=prev.name, source=prev.source.replace("return", "return  "),
                    docstring=prev.docstring, signature=prev.signature, status="canary",
                    scenario_id=prev.scenario_id, query=prev.query, run_id=prev.run_id, version=prev.version + 1,
                )
            )
            continue
        query, app, verb, obj = _sentence(rng)
        name = f"{app}_{verb}_{obj}_{i}"
        sig = f"def {name}(apis, access_token: str, page_limit: int = 20) -> list[dict]"
        doc = f"{verb.capitalize()} {obj} in {app.replace('_', ' ')}, following pagination."
        source = (
            f'{sig}:\n    """{doc}"""\n    out = []\n    page = 0\n    while True:\n'
            f"        batch = apis.{app}.{verb}_{obj}(access_token=access_token, page_index=page, page_limit=page_limit)\n"
            "        if not batch:\n            return out\n        out.extend(batch)\n        page += 1\n"
        )
        status = rng.choices(statuses, weights)[0]
        out.append(
            SkillEntry(
                version_id=f"syn-{i}", name=name, source=source, docstring=doc, signature=sig, status=status,
                scenario_id=f"scn-{i // 3}", query=query, run_id=f"run-{rng.randrange(_RUNS)}", version=1,
            )
        )
    return out


def _queries(count: int, n: int, *, seed: int) -> list[tuple[str, str, str]]:
    """(instruction, scenario_id, run_id) triples drawn from the library's distribution."""
    rng = random.Random(seed + 1_000_003)
    return [
        (_sentence(rng)[0], f"scn-{rng.randrange(max(1, n // 3))}", f"run-{rng.randrange(_RUNS)}")
        for _ in range(count)
    ]


def _time_ms(fn: Callable[[], Any]) -> float:
    t = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t) / 1e6


def _summary(samples_ms: Sequence[float]) -> dict[str, Any]:
    return timing_ms([x / 1e3 for x in samples_ms])


def _synthetic_vectors(n: int, dim: int, *, seed: int) -> np.ndarray:
    m = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m


def _encode_ms(embedder: Embedder, query: str) -> float:
    return _time_ms(lambda: embedder.encode([query]))


def _argpartition_ms(noise: np.ndarray, kth: int) -> float:
    return _time_ms(lambda: np.argpartition(-noise, kth))


def _index_for_search(
    retriever: Retriever,
    lib: list[SkillEntry],
    qs: list[tuple[str, str, str]],
    *,
    size: int,
    k: int,
    real_encode_max: int,
    embedder: Embedder | None,
    seed: int,
    row: dict[str, Any],
) -> tuple[float, Callable[[int], list[SkillEntry]]]:
    """Index `lib` into `retriever`, timed; return the build seconds and a search for query i.
    Embedding indexes record in `row` whether their vectors came from the model."""
    if isinstance(retriever, EmbeddingRetriever):
        # run_bench drops the embedding modes when the shared embedder fails to load
        assert embedder is not None
        if size <= real_encode_max:
            build_s = _time_ms(lambda: retriever.index(lib)) / 1e3
            row["vectors"] = "model"
        else:
            vecs = _synthetic_vectors(size, embedder.dim, seed=seed + size)
            build_s = _time_ms(lambda: retriever.index_vectors(lib, vecs)) / 1e3
            row["vectors"] = "synthetic"
            del vecs
        qvecs = embedder.encode([q for q, _, _ in qs])
        return build_s, lambda i: retriever.search_vector(qvecs[i], k=k, run_id=qs[i][2])
    build_s = _time_ms(lambda: retriever.index(lib)) / 1e3
    return build_s, lambda i: retriever.search(qs[i][0], k=k, scenario_id=qs[i][1], run_id=qs[i][2])


def _timed_searches(search: Callable[[int], list[SkillEntry]], queries: int) -> tuple[list[float], int]:
    """Per-query search times (ms) for queries 0..queries-1, and the total number of hits."""
    samples: list[float] = []
    hits = 0
    for i in range(queries):
        t = time.perf_counter_ns()
        found = search(i)
        samples.append((time.perf_counter_ns() - t) / 1e6)
        hits += len(found)
    return samples, hits


def run_bench(
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    modes: Sequence[str] = RETRIEVAL_MODES,
    queries: int = 50,
    k: int = 5,
    real_encode_max: int = 1_000,
    seed: int = 0,
    embedder: Embedder | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure every (mode, size) and return the JSON-ready result. `progress`, when
    given, is told each step before it starts (the defaults take minutes)."""
    say = progress or (lambda _message: None)
    for mode in modes:
        if mode not in RETRIEVAL_MODES:
            raise ValidationError(f"unknown retrieval mode {mode!r}; choose one of: {', '.join(RETRIEVAL_MODES)}")
    if not sizes or any(s < 1 for s in sizes):
        raise ValidationError(f"sizes must be positive integers, got {list(sizes)}")
    if queries < 1 or k < 1:
        raise ValidationError(f"queries and k must be positive, got queries={queries} k={k}")
    if real_encode_max < 0:
        raise ValidationError(f"real_encode_max must be >= 0, got {real_encode_max}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    rows: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    encoding: dict[str, float] | None = None
    embedding_modes = [m for m in modes if m in ("query-embedding", "skill-embedding")]
    if embedding_modes:
        embedder = embedder if embedder is not None else Embedder()
        say("loading the embedding model")
        try:
            t = time.perf_counter()
            embedder.load()
            load_s = time.perf_counter() - t
            probe = [q for q, _, _ in _queries(queries, 3, seed=seed)]
            embedder.encode(probe[:2])  # first call pays one-off setup
            encoding = _summary([_encode_ms(embedder, q) for q in probe])
            encoding["model_load_ms"] = round(load_s * 1e3, 1)
        except SkillbankError as exc:
            for m in embedding_modes:
                errors[m] = str(exc)
            embedding_modes = []

    steps = len(sizes) * len([m for m in modes if m not in errors])
    step = 0
    for size in sizes:
        lib = synthetic_library(size, seed=seed)
        qs = _queries(queries, size, seed=seed)
        # The floor any full-scan search pays: one argpartition over `size` scores.
        noise = np.random.default_rng(seed).random(size, dtype=np.float32)
        kth = min(k, size) - 1
        baseline = _summary([_argpartition_ms(noise, kth) for _ in range(7)])
        for mode in modes:
            if mode in errors:
                continue
            step += 1
            encodes = mode in embedding_modes and size <= real_encode_max
            say(f"[{step}/{steps}] {mode} over {size:,} skills: "
                + (f"encoding {size:,} skills with the model (the slow part), " if encodes else "indexing, ")
                + f"then {queries} timed queries")
            row: dict[str, Any] = {"mode": mode, "size": size, "k": k}
            retriever = make_retriever(mode, top_k=k, embedder=embedder)
            build_s, search = _index_for_search(
                retriever, lib, qs, size=size, k=k, real_encode_max=real_encode_max, embedder=embedder, seed=seed, row=row
            )
            for i in range(min(3, queries)):  # warm caches and lazy paths before timing
                search(i)
            samples, found_total = _timed_searches(search, queries)
            stats = _summary(samples)
            row.update(
                index_build_ms=round(build_s * 1e3, 1),
                search_median_ms=stats["median_ms"],
                search_min_ms=stats["min_ms"],
                search_p95_ms=stats["p95_ms"],
                search_max_ms=stats["max_ms"],
                mean_results=round(found_total / queries, 2),
                baseline_argpartition_median_ms=baseline["median_ms"],
            )
            if isinstance(retriever, EmbeddingRetriever) and encoding is not None:
                row["query_encoding_median_ms"] = encoding["median_ms"]
                row["latency_median_ms"] = round(encoding["median_ms"] + stats["median_ms"], 4)
            else:
                row["latency_median_ms"] = stats["median_ms"]
            rows.append(row)
            del retriever, search
            gc.collect()

    result: dict[str, Any] = {
        "bench": "retrieval",
        "k": k,
        "queries": queries,
        "sizes": list(sizes),
        "seed": seed,
        "results": rows,
        "query_encoding": encoding,
        "targets": _targets(rows),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "numpy": np.__version__},
    }
    if any(r.get("vectors") == "synthetic" for r in rows):
        result["note"] = (
            f"embedding indexes over more than {real_encode_max} skills were built from deterministic "
            "synthetic unit vectors (encoding them with the model on this machine takes too long); "
            "query encoding is always the real all-MiniLM-L6-v2 model and is reported separately "
            "(query_encoding_median_ms); latency_median_ms = encoding median + search median"
        )
    if errors:
        result["errors"] = errors
    return result


def _targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ngram = [r for r in rows if r["mode"] == "query-ngram" and r["size"] == 100_000]
    if not ngram:
        return {}
    ms = ngram[0]["search_median_ms"]
    return {"query-ngram_100k_median_ms": ms, "target_ms": BM25_TARGET_MS, "met": ms <= BM25_TARGET_MS}


def _parse_ints(text: str, what: str) -> list[int]:
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise ValidationError(f"--{what} takes comma-separated integers, got {text!r}") from exc
    if not values:
        raise ValidationError(f"--{what} is empty")
    return values


def _render(data: dict[str, Any]) -> None:
    t = table("mode", "size", "build ms", "search ms", "p95", "min-max", "encode ms", "vectors",
              title=f"retrieval top-{data['k']} over {data['queries']} queries (medians, ms)", keep=("mode",))
    for r in data["results"]:
        enc = r.get("query_encoding_median_ms")
        t.add_row(
            r["mode"], f"{r['size']:,}", f"{r['index_build_ms']:,.1f}", f"{r['search_median_ms']:.3f}",
            f"{r['search_p95_ms']:.3f}", f"{r['search_min_ms']:.3g}-{r['search_max_ms']:.3g}",
            "" if enc is None else f"{enc:.2f}", r.get("vectors", ""),
        )
    console.print(t)
    if data.get("targets"):
        tg = data["targets"]
        console.print(f"query-ngram @100k: {tg['query-ngram_100k_median_ms']:.3f} ms (target {tg['target_ms']} ms, met={tg['met']})")
    if data.get("note"):
        console.print(f"note: {data['note']}")
    for mode, err in data.get("errors", {}).items():
        console.print(f"{mode}: skipped: {err}")


def command(
    sizes: str = typer.Option(
        "1000,10000,100000",
        help="Library sizes, comma-separated. The defaults take several minutes on 2 cores (over 5 "
             "when they are busy), most of it encoding the 1k library with the embedding model (see "
             "--real-encode-max); with --real-encode-max 0 (synthetic vectors throughout) one to two.",
    ),
    # ", " so that --help can wrap the default between modes instead of cutting it.
    modes: str = typer.Option(", ".join(RETRIEVAL_MODES), help="Retrieval modes, comma-separated."),
    queries: int = typer.Option(50, min=1, help="Timed queries per mode and size."),
    k: int = typer.Option(5, min=1, help="Top-k."),
    real_encode_max: int = typer.Option(
        1000, min=0, help="Largest library whose embeddings come from the model; larger ones use synthetic vectors."
    ),
    seed: int = typer.Option(0, help="Seed for the synthetic libraries and queries."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the summary."),
) -> None:
    """Top-k retrieval latency over synthetic libraries, per mode and size. Each step is
    announced on stderr as it starts; stdout holds only the table (or the JSON)."""
    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    data = run_bench(
        sizes=_parse_ints(sizes, "sizes"),
        modes=mode_list,
        queries=queries,
        k=k,
        real_encode_max=real_encode_max,
        seed=seed,
        progress=lambda message: err_console.print(f"bench retrieval: {message}", soft_wrap=True),
    )
    emit(data, as_json, _render)
