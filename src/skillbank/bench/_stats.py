"""The benchmarks' one convention.

Every `skillbank bench …` command prints a Rich summary by default and one JSON object
with ``--json``. Every time is in milliseconds, in a key ending ``_ms``; a timed figure
is a median with its range (min, p95, max) and the number of samples, and speed claims
are ratios against a baseline measured in the same run (the machines are shared and
noisy).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from skillbank.console import console, table


def timing_ms(samples_s: Iterable[float], digits: int = 4) -> dict[str, Any]:
    """Median, min, p95, max (ms) and n of samples measured in seconds."""
    ordered = sorted(samples_s)
    if not ordered:
        return {"median_ms": None, "min_ms": None, "p95_ms": None, "max_ms": None, "n": 0}
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered) * 1e3, digits),
        "min_ms": round(ordered[0] * 1e3, digits),
        "p95_ms": round(p95 * 1e3, digits),
        "max_ms": round(ordered[-1] * 1e3, digits),
        "n": len(ordered),
    }


def ms(seconds: float | None, digits: int = 3) -> float | None:
    """A single duration in seconds, as milliseconds."""
    return None if seconds is None else round(seconds * 1e3, digits)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def render_timings(title: str, rows: Iterable[tuple[str, dict[str, Any] | None, str]]) -> None:
    """One table of timed figures: label, median and range in ms, n, and a note
    (ratios, targets)."""
    t = table("figure", "median ms", "p95", "min-max", "n", "note", title=title, keep=("figure", "min-max"),
              flex=("note",))
    for label, timing, note in rows:
        if timing is None:
            t.add_row(label, "", "", "", "", note)
            continue
        spread = f"{_fmt(timing.get('min_ms'))}-{_fmt(timing.get('max_ms'))}"
        t.add_row(label, _fmt(timing.get("median_ms")), _fmt(timing.get("p95_ms")), spread, _fmt(timing.get("n")), note)
    console.print(t)
