"""Run reports: the figures of one run (or two, compared), as PNGs and one HTML file.

`run_figures` draws with matplotlib (the Agg backend: no display needed) and returns
PNG bytes; `render_report` embeds them as data URIs so the report is one
self-contained file to mail or attach. The dashboard's run page shows the same figures.

Sections: the summary; governance (from the summary's ``governance`` block: counts,
each version's evaluation, red-team, gate and where it ended, the alias moves and why);
the failed tasks with the grade's failed checks; the figures; the per-scenario tables.

Figures: TGC per scenario and mean steps and tokens per scenario (horizontal bars,
scenario names on the axis, in the tables' order, a 0% bar drawn as a hatched stub);
skill creation and use across the run (cumulative, each scenario named under its
tasks); with two runs (e.g. with and without skills) the same side by side; and a
training run's reward curve when its run directory holds ``metrics.jsonl`` rows with a
``reward`` field. Text is 10-12 pt, legends sit outside the axes, and figures are saved
with a tight bounding box so nothing is clipped.
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


FONT = 11  # points: the figures' text, ticks and legends alike
STUB = 1.5  # a 0% bar's drawn length, in percent points, so a reader sees a bar that is empty
BAR_IN = 0.32  # inches per bar on a category axis


def scenario_order(runs: list[RunData]) -> list[str]:
    """Scenario names in the order the per-scenario tables list them: the order each was
    first played, the first run's scenarios first."""
    names: list[str] = []
    for r in runs:
        for row in per_scenario(r):
            if row["scenario"] not in names:
                names.append(row["scenario"])
    return names


def shown_length(value: float) -> float:
    """How long a bar of `value` percent is drawn: 0% is a visible stub."""
    return max(value, STUB)


def _plt() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("reports need matplotlib: pip install 'skillbank[web]'") from exc
    return plt


def _style(ax: Any) -> None:
    ax.tick_params(labelsize=FONT - 1)
    ax.title.set_fontsize(FONT + 1)
    ax.xaxis.label.set_fontsize(FONT)
    ax.yaxis.label.set_fontsize(FONT)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def _legend_outside(ax: Any, labels: list[str] | None = None) -> None:
    """The legend to the right of the plot, never over the data; with `labels`, one
    plain swatch per series in its colour (a hatched 0% stub must not stand for it)."""
    where = {"fontsize": FONT - 1, "loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0,
             "frameon": False}
    if labels is None:
        ax.legend(**where)
        return
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=f"C{k}", label=label) for k, label in enumerate(labels)], **where)


def _category_axes(plt: Any, names: list[str], bars_per_name: int, panels: int = 1) -> tuple[Any, Any]:
    # About 1000 px at the PNG's 100 dpi for two panels, so a page shows it unscaled.
    height = max(2.4, BAR_IN * len(names) * max(1, bars_per_name) + 1.3)
    width = (6.0 if panels == 1 else 3.6 * panels) + 0.075 * max((len(n) for n in names), default=10) \
        + (2.2 if bars_per_name > 1 else 0)
    fig, axes = plt.subplots(1, panels, figsize=(width, height), sharey=True, squeeze=False)
    return fig, list(axes[0])


