"""Several processes writing one library at once (an SQLite file; a real PostgreSQL
server), and a writer killed with SIGKILL at random moments: nothing is lost, duplicated
or corrupted."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import sqlite3
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from skillbank.errors import ConflictError
from skillbank.store import open_store

WORKERS = 4
PUTS = 250
NAMES = 10

# fork: the children start in milliseconds (the parent holds no open connection when
# forking), which is what lets 50 crash rounds fit in a few seconds.
_ctx = mp.get_context("fork")


def _writer(worker: int, path: str, queue) -> None:
    store = open_store(path)
    created, applied, refused = [], [], 0
    for j in range(PUTS):
        name = f"skill_{j % NAMES}"
        sv, new = store.put_version(f"def {name}(x):\n    return x + {worker * 100_000 + j}\n", actor=f"w{worker}")
        assert new
        created.append((sv.id, sv.name, sv.version))
        current = store.get_alias(name, "promoted")
        try:
            moved = store.set_alias(
                name, "promoted", sv.version, expected_generation=None if current is None else current.generation,
                actor=f"w{worker}",
            )
            applied.append((name, moved.generation))
        except ConflictError:
            refused += 1
        if j % 5 == 0:
            store.record_call(sv.id, ok=j % 2 == 0, latency_s=0.001)
    store.close()
    queue.put((created, applied, refused))


@pytest.mark.slow
def test_four_processes_writing_at_once(tmp_path: Path) -> None:
    _concurrent_writers(str(tmp_path / "lib.db"), WORKERS)


@pytest.mark.slow
def test_eight_processes_writing_one_postgres_library(postgres_url: str) -> None:
    _concurrent_writers(postgres_url, 8)


def _concurrent_writers(path: str, workers: int) -> None:
    WORKERS = workers  # noqa: N806 - shadows the module default on purpose
    open_store(path).close()  # create the schema once, so the race is about data
    queue = _ctx.Queue()
    procs = [_ctx.Process(target=_writer, args=(w, path, queue)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0

    store = open_store(path)
    try:
        created = [c for r in results for c in r[0]]
        applied = [a for r in results for a in r[1]]
        refused = sum(r[2] for r in results)
        assert len(created) == WORKERS * PUTS
        rows = store.list_versions(latest_only=False)
        assert len(rows) == WORKERS * PUTS
        assert sorted(v.id for v in rows) == sorted(c[0] for c in created)
        # version numbers per name are exactly 1..N: no duplicates, no gaps
        per_name: dict[str, list[int]] = defaultdict(list)
        for v in rows:
            per_name[v.name].append(v.version)
        assert len(per_name) == NAMES
        for numbers in per_name.values():
            assert sorted(numbers) == list(range(1, len(numbers) + 1))
        # every alias move either applied (each generation exactly once) or was refused
        assert len(applied) + refused == WORKERS * PUTS
        by_alias: dict[str, list[int]] = defaultdict(list)
        for name, gen in applied:
            by_alias[name].append(gen)
        for name, gens in by_alias.items():
            assert sorted(gens) == list(range(1, len(gens) + 1))
            assert store.get_alias(name, "promoted").generation == len(gens)
        # the event log is complete
        kinds = Counter(e.type for e in store.events(limit=None))
        assert kinds["created"] == WORKERS * PUTS
        assert kinds["updated"] == WORKERS * PUTS - NAMES
        assert kinds["alias_moved"] == len(applied)
        ids = [e.id for e in store.events()]
        assert len(ids) == len(set(ids))
        calls = sum(store.call_stats(v.id).calls for v in rows)
        assert calls == WORKERS * len(range(0, PUTS, 5))
    finally:
        store.close()


def _crashy_writer(path: str, report: str, round_: int) -> None:
    store = open_store(path)
    fd = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for k in range(10_000):
        sv, _ = store.put_version(f"def crashy(x):\n    return x * {round_ * 1_000_000 + k}\n", actor="crash")
        # Reported only after put returned: these are the versions promised durable.
        os.write(fd, f"{sv.id} {sv.content_hash}\n".encode())
        if k % 3 == 0:
            current = store.get_alias("crashy", "promoted")
            try:
                store.set_alias("crashy", "promoted", sv.version,
                                expected_generation=None if current is None else current.generation, actor="crash")
            except ConflictError:
                pass
            store.record_call(sv.id, ok=True, latency_s=0.01)


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_reported(tmp_path: Path) -> None:
    path = str(tmp_path / "lib.db")
    report = str(tmp_path / "returned.txt")
    open_store(path).close()
    rng = random.Random(20250101)
    for round_ in range(50):
        p = _ctx.Process(target=_crashy_writer, args=(path, report, round_))
        p.start()
        time.sleep(rng.uniform(0.01, 0.2))
        os.kill(p.pid, signal.SIGKILL)
        p.join(timeout=30)
        assert p.exitcode == -signal.SIGKILL

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    lines = Path(report).read_text().splitlines(keepends=True)
    reported = [line.split() for line in lines if line.endswith("\n")]  # a torn last line is no promise
    assert len(reported) > 50, "the writer should have stored something before most kills"
    store = open_store(path)
    try:
        for version_id, content_hash in reported:
            assert store.get_version_by_id(version_id).content_hash == content_hash
        history = store.history("crashy")
        assert [v.version for v in history] == list(range(1, len(history) + 1))
        assert len(history) >= len(reported)
        created = {e.version_id for e in store.events(type="created")}
        assert {v.id for v in history} == created
        # the library still takes writes after 50 crashes
        assert store.put_version("def crashy(x):\n    return -x\n")[1]
    finally:
        store.close()
