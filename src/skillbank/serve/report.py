"""Run reports: the figures of one run (or two, compared), as PNGs and one HTML file.

`run_figures` draws with matplotlib (the Agg backend: no display needed) and returns
PNG bytes; `render_report` embeds them as data URIs so the report is one
self-contained file to mail or attach. The dashboard's run page shows the same figures.

Figures: TGC and SGC per scenario; steps and tokens per task; skill creation and use
across the run (cumulative, in task order); with two runs (e.g. with and without
skills) the same side by side; and a training run's reward curve when its run directory
holds ``metrics.jsonl`` rows with a ``reward`` field.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillbank.agent.trace import load_run
from skillbank.errors import ConfigError


@dataclass(frozen=True)
class RunData:
    run_id: str
    label: str
    config: dict[str, Any]
    summary: dict[str, Any] | None
    episodes: list[dict[str, Any]]
    path: Path


def load_run_data(runs_dir: str | Path, run: str) -> RunData:
    record, episodes = load_run(runs_dir, run)
    cfg = record.config or {}
    label = f"{cfg.get('policy', '?')} · {cfg.get('split', '?')} · " + ("skills" if cfg.get("with_skills", True) else "no skills")
    return RunData(record.run_id, label, cfg, record.summary, episodes, Path(record.path))


def per_scenario(run: RunData) -> list[dict[str, Any]]:
    """One row per scenario: tasks, passed, TGC, whether all passed (SGC), steps, tokens."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in run.episodes:
        groups[str(e.get("scenario_id"))].append(e)
    rows = []
    for sid, eps in groups.items():
        passed = sum(1 for e in eps if e.get("success"))
        rows.append({
            "scenario": sid,
            "tasks": len(eps),
            "passed": passed,
            "tgc": passed / len(eps),
            "sgc": 1.0 if passed == len(eps) else 0.0,
            "steps": sum(len(e.get("turns", ())) for e in eps) / len(eps),
            "tokens": sum(int(e.get("completion_tokens", 0)) for e in eps) / len(eps),
        })
    return rows


def _uses(e: dict[str, Any]) -> tuple[int, int]:
    created = used = 0
    for turn in e.get("turns", ()):
        for op in turn.get("operations", ()):
            kind = op.get("kind") if isinstance(op, dict) else None
            created += kind == "create"
            used += kind == "use"
    return created, used


def _training_rewards(run: RunData) -> list[tuple[int, float]]:
    path = run.path / "metrics.jsonl"
    if not path.is_file():
        return []
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("reward"), (int, float)):
            out.append((int(row.get("step", i)), float(row["reward"])))
    return out


def run_figures(runs: list[RunData]) -> dict[str, bytes]:
    """PNG figures for one run, or two side by side; keys are stable names."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("reports need matplotlib: pip install 'skillbank[web]'") from exc

    figs: dict[str, bytes] = {}

    def save(name: str, fig: Any) -> None:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=90)
        plt.close(fig)
        figs[name] = buf.getvalue()

    # TGC / SGC per scenario
    scen = [per_scenario(r) for r in runs]
    names = sorted({row["scenario"] for rows in scen for row in rows})
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(names) + 2), 3.6))
    width = 0.8 / (2 * len(runs))
    for k, (r, rows) in enumerate(zip(runs, scen)):
        by = {row["scenario"]: row for row in rows}
        xs = range(len(names))
        ax.bar([x + (2 * k) * width for x in xs], [by.get(n, {}).get("tgc", 0) * 100 for n in names], width,
               label=f"TGC · {r.label}")
        ax.bar([x + (2 * k + 1) * width for x in xs], [by.get(n, {}).get("sgc", 0) * 100 for n in names], width,
               label=f"SGC · {r.label}", alpha=0.6)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(names))], names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.set_title("TGC and SGC per scenario")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save("scenarios", fig)

    # steps and tokens per task
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4))
    for r in runs:
        a1.plot([len(e.get("turns", ())) for e in r.episodes], marker=".", label=r.label)
        a2.plot([int(e.get("completion_tokens", 0)) for e in r.episodes], marker=".", label=r.label)
    a1.set_title("steps per task")
    a2.set_title("generated tokens per task")
    for a in (a1, a2):
        a.set_xlabel("task (run order)")
        a.legend(fontsize=7)
    save("steps_tokens", fig)

    # skill creation and use across the run
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for r in runs:
        c = u = 0
        cs, us = [], []
        for e in r.episodes:
            dc, du = _uses(e)
            c, u = c + dc, u + du
            cs.append(c)
            us.append(u)
        ax.plot(cs, label=f"created · {r.label}")
        ax.plot(us, linestyle="--", label=f"used · {r.label}")
    ax.set_xlabel("task (run order)")
    ax.set_ylabel("cumulative")
    ax.set_title("skills created and used")
    ax.legend(fontsize=7)
    save("skills", fig)

    for r in runs:
        rewards = _training_rewards(r)
        if rewards:
            fig, ax = plt.subplots(figsize=(6, 3.4))
            ax.plot([s for s, _ in rewards], [v for _, v in rewards], marker=".")
            ax.set_xlabel("step")
            ax.set_ylabel("mean reward")
            ax.set_title(f"reward curve · {r.run_id}")
            save(f"reward_{r.run_id}", fig)
    return figs


def _pct(x: Any) -> str:
    return "" if x is None else f"{100 * float(x):.1f}%"


def summary_rows(runs: list[RunData]) -> list[dict[str, str]]:
    rows = []
    for r in runs:
        s = r.summary or {}
        rows.append({
            "run": r.run_id, "label": r.label, "tasks": str(len(r.episodes)), "TGC": _pct(s.get("tgc")),
            "SGC": _pct(s.get("sgc")),
            "steps": "" if s.get("mean_steps") is None else f"{s['mean_steps']:.2f}",
            "tokens": "" if s.get("mean_tokens") is None else f"{s['mean_tokens']:.0f}",
        })
    return rows


def render_report(runs: list[RunData]) -> str:
    """One self-contained HTML page (figures embedded as PNG data URIs)."""
    if not runs:
        raise ConfigError("a report needs at least one run")
    figs = run_figures(runs)
    e = html.escape
    head = "".join(f"<th>{e(k)}</th>" for k in ("run", "label", "tasks", "TGC", "SGC", "steps", "tokens"))
    body = "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row.values()) + "</tr>" for row in summary_rows(runs))
    scen_tables = []
    for r in runs:
        rows = "".join(
            f"<tr><td>{e(x['scenario'])}</td><td>{x['passed']}/{x['tasks']}</td><td>{_pct(x['tgc'])}</td>"
            f"<td>{'yes' if x['sgc'] else 'no'}</td><td>{x['steps']:.2f}</td><td>{x['tokens']:.0f}</td></tr>"
            for x in per_scenario(r)
        )
        scen_tables.append(
            f"<h3>{e(r.run_id)} · {e(r.label)}</h3><table><tr><th>scenario</th><th>passed</th><th>TGC</th>"
            f"<th>all passed</th><th>steps</th><th>tokens</th></tr>{rows}</table>"
        )
    images = "".join(
        f'<figure><img alt="{e(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"></figure>'
        for name, png in figs.items()
    )
    title = "skillbank report · " + " vs ".join(r.run_id for r in runs)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title><style>{REPORT_CSS}</style></head><body>"
        f"<h1>{e(title)}</h1><table><tr>{head}</tr>{body}</table>{images}<h2>Per scenario</h2>{''.join(scen_tables)}"
        "</body></html>"
    )


REPORT_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
    "th{background:#f3f3f3}img{max-width:100%}figure{margin:1em 0}"
)
