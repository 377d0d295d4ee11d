"""`skillbank bench agent`: what retrieval costs the agent per task as the library grows.

For each library size a SQLite library is loaded in one batch (the import path) with
the synthetic versions of `bench retrieval` (promoted, canary second versions, other
runs' candidates, quarantined and retired rows; content hashes are of the source text,
the sources are not parsed). Then, for each retrieval mode, on its own copy of that
library, a run's `RunLibrary` plays
`tasks` tasks the way `skillbank run` does, minus the policy and the sandbox:

- ``first_task_ms``: the first retrieval: reading the visible part of the library,
  building the index, fetching persisted embeddings and encoding the versions never
  encoded before (``first_task_encoded`` of them).
- ``per_task_ms``: every later retrieval (median, min, max, p90), with the writes a run
  makes between tasks (this run saves a candidate per task; every third task another
  writer stores a promoted version and quarantines one) outside the timing.
- ``second_run_first_task_ms`` / ``second_run_encoded``: a new run over the same library
  (the persisted embeddings are read back; nothing should be encoded).
- ``full_rebuild_per_task_ms``: the baseline, measured in the same run: what a task cost
  when retrieval listed the whole namespace and built a fresh index per task (the code
  before incremental retrieval), for the non-embedding modes.

Embedding modes use the real model (all-MiniLM-L6-v2) for every query and for
``real_encode`` library texts; the other visible versions get deterministic synthetic
vectors stored as persisted embeddings beforehand, because encoding 100k texts on a
shared 2-core machine takes far longer than the rest of the bench. The JSON says how many
vectors were real and gives the measured encode throughput and the extrapolated time to
encode a whole library, labelled as an extrapolation.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from skillbank.agent.library import RunLibrary
from skillbank.bench.retrieval import synthetic_library
from skillbank.console import console, emit
from skillbank.console import table as new_table
from skillbank.errors import SkillbankError, ValidationError
from skillbank.retrieval import RETRIEVAL_MODES, Embedder, EmbeddingRetriever, Retriever, SkillEntry, make_retriever
from skillbank.store import Provenance, VersionStatus, open_store
from skillbank.store.base import Event, StoredVersion
from skillbank.store.portable import portable
from skillbank.store.serving import SERVED_STATUSES
from skillbank.store.sql import LibrarySnapshot
from skillbank.worlds.base import Task

DEFAULT_SIZES = (1_000, 10_000, 100_000)
DEFAULT_MODES = ("same-scenario", "query-ngram", "query-embedding", "skill-embedding")
TARGET_MS = 10.0
_TARGET_MODES = ("same-scenario", "query-ngram")
_T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _stats(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "min_ms": round(ordered[0], 3),
        "max_ms": round(ordered[-1], 3),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 3),
        "n": len(ordered),
    }


def _versions(size: int, seed: int) -> list[StoredVersion]:
    out = []
    for i, e in enumerate(synthetic_library(size, seed=seed)):
        out.append(StoredVersion(
            id=hashlib.sha256(f"{seed}:{e.version_id}".encode()).hexdigest()[:32], namespace="default", name=e.name,
            version=e.version, content_hash=hashlib.sha256(e.source.encode()).hexdigest(), source=e.source,
            docstring=e.docstring, signature=e.signature, input_schema=None, status=VersionStatus(e.status),
            provenance=Provenance(created_by="bench", run_id=e.run_id, scenario_id=e.scenario_id, query=e.query),
            created_at=_T0 + dt.timedelta(seconds=i),
        ))
    return out


def build_library(path: Path, size: int, *, seed: int = 0) -> tuple[list[StoredVersion], float]:
    """Load `size` synthetic versions (one ``created`` event each) in one batch; returns
    the versions and the load time in ms."""
    versions = _versions(size, seed)
    events = tuple(Event(i + 1, "created", v.namespace, v.name, v.id, "bench", None, {"version": v.version}, v.created_at)
                   for i, v in enumerate(versions))
    snap = LibrarySnapshot(namespaces=("default",), versions=tuple(versions), aliases=(), events=events, call_stats=())
    started = time.perf_counter()
    store = open_store(path)
    try:
        portable(store, "bench agent").restore(snap)
    finally:
        store.close()
    return versions, (time.perf_counter() - started) * 1000


def _task(rng: random.Random, versions: list[StoredVersion]) -> Task:
    """A task asking for one of `versions`; only its instruction and scenario feed retrieval."""
    v = rng.choice(versions)
    task_id = f"task-{rng.randrange(10**9)}"
    scenario_id = v.provenance.scenario_id
    assert scenario_id is not None, "every synthetic version records its scenario (see _versions)"
    return Task(id=task_id, scenario_id=scenario_id, split="bench", instruction=v.provenance.query or v.name,
                supervisor={})


def _new_source(i: int) -> str:
    return f"def bench_saved_{i}(apis, n: int = {i}) -> int:\n    '''Saved by the benched run, task {i}.'''\n    return n\n"


def _visible(versions: list[StoredVersion]) -> list[StoredVersion]:
    return [v for v in versions if v.status in SERVED_STATUSES]


def _seed_vectors(store: Any, retriever: EmbeddingRetriever, versions: list[StoredVersion], real: int, seed: int) -> int:
    """Persist synthetic vectors for all visible versions but `real` of them; returns how
    many texts were left for the model."""
    texts = list(dict.fromkeys(retriever.text(SkillEntry.from_version(v)) for v in _visible(versions)))
    keep = set(random.Random(seed).sample(range(len(texts)), min(real, len(texts))))
    rng = np.random.default_rng(seed)
    vectors = {}
    for i, text in enumerate(texts):
        if i in keep:
            continue
        vec = rng.standard_normal(384).astype(np.float32)
        vectors[hashlib.sha256(text.encode("utf-8")).hexdigest()] = (vec / np.linalg.norm(vec)).tobytes()
    store.put_embeddings(retriever.embedder.cache_key, 384, vectors)
    return len(texts) - len(vectors)


def _full_rebuild_ms(store: Any, mode: str, run_id: str, task: Any, samples: int) -> dict[str, float]:
    """The pre-incremental per-task path: list everything, filter, index afresh, search."""
    out = []
    for _ in range(samples):
        t = time.perf_counter()
        entries = [SkillEntry.from_version(v) for v in store.list_versions(latest_only=False)]
        entries = [e for e in entries if e.status in SERVED_STATUSES or e.run_id == run_id]
        retriever = make_retriever(mode)
        retriever.index(entries)
        retriever.search(task.instruction, k=5, scenario_id=task.scenario_id, run_id=run_id)
        out.append((time.perf_counter() - t) * 1000)
    return _stats(out)


def _play(store: Any, other: Any, retriever: Any, versions: list[StoredVersion], *, run_id: str, tasks: int,
          seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    library = RunLibrary(store, retriever, run_id=run_id, top_k=5)
    t = time.perf_counter()
    library.retrieve(_task(rng, versions))
    first = (time.perf_counter() - t) * 1000
    first_encoded = library.encoded
    promoted = [v for v in versions if v.status is VersionStatus.PROMOTED]
    samples = []
    for i in range(tasks):
        task = _task(rng, versions)
        library.save(_new_source(seed * 100_000 + i), Provenance(created_by="bench", run_id=run_id,
                                                                 scenario_id=task.scenario_id, query=task.instruction))
        if i % 3 == 0:
            other.put_version(_new_source(seed * 100_000 + 50_000 + i).replace("bench_saved", "bench_other"),
                              status=VersionStatus.PROMOTED, actor="bench-other",
                              provenance=Provenance(scenario_id=task.scenario_id, query=task.instruction))
            other.set_status(rng.choice(promoted).id, VersionStatus.QUARANTINED, actor="bench-other")
        t = time.perf_counter()
        library.retrieve(task)
        samples.append((time.perf_counter() - t) * 1000)
    return {"first_task_ms": round(first, 3), "first_task_encoded": first_encoded, "per_task": _stats(samples),
            "library": library}


def run_bench(
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    modes: Sequence[str] = DEFAULT_MODES,
    tasks: int = 30,
    real_encode: int = 300,
    baseline_samples: int = 3,
    seed: int = 0,
    directory: str | Path | None = None,
    embedder: Embedder | None = None,
) -> dict[str, Any]:
    for mode in modes:
        if mode not in RETRIEVAL_MODES or mode == "none":
            raise ValidationError(f"unknown retrieval mode {mode!r}; choose from: {', '.join(DEFAULT_MODES)}")
    if not sizes or any(s < 10 for s in sizes):
        raise ValidationError(f"sizes must be at least 10, got {list(sizes)}")
    if tasks < 2 or real_encode < 0 or baseline_samples < 0:
        raise ValidationError("tasks must be >= 2; real_encode and baseline_samples >= 0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    rows: list[dict[str, Any]] = []
    builds: dict[str, float] = {}
    errors: dict[str, str] = {}
    embedding: dict[str, Any] = {}
    emb_modes = [m for m in modes if m in ("query-embedding", "skill-embedding")]
    if emb_modes:
        embedder = embedder or Embedder()
        try:
            embedder.check_available()
            embedder.load()
            probe = [f"send the payments from last week to person {i}" for i in range(12)]
            embedder.encode(probe[:2])
            embedding["query_encode"] = _stats([_time(lambda q=q: embedder.encode([q])) for q in probe])
        except SkillbankError as exc:
            for m in emb_modes:
                errors[m] = str(exc)
            emb_modes = []
    encode_rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="skillbank-bench-agent-", dir=directory) as tmp:
        for size in sizes:
            path = Path(tmp) / f"library-{size}.db"
            versions, build_ms = build_library(path, size, seed=seed)
            builds[str(size)] = round(build_ms, 1)
            for mode in modes:
                if mode in errors:
                    continue
                # Each mode plays on its own copy: runs change the library (saves, quarantines).
                copy = Path(tmp) / f"library-{size}-{mode}.db"
                shutil.copyfile(path, copy)
                store, other = open_store(copy), open_store(copy)
                try:
                    row: dict[str, Any] = {"mode": mode, "size": size, "visible_versions": len(_visible(versions))}
                    retriever: Retriever
                    if mode in emb_modes:
                        retriever = EmbeddingRetriever(mode, embedder=embedder)
                        real = _seed_vectors(store, retriever, versions, real_encode, seed)
                        row["vectors"] = {"real_model": real, "synthetic_persisted": row["visible_versions"] - real}
                    else:
                        retriever = make_retriever(mode)
                    played = _play(store, other, retriever, versions, run_id=f"bench-{mode}-{size}", tasks=tasks,
                                   seed=seed)
                    first_library = played.pop("library")
                    if mode in emb_modes and played["first_task_encoded"]:
                        # the first task's time is mostly encoding; its share gives a throughput
                        encode_rates.append(played["first_task_encoded"] / (played["first_task_ms"] / 1000))
                    row.update(played)
                    task = _task(random.Random(seed + 1), versions)
                    if mode not in emb_modes and baseline_samples:
                        row["full_rebuild_per_task"] = _full_rebuild_ms(
                            store, mode, f"bench-{mode}-{size}", task, baseline_samples if size < 100_000 else 1)
                        row["speedup_vs_full_rebuild"] = round(
                            row["full_rebuild_per_task"]["median_ms"] / max(row["per_task"]["median_ms"], 1e-6), 1)
                    del first_library
                    gc.collect()
                    second_retriever = (EmbeddingRetriever(mode, embedder=embedder) if mode in emb_modes
                                        else make_retriever(mode))
                    second = _play(store, other, second_retriever, versions, run_id=f"bench2-{mode}-{size}", tasks=2,
                                   seed=seed + 7)
                    row["second_run_first_task_ms"] = second["first_task_ms"]
                    row["second_run_encoded"] = second["first_task_encoded"]
                    del second
                    if mode in _TARGET_MODES:
                        row["meets_target"] = row["per_task"]["median_ms"] <= TARGET_MS
                    rows.append(row)
                finally:
                    other.close()
                    store.close()
                    for leftover in Path(tmp).glob(f"library-{size}-{mode}.db*"):
                        leftover.unlink()
                    gc.collect()
    if encode_rates:
        rate = statistics.median(encode_rates)
        embedding["encode_texts_per_s"] = round(rate, 1)
        embedding["encode_all_extrapolated_ms"] = {
            str(r["size"]): round(r["visible_versions"] / rate * 1000) for r in rows if r["mode"] in emb_modes
        }
        embedding["note"] = ("encode_all_extrapolated_ms is an extrapolation from the measured first-task "
                             "throughput (which includes the index build), not a measurement")
    return {
        "bench": "agent",
        "tasks": tasks,
        "k": 5,
        "sizes": list(sizes),
        "modes": list(modes),
        "target": {"per_task_ms": TARGET_MS, "modes": list(_TARGET_MODES)},
        "rows": rows,
        "library_build_ms": builds,
        "embedding": embedding,
        "errors": errors,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }


def _time(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def command(
    sizes: Annotated[str, typer.Option("--sizes", help="Comma-separated library sizes (versions).")] = "1000,10000,100000",
    modes: Annotated[str, typer.Option("--modes", help="Comma-separated retrieval modes.")] = ",".join(DEFAULT_MODES),
    tasks: Annotated[int, typer.Option("--tasks", help="Timed tasks per run.")] = 30,
    real_encode: Annotated[int, typer.Option("--real-encode", help="Library texts the real model encodes per embedding run; the rest get persisted synthetic vectors.")] = 300,
    baseline_samples: Annotated[int, typer.Option("--baseline-samples", help="Full-rebuild baseline samples per row (1 at 100k).")] = 3,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    json_: Annotated[bool, typer.Option("--json", help="Print the JSON object only.")] = False,
) -> None:
    """Per-task retrieval overhead of a run (no policy, no sandbox) at each library size."""
    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise ValidationError(f"--sizes takes comma-separated integers, got {sizes!r}") from None
    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    result = run_bench(sizes=size_list, modes=mode_list, tasks=tasks, real_encode=real_encode,
                       baseline_samples=baseline_samples, seed=seed)

    def render(r: dict[str, Any]) -> None:
        table = new_table(title=f"bench agent: retrieval per task ({r['tasks']} tasks, top-{r['k']})")
        for col in ("mode", "size", "first ms", "enc", "per task ms", "rebuild ms", "2nd run first ms", "enc"):
            table.add_column(col, overflow="fold")
        for row in r["rows"]:
            p = row["per_task"]
            base = row.get("full_rebuild_per_task")
            table.add_row(row["mode"], str(row["size"]), f"{row['first_task_ms']:.1f}", str(row["first_task_encoded"]),
                          f"{p['median_ms']:.2f} ({p['min_ms']:.2f}-{p['max_ms']:.2f})",
                          "-" if base is None else f"{base['median_ms']:.1f} (x{row['speedup_vs_full_rebuild']})",
                          f"{row['second_run_first_task_ms']:.1f}", str(row["second_run_encoded"]))
        console.print(table)
        console.print("first: the first task (read, index build, encoding 'enc' texts); per task: median (min-max) "
                      "of later tasks; rebuild: listing and indexing afresh per task (the old path); 2nd run: a new "
                      "run over the same library", markup=False)
        if r["embedding"].get("encode_texts_per_s"):
            console.print(f"model encode: {r['embedding']['encode_texts_per_s']} texts/s "
                          f"(a whole library at that rate: extrapolated, not measured)")
        for mode, err in r["errors"].items():
            console.print(f"{mode}: skipped: {err}", markup=False)

    emit(result, json_, render)