def _hbars(ax: Any, names: list[str], series: list[tuple[str, list[float], list[str]]], *, stub: bool) -> None:
    """Horizontal bars, one group per name (first name at the top), one bar per series;
    each bar labelled with its text."""
    n = max(1, len(series))
    height = 0.8 / n
    for k, (label, values, texts) in enumerate(series):
        ys = [i + (k - (n - 1) / 2) * height for i in range(len(names))]
        lengths = [shown_length(v) if stub else v for v in values]
        bars = ax.barh(ys, lengths, height * 0.92, label=label, color=f"C{k}")
        for bar, v in zip(bars, values):
            if stub and v == 0:  # hatched in the run's colour: empty, and whose
                bar.set_hatch("////")
                bar.set_edgecolor(f"C{k}")
                bar.set_facecolor("white")
        top = max([*lengths, 1.0])
        for y, length, text in zip(ys, lengths, texts):
            ax.text(length + top * 0.01, y, text, va="center", fontsize=FONT - 2)
    ax.set_yticks(range(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)  # the table's order, top to bottom


def _fmt(v: float) -> str:
    return f"{v:.0f}" if v >= 10 else f"{v:.2g}"


def _scenario_figure(plt: Any, runs: list[RunData]) -> Any:
    names = scenario_order(runs)
    fig, (ax,) = _category_axes(plt, names, len(runs))
    series = []
    for r in runs:
        by = {row["scenario"]: row for row in per_scenario(r)}
        values = [100 * by[n]["tgc"] if n in by else 0.0 for n in names]
        texts = [(f"{by[n]['passed']}/{by[n]['tasks']}" + (" all" if by[n]["sgc"] else "")) if n in by else "not run"
                 for n in names]
        series.append((r.label if len(runs) > 1 else "TGC", values, texts))
    _hbars(ax, names, series, stub=True)
    ax.set_xlim(0, 118)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("tasks passed in the scenario (TGC, %); 'all': the scenario passed (SGC)")
    ax.set_title("TGC per scenario")
    _style(ax)
    if len(runs) > 1:
        _legend_outside(ax, [label for label, _, _ in series])
    return fig


def _steps_tokens_figure(plt: Any, runs: list[RunData]) -> Any:
    names = scenario_order(runs)
    fig, (a1, a2) = _category_axes(plt, names, len(runs), panels=2)
    for ax, key, title in ((a1, "steps", "mean steps per task"), (a2, "tokens", "mean generated tokens per task")):
        series = []
        for r in runs:
            by = {row["scenario"]: row for row in per_scenario(r)}
            values = [float(by[n][key]) if n in by else 0.0 for n in names]
            series.append((r.label, values, [_fmt(v) if n in by else "" for v, n in zip(values, names)]))
        _hbars(ax, names, series, stub=False)
        ax.set_xlim(0, max([v for _, vs, _ in series for v in vs] + [1.0]) * 1.18)
        ax.set_title(title)
        _style(ax)
    a1.set_xlabel("steps (code blocks run)")
    a2.set_xlabel("tokens the policy generated")
    if len(runs) > 1:
        _legend_outside(a2, [r.label for r in runs])
    return fig


def _skills_figure(plt: Any, runs: list[RunData]) -> Any:
    fig, ax = plt.subplots(figsize=(max(9.5, 3.0 + 0.1 * max(len(r.episodes) for r in runs)), 4.2))
    for k, r in enumerate(runs):
        c = u = 0
        cs, us = [], []
        for e in r.episodes:
            dc, du = _uses(e)
            c, u = c + dc, u + du
            cs.append(c)
            us.append(u)
        xs = list(range(1, len(cs) + 1))
        suffix = f" · {r.label}" if len(runs) > 1 else ""
        ax.step(xs, cs, where="mid", color=f"C{k}", label=f"skills created{suffix}")
        ax.step(xs, us, where="mid", color=f"C{k}", linestyle="--", label=f"skill uses{suffix}")
    # The x axis names the scenarios (the first run's order): each name under the middle
    # of its tasks, thin lines between scenarios.
    spans: list[list[Any]] = []  # [scenario, first task, last task], 1-based
    for i, e in enumerate(runs[0].episodes, start=1):
        sid = str(e.get("scenario_id"))
        if spans and spans[-1][0] == sid:
            spans[-1][2] = i
        else:
            spans.append([sid, i, i])
    # Slanted names while they fit side by side, upright beyond (more would overlap).
    upright = len(spans) > 10
    ax.set_xticks([(a + b) / 2 for _, a, b in spans], [sid for sid, _, _ in spans], rotation=90 if upright else 35,
                  ha="center" if upright else "right", rotation_mode="default" if upright else "anchor")
    for _, a, _ in spans[1:]:
        ax.axvline(a - 0.5, color="#bbb", linewidth=0.8, zorder=0)
    ax.set_xlim(0.5, max(len(runs[0].episodes), 1) + 0.5)
    ax.set_xlabel(f"the run's {len(runs[0].episodes)} tasks in order, grouped by scenario")
    ax.set_ylabel("cumulative count")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("skills created and used across the run")
    _style(ax)
    ax.grid(axis="y", alpha=0.3)
    _legend_outside(ax)
    return fig


def _reward_figure(plt: Any, run: RunData, rewards: list[tuple[int, float]]) -> Any:
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot([s for s, _ in rewards], [v for _, v in rewards], marker=".")
    ax.set_xlabel("training step")
    ax.set_ylabel("mean reward")
    ax.set_title(f"reward curve · {run.run_id}")
    _style(ax)
    ax.grid(axis="y", alpha=0.3)
    return fig


def figure_names(runs: list[RunData]) -> list[str]:
    """The names `run_figures` would draw, without drawing them."""
    return ["scenarios", "steps_tokens", "skills"] + [f"reward_{r.run_id}" for r in runs if _training_rewards(r)]


def build_figures(runs: list[RunData], only: str | None = None) -> dict[str, Any]:
    """The matplotlib figures (all, or the one named `only`), before they are saved."""
    plt = _plt()
    plt.rcParams.update({"font.size": FONT})
    makers: dict[str, Any] = {
        "scenarios": lambda: _scenario_figure(plt, runs),
        "steps_tokens": lambda: _steps_tokens_figure(plt, runs),
        "skills": lambda: _skills_figure(plt, runs),
    }
    for r in runs:
        rewards = _training_rewards(r)
        if rewards:
            makers[f"reward_{r.run_id}"] = lambda r=r, rewards=rewards: _reward_figure(plt, r, rewards)
    return {name: make() for name, make in makers.items() if only is None or name == only}


def run_figures(runs: list[RunData], only: str | None = None) -> dict[str, bytes]:
    """PNG figures for one run, or two side by side; keys are stable names. Saved with a
    tight bounding box, so no label or legend is cut off."""
    plt = _plt()
    figs: dict[str, bytes] = {}
    for name, fig in build_figures(runs, only).items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", pad_inches=0.15)
        plt.close(fig)
        figs[name] = buf.getvalue()
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


def failed_tasks(run: RunData) -> list[dict[str, Any]]:
    """The run's failed tasks in run order, each with the reasons its grade gives (the
    grade's failed tests, else how the episode stopped) and any save errors."""
    out = []
    for e in run.episodes:
        if e.get("success"):
            continue
        reasons = [f"{t.get('name')}: {t.get('message')}" for t in e.get("grade_tests") or ()
                   if isinstance(t, dict) and not t.get("passed")]
        stop = str(e.get("stop_reason") or "")
        if not reasons:
            reasons = [f"not graded a success (stopped: {stop or 'unknown'})"]
        out.append({
            "task": str(e.get("task_id")), "scenario": str(e.get("scenario_id")), "stop": stop,
            "self_reported": str(e.get("self_reported") or ""), "steps": len(e.get("turns", ())),
            "reasons": reasons[:10], "save_errors": [str(x) for x in (e.get("save_errors") or ())][:5],
        })
    return out


_COUNTS = (("evaluated", "evaluated"), ("redteamed", "red-teamed"), ("promoted", "promoted"),
           ("canaried", "canaried"), ("rolled_back", "rolled back"), ("quarantined", "quarantined"),
           ("gate_blocked", "gate checks blocked"), ("regressions_blocked", "blocked by a regression"),
           ("conflicts", "conflicts"), ("errors", "errors"))
_ENDED = {"promoted": "promoted", "canary": "canary", "quarantined": "quarantined", "retired": "rolled back / retired",
          "candidate": "candidate"}


def governance_view(run: RunData) -> dict[str, Any]:
    """What governance did beside the run, from its summary: the counts, the alias moves
    with their reasons, and each version's evaluation, red-team, gate and outcome."""
    gov = (run.summary or {}).get("governance")
    if run.summary is None:
        return {"note": "the run has no summary (it failed or is still running): no governance record", "counts": [],
                "moves": [], "versions": []}
    if not isinstance(gov, dict):
        why = "the run played without skills" if not run.config.get("with_skills", True) else "--governance off"
        return {"note": f"governance did not run beside this run ({why})", "counts": [], "moves": [], "versions": []}
    mode = str(gov.get("mode", "?"))
    note = f"mode {mode}" + (f" · policy {gov['policy']}" if gov.get("policy") else "")
    if gov.get("note"):
        note += f" · {gov['note']}"
    counts = [(label, int(gov[key])) for key, label in _COUNTS if isinstance(gov.get(key), int)]
    moves = [{"action": str(d.get("action", "")).replace("_", " "), "skill": str(d.get("name", "")),
              "to": f"v{d.get('version')}", "from": "" if d.get("from_version") is None else f"v{d['from_version']}",
              "reason": str(d.get("reason") or "")}
             for d in gov.get("decisions") or () if isinstance(d, dict)]
    why_moved: dict[str, str] = {}  # each version's latest move, in words
    for d in gov.get("decisions") or ():
        if not isinstance(d, dict):
            continue
        name, reason = d.get("name"), d.get("reason")
        if d.get("action") == "rolled_back":
            if d.get("from_version") is not None:
                why_moved[f"{name}@{d['from_version']}"] = f"rolled back: {reason}"
            why_moved[f"{name}@{d.get('version')}"] = f"promoted again when v{d.get('from_version')} was rolled back"
        else:
            why_moved[f"{name}@{d.get('version')}"] = f"{d.get('action')}: {reason}"
    versions = []
    for v in gov.get("versions") or ():
        if not isinstance(v, dict):
            continue
        ref, status = str(v.get("ref")), str(v.get("status", ""))
        blocked, checks = int(v.get("gate_blocked") or 0), int(v.get("gate_checks") or 0)
        if not checks:
            gate = "not checked"
        elif v.get("gate") == "passed":
            gate = f"passed on check {checks}" if checks > 1 else "passed"
        else:
            gate = f"blocked ({blocked} of {checks} checks)" if checks > 1 else "blocked"
        redteam = str(v.get("redteam") or "")
        if redteam.startswith("0 finding"):
            redteam = "no finding"
        if v.get("error"):
            why = f"evaluation failed: {v['error']}"
        elif status == "quarantined":
            why = str(v.get("quarantine_reason") or "quarantined")
        elif ref in why_moved:
            why = why_moved[ref]
        elif v.get("gate") == "blocked":
            why = "gate blocked: " + "; ".join(v.get("gate_reasons") or ())
        else:
            why = ""
        versions.append({"ref": ref, "ended": _ENDED.get(status, status), "status": status,
                         "evaluation": str(v.get("evaluation") or "not evaluated in this run"),
                         "redteam": redteam, "gate": gate, "why": why})
    # What needs a person's eye first: quarantined, rolled back, blocked; then the rest.
    first = {"quarantined": 0, "retired": 1, "candidate": 2, "canary": 3, "promoted": 4}
    versions.sort(key=lambda v: first.get(v["status"], 2))
    return {"note": note, "counts": counts, "moves": moves, "versions": versions}


def governance_html(run: RunData) -> str:
    """The run's governance section (escaped HTML), shared by the report and the run page."""
    e = html.escape
    g = governance_view(run)
    parts = [f'<section class="governance-run"><p class="gov-note">{e(g["note"])}</p>']
    if g["counts"]:
        parts.append('<ul class="gov-counts">' + "".join(f"<li><b>{n}</b> {e(label)}</li>" for label, n in g["counts"])
                     + "</ul>")
    if g["versions"]:
        parts.append('<h4>Versions this run saved or used (quarantined, rolled back and blocked first)</h4><table class="gov-versions"><tr><th>version</th>'
                     "<th>ended as</th><th>evaluation</th><th>red-team</th><th>gate</th><th>why</th></tr>")
        parts.extend(f'<tr class="gov-{e(v["status"])}"><td>{e(v["ref"])}</td><td>{e(v["ended"])}</td>'
                     f'<td>{e(v["evaluation"])}</td><td>{e(v["redteam"])}</td><td>{e(v["gate"])}</td>'
                     f'<td>{e(v["why"])}</td></tr>' for v in g["versions"])
        parts.append("</table>")
    if g["moves"]:
        parts.append('<h4>Alias moves</h4><table class="gov-moves"><tr><th>move</th><th>skill</th><th>to</th>'
                     "<th>from</th><th>why</th></tr>")
        parts.extend(f'<tr><td>{e(m["action"])}</td><td>{e(m["skill"])}</td><td>{e(m["to"])}</td>'
                     f'<td>{e(m["from"])}</td><td>{e(m["reason"])}</td></tr>' for m in g["moves"])
        parts.append("</table>")
    elif g["counts"]:
        parts.append("<p>no alias moved in this run</p>")
    return "".join(parts) + "</section>"


def failures_html(run: RunData) -> str:
    """The run's failed tasks with their reasons (escaped HTML)."""
    e = html.escape
    rows = failed_tasks(run)
    if not rows:
        return f"<p class=\"no-failures\">all {len(run.episodes)} task(s) passed</p>"
    body = "".join(
        f'<tr><td>{e(f["task"])}</td><td>{e(f["scenario"])}</td><td>{e(f["stop"])}</td><td>{f["steps"]}</td><td><ul>'
        + "".join(f"<li>{e(x)}</li>" for x in f["reasons"])
        + "".join(f"<li>save error: {e(x)}</li>" for x in f["save_errors"]) + "</ul></td></tr>"
        for f in rows
    )
    return (f'<p>{len(rows)} of {len(run.episodes)} task(s) failed</p><table class="failed-tasks"><tr><th>task</th>'
            f"<th>scenario</th><th>stopped</th><th>steps</th><th>why (the grade's failed checks)</th></tr>{body}</table>")


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
    several = len(runs) > 1

    def per_run(render: Any) -> str:
        return "".join((f'<h3 class="run-head">{e(r.run_id)} · {e(r.label)}</h3>' if several else "") + render(r)
                       for r in runs)

    title = "skillbank report · " + " vs ".join(r.run_id for r in runs)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title><style>{REPORT_CSS}</style></head><body>"
        f"<h1>{e(title)}</h1><table><tr>{head}</tr>{body}</table>"
        f'<section id="governance"><h2>Governance</h2>{per_run(governance_html)}</section>'
        f'<section id="failed"><h2>Failed tasks</h2>{per_run(failures_html)}</section>'
        f"<h2>Figures</h2>{images}<h2>Per scenario</h2>{''.join(scen_tables)}"
        "</body></html>"
    )


REPORT_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
    "th{background:#f3f3f3}img{max-width:100%}figure{margin:1em 0}"
    ".gov-counts{display:flex;flex-wrap:wrap;gap:.4em 1.4em;list-style:none;padding:0}"
    ".gov-quarantined td:nth-child(2){color:#b3261e;font-weight:600}.gov-candidate td:nth-child(2){color:#b06000}"
    ".gov-retired td:nth-child(2){color:#b3261e}.gov-promoted td:nth-child(2){color:#137333;font-weight:600}"
    "td ul{margin:0;padding-left:1.1em}"
)
