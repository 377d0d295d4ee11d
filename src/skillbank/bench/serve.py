"""`skillbank bench serve`: `skillbank serve` under load from concurrent loopback clients.

For each library (a temporary SQLite file by default; ``--library`` names EMPTY ones,
e.g. a PostgreSQL database, and may be repeated), the bench seeds a namespace
(`--skills` promoted skills with a ``stable`` alias each), creates a write token, starts
``skillbank serve`` as its own process on a free loopback port, and runs `--clients`
concurrent clients (threads spread over a few client processes, so the load generator
is not one GIL) for `--duration` seconds. Each client does what a remote run does, in
this mix:

- ``retrieve`` 40%: the incremental read a run makes per task (``GET /changes`` from the
  client's cursor), and every tenth time the full read (``GET /retrievable?run_id=``);
- ``record_call`` 30%: ``POST /versions/{id}/calls``;
- ``save`` 10%: ``POST /versions``, a new version of the client's own skill;
- ``read_events`` 15%: ``GET /events?limit=50``;
- ``get_alias`` 5%: ``GET /skills/{name}/versions/stable``.

Reported per library: requests, throughput (requests per second of wall time), p50 and
p99 latency (overall and per operation), errors (any non-2xx, timeout or connection
error; expected 0), the CPU used by the server process and by the clients (in cores),
and where the bottleneck is, read off those numbers.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from skillbank.console import console, emit
from skillbank.errors import ConfigError, ValidationError
from skillbank.redact import redact_text

MIX: tuple[tuple[str, float], ...] = (
    ("retrieve", 0.40), ("record_call", 0.30), ("save", 0.10), ("read_events", 0.15), ("get_alias", 0.05),
)
WRITES = frozenset({"record_call", "save"})
NAMESPACE = "bench"


def _skill(name: str, i: int) -> str:
    return (f"def {name}(xs: list[int], k: int = {i % 97 + 1}) -> list[int]:\n"
            f"    '''Keep the items of xs divisible by k (variant {i}).'''\n"
            f"    return [x for x in xs if x % k == {i % 3}]\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _latency(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    p50, p99 = _percentile(ordered, 0.50), _percentile(ordered, 0.99)
    return {"n": len(ordered), "p50_ms": None if p50 is None else round(p50 * 1e3, 3),
            "p99_ms": None if p99 is None else round(p99 * 1e3, 3),
            "max_ms": round(ordered[-1] * 1e3, 3) if ordered else None}


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def machine() -> dict[str, Any]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu_model": model, "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "load_avg_1_5_15": None if load is None else [round(x, 2) for x in load]}


# -- the clients (run in worker processes) ------------------------------------------------------


def _client_process(url: str, token: str, clients: list[int], version_ids: list[str], names: list[str],
                    duration_s: float, seed: int, timeout_s: float, ready: Any, go: Any, out: Any) -> None:
    """A client process: imports, says `ready`, waits for `go`, then runs `clients`
    client threads for `duration_s`; puts its samples on `out`."""
    import threading

    import httpx

    ready.put(os.getpid())
    go.wait()
    deadline = time.time() + duration_s
    started_cpu = time.process_time()
    results: list[tuple[str, float, bool]] = []
    errors: list[str] = []
    lock = threading.Lock()
    ops, weights = zip(*MIX, strict=True)

    def one_client(n: int) -> None:
        rng = random.Random(seed * 10_000 + n)
        base = f"/api/v1/namespaces/{NAMESPACE}"
        cursor: int | None = None
        saved = 0
        mine: list[tuple[str, float, bool]] = []
        bad: list[str] = []
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s) as http:
            while time.time() < deadline:
                op = rng.choices(ops, weights)[0]
                t0 = time.perf_counter()
                try:
                    if op == "retrieve":
                        if cursor is None or rng.random() < 0.1:
                            r = http.get(f"{base}/retrievable", params={"run_id": f"bench-client-{n}"})
                            if r.status_code == 200:
                                cursor = int(r.json()["cursor"])
                        else:
                            r = http.get(f"{base}/changes", params={"cursor": cursor})
                            if r.status_code == 200:
                                cursor = int(r.json()["cursor"])
                    elif op == "record_call":
                        r = http.post(f"/api/v1/versions/{rng.choice(version_ids)}/calls",
                                      json={"ok": rng.random() > 0.1, "latency_s": round(rng.random() / 10, 4)})
                    elif op == "save":
                        saved += 1
                        r = http.post(f"{base}/versions", json={
                            "source": _skill(f"bench_client_{n}", saved),
                            "provenance": {"created_by": "bench", "run_id": f"bench-client-{n}",
                                           "task_id": f"task-{saved}", "query": "keep the divisible items"},
                            "actor": "bench"})
                    elif op == "read_events":
                        r = http.get(f"{base}/events", params={"limit": 50})
                    else:
                        r = http.get(f"{base}/skills/{rng.choice(names)}/versions/stable")
                    ok = 200 <= r.status_code < 300
                    if not ok:
                        bad.append(f"{op}: HTTP {r.status_code} {r.text[:120]}")
                except httpx.HTTPError as exc:
                    ok = False
                    bad.append(f"{op}: {type(exc).__name__}: {str(exc)[:120]}")
                mine.append((op, time.perf_counter() - t0, ok))
        with lock:
            results.extend(mine)
            errors.extend(bad[:5])

    threads = [threading.Thread(target=one_client, args=(n,), daemon=True) for n in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"samples": results, "errors": errors[:20], "cpu_s": time.process_time() - started_cpu})


# -- one library ----------------------------------------------------------------------------------


def _seed(library: str, skills: int) -> tuple[str, list[str], list[str], str]:
    """(token, version ids, skill names, backend) of the seeded namespace."""
    from skillbank.serve.tokens import TokenRegistry
    from skillbank.store import VersionStatus, open_store
    from skillbank.store.sql import SqlLibraryStore

    store = open_store(library)
    try:
        if not isinstance(store, SqlLibraryStore):
            raise ValidationError("bench serve serves a library database (SQLite or PostgreSQL), not a served URL")
        if store.list_versions(namespace=None, latest_only=False, limit=1):
            raise ValidationError("bench serve writes into the library: --library must name an empty library")
        backend = store.engine.dialect.name
        store.create_namespace(NAMESPACE)
        ids, names = [], []
        for i in range(skills):
            name = f"bench_skill_{i:04d}"
            v, _ = store.put_version(_skill(name, i), namespace=NAMESPACE, status=VersionStatus.PROMOTED, actor="bench")
            store.set_alias(name, "stable", 1, expected_generation=None, namespace=NAMESPACE, actor="bench")
            ids.append(v.id)
            names.append(name)
        token = TokenRegistry(store).create(NAMESPACE, "write", label="bench serve")[0]
    finally:
        store.close()
    return token, ids, names, backend


def _start_server(library: str, port: int, runs_dir: str, log: Path) -> subprocess.Popen[bytes]:
    import httpx

    argv = [sys.executable, "-m", "skillbank.cli", "serve", "--library", library, "--host", "127.0.0.1",
            "--port", str(port), "--runs-dir", runs_dir, "--access-log", "off"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"the server exited at start: {log.read_text(errors='replace')[-500:]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/whoami", timeout=1.0)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise ConfigError("the server did not answer within 60 s")


def _bottleneck(r: dict[str, Any], host: dict[str, Any]) -> str:
    server, clients, procs = r["server_cpu_cores"], r["client_cpu_cores"], r["client_processes"]
    writes, reads = r["by_kind"]["writes"]["p50_ms"] or 0.0, r["by_kind"]["reads"]["p50_ms"] or 0.0
    load, cpus = (host.get("load_avg_1_5_15") or [0.0])[0], host.get("cpus") or 1
    used = (server or 0.0) + clients
    if server is not None and server >= 0.85:
        return (f"the server process's CPU: it used {server:.2f} cores, and one Python process serves every request "
                "(one event loop, sync routes on its thread pool, one GIL); more clients only queue")
    if load >= 0.9 * cpus and used < 0.9 * cpus:
        return (f"the machine: its load was {load} on {cpus} CPUs before the bench started, so the server "
                f"({server} cores) and the clients ({clients} cores) waited for CPUs others held; "
                "rerun on a quiet machine for the server's own limit")
    if clients >= 0.85 * procs:
        return f"the load generator: the client processes used {clients:.2f} of {procs} cores"
    if reads and writes > 3 * reads:
        return (f"write serialisation: writes take {writes:.1f} ms at p50 against {reads:.1f} ms for reads; "
                "writers queue on the library's write lock (SQLite BEGIN IMMEDIATE, PostgreSQL advisory lock)")
    return "no CPU saturated: latency-bound (each client waits for its reply); more clients would raise throughput"


def bench_library(library: str | None, *, clients: int, duration_s: float, skills: int, seed: int,
                  client_processes: int, timeout_s: float, directory: str | None = None) -> dict[str, Any]:
    host = machine()
    with tempfile.TemporaryDirectory(prefix="skillbank-bench-serve-", dir=directory) as tmp:
        target = library or str(Path(tmp) / "library.db")
        token, ids, names, backend = _seed(target, skills)
        port = _free_port()
        server = _start_server(target, port, str(Path(tmp) / "runs"), Path(tmp) / "server.log")
        try:
            url = f"http://127.0.0.1:{port}"
            procs = max(1, min(client_processes, clients))
            groups = [list(range(clients))[i::procs] for i in range(procs)]
            ctx = multiprocessing.get_context("spawn")
            ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
            workers = [ctx.Process(target=_client_process, daemon=True,
                                   args=(url, token, g, ids, names, duration_s, seed, timeout_s, ready, go, out))
                       for g in groups]
            for w in workers:
                w.start()
            try:
                for _ in workers:  # every client process started and imported: the clock starts together
                    ready.get(timeout=120)
                cpu_before = _cpu_seconds(server.pid)
                started = time.perf_counter()
                go.set()
                parts = [out.get(timeout=duration_s + timeout_s + 120) for _ in workers]
                wall = time.perf_counter() - started
                cpu_after = _cpu_seconds(server.pid)
            finally:
                for w in workers:
                    w.join(timeout=10)
                    if w.is_alive():
                        w.kill()
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    samples = [s for p in parts for s in p["samples"]]
    errors = [e for p in parts for e in p["errors"]]
    lat = [s[1] for s in samples]
    result: dict[str, Any] = {
        "library": redact_text(library) if library else "temporary SQLite file",
        "backend": backend,
        "clients": clients,
        "client_processes": procs,
        "duration_s": round(wall, 2),
        "requests": len(samples),
        "throughput_rps": round(len(samples) / wall, 1) if wall else None,
        "latency": _latency(lat),
        "errors": sum(1 for s in samples if not s[2]),
        "error_examples": errors[:5],
        "by_op": {op: {**_latency([s[1] for s in samples if s[0] == op]),
                       "errors": sum(1 for s in samples if s[0] == op and not s[2])} for op, _ in MIX},
        "by_kind": {"reads": _latency([s[1] for s in samples if s[0] not in WRITES]),
                    "writes": _latency([s[1] for s in samples if s[0] in WRITES])},
        "server_cpu_cores": (None if cpu_before is None or cpu_after is None
                             else round((cpu_after - cpu_before) / wall, 2)),
        "client_cpu_cores": round(sum(p["cpu_s"] for p in parts) / wall, 2),
    }
    result["bottleneck"] = _bottleneck(result, host)
    return result


def run_bench(*, libraries: list[str] | None = None, clients: int = 16, duration_s: float = 10.0, skills: int = 50,
              seed: int = 0, client_processes: int | None = None, timeout_s: float = 10.0,
              directory: str | None = None) -> dict[str, Any]:
    if not 1 <= clients <= 512:
        raise ValidationError(f"--clients must be from 1 to 512, not {clients}")
    if not 0.5 <= duration_s <= 600:
        raise ValidationError(f"--duration must be from 0.5 to 600 seconds, not {duration_s}")
    if not 1 <= skills <= 10_000:
        raise ValidationError(f"--skills must be from 1 to 10000, not {skills}")
    procs = client_processes or max(1, min(4, (os.cpu_count() or 2) // 2))
    before = machine()
    rows = [bench_library(lib, clients=clients, duration_s=duration_s, skills=skills, seed=seed,
                          client_processes=procs, timeout_s=timeout_s, directory=directory)
            for lib in (libraries or [None])]  # type: ignore[list-item]
    after = machine()
    return {"bench": "serve", "mix": dict(MIX), "results": rows,
            "machine": {**before, "load_avg_after": after["load_avg_1_5_15"]}}


def command(
    clients: Annotated[int, typer.Option("--clients", help="Concurrent loopback clients.")] = 16,
    duration: Annotated[float, typer.Option("--duration", help="Seconds of load per library.")] = 10.0,
    library: Annotated[list[str] | None, typer.Option(
        "--library", help="An EMPTY library to serve (e.g. postgresql://...); repeat for several; "
                          "default: a temporary SQLite file.")] = None,
    skills: Annotated[int, typer.Option("--skills", help="Promoted skills seeded before the load.")] = 50,
    client_processes: Annotated[int | None, typer.Option(
        "--client-processes", help="Processes the clients are spread over (default: half the CPUs, at most 4).")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the summary.")] = False,
) -> None:
    """Throughput, p50/p99 latency and errors of `skillbank serve` under concurrent clients."""
    result = run_bench(libraries=library, clients=clients, duration_s=duration, skills=skills, seed=seed,
                       client_processes=client_processes)

    def render(r: dict[str, Any]) -> None:
        from skillbank.console import table

        m = r["machine"]
        console.print(f"serve bench on {m['cpu_model']} ({m['cpus']} CPUs), load {m['load_avg_1_5_15']}",
                      markup=False, highlight=False)
        t = table("library", "clients", "req/s", "p50 ms", "p99 ms", "errors", "server cores", "bottleneck",
                  keep=("clients", "req/s", "p50 ms", "p99 ms", "errors"), flex=("bottleneck",))
        for row in r["results"]:
            t.add_row(f"{row['backend']} ({row['library']})", str(row["clients"]), f"{row['throughput_rps']}",
                      f"{row['latency']['p50_ms']}", f"{row['latency']['p99_ms']}", str(row["errors"]),
                      f"{row['server_cpu_cores']}", row["bottleneck"])
        console.print(t)

    emit(result, json_, render)
