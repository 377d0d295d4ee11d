"""`skillbank bench …`: the benchmarks, under one convention (`skillbank.bench._stats`):
a Rich summary by default, one JSON object on stdout with ``--json``; every time in
milliseconds under a key ending ``_ms``, as a median with its range; speed as ratios
against a baseline measured in the same run, because the machines are shared and noisy.
"""

from __future__ import annotations

import typer

from skillbank.bench import agent as _agent
from skillbank.bench import canary as _canary
from skillbank.bench import governance as _governance
from skillbank.bench import llm as _llm
from skillbank.bench import retrieval as _retrieval
from skillbank.bench import sandbox as _sandbox
from skillbank.bench import serve as _serve
from skillbank.bench import store as _store
from skillbank.bench import world as _world

app = typer.Typer(no_args_is_help=True)
app.command("store", help="Store latency and throughput (put, get-by-alias, list).")(_store.command)
app.command("sandbox", help="Sandbox execution time vs in-process exec and smolagents.")(_sandbox.command)
app.command("world", help="Apps-world API call latency, reset, grading, expert throughput.")(_world.command)
app.command("agent", help="Per-task retrieval overhead of a run at 1k/10k/100k versions, first-task cost.")(_agent.command)
app.command("retrieval", help="Top-k retrieval latency over 1k/10k/100k skills per mode.")(_retrieval.command)
app.command("canary", help="Canary rule: false-rollback rate (as-good canaries) and calls to rollback (worse ones).")(_canary.command)
app.command("governance", help="Governance off / trust / on over two train runs with injected faults.")(_governance.command)
app.command("serve", help="`skillbank serve` under N concurrent loopback clients: req/s, p50/p99, errors, bottleneck.")(
    _serve.command)
app.command("llm", help="Local model prefill/generation tokens per second, batch 1/4/8, base and adapter.")(_llm.command)
