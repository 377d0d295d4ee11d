"""`skillbank bench …`: each benchmark prints one JSON object on stdout.

Speed is reported as medians and as ratios against a baseline measured in the same
run, because the machines are shared and noisy.
"""

from __future__ import annotations

import typer

from skillbank.bench import retrieval as _retrieval
from skillbank.bench import sandbox as _sandbox
from skillbank.bench import store as _store
from skillbank.bench import world as _world
from skillbank.bench import llm as _llm

app = typer.Typer(no_args_is_help=True)
app.command("store", help="Store latency and throughput (put, get-by-alias, list).")(_store.command)
app.command("sandbox", help="Sandbox execution time vs in-process exec and smolagents.")(_sandbox.command)
app.command("world", help="Apps-world API call latency, reset, grading, expert throughput.")(_world.command)
app.command("retrieval", help="Top-k retrieval latency over 1k/10k/100k skills per mode.")(_retrieval.command)
app.command("llm", help="Local model prefill/generation tokens per second, batch 1/4/8, base and adapter.")(_llm.command)
