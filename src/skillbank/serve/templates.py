"""The dashboard's Jinja2 templates (server-rendered; no build step, no JavaScript needed).

Kept as strings in one module so the package needs no data files; autoescaping is on
for every template, so skill names, sources and run data render as text.
"""

from __future__ import annotations

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{% block title %}skillbank{% endblock %} · skillbank</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#20232a;color:#fff;padding:.6em 1.5em;display:flex;gap:1.5em;align-items:center}
header a{color:#cde;text-decoration:none}header .who{margin-left:auto;font-size:.85em;color:#aab}
main{padding:1em 1.5em;max-width:1200px}
table{border-collapse:collapse;margin:.6em 0 1.2em;background:#fff}
td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top;font-size:.92em}
th{background:#f0f0f3}
pre{background:#fff;border:1px solid #ddd;padding:.6em;overflow:auto;font-size:.85em}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{background:#fff;border:1px solid #ddd;padding:.6em 1em;min-width:8em}
.card b{font-size:1.6em;display:block}
.status-promoted{color:#137333;font-weight:600}.status-canary{color:#b06000;font-weight:600}
.status-quarantined{color:#b3261e;font-weight:600}.status-candidate{color:#555}
.add{color:#137333}.del{color:#b3261e}
form.inline{display:inline}button{cursor:pointer}
.error{color:#b3261e}
img{max-width:100%}figure{margin:1em 0}
header{flex-wrap:wrap}main{box-sizing:border-box;max-width:min(1200px,100%);overflow-wrap:break-word}
table{display:block;max-width:100%;overflow-x:auto}td,th{overflow-wrap:break-word}
pre{max-width:100%;box-sizing:border-box}code{overflow-wrap:anywhere}
details summary{cursor:pointer}details[open] summary{display:none}.dim{color:#666;font-size:.9em}
.meter{display:inline-block;width:12em;height:.7em;border:1px solid #aaa;background:linear-gradient(90deg,#d5ecd9,#fff 50%,#f6d3d1);position:relative;vertical-align:middle}
.gov-counts{display:flex;flex-wrap:wrap;gap:.4em 1.4em;list-style:none;padding:0}td ul{margin:0;padding-left:1.1em}
.gov-quarantined td:nth-child(2){color:#b3261e;font-weight:600}.gov-candidate td:nth-child(2){color:#b06000}.gov-retired td:nth-child(2){color:#b3261e}.gov-promoted td:nth-child(2){color:#137333;font-weight:600}
.meter i{position:absolute;top:-3px;width:3px;height:calc(100% + 6px);background:#20232a}
</style></head><body>
<header><strong>skillbank</strong>
{% if token %}<a href="/">overview</a><a href="/runs">runs</a><a href="/canaries">canaries</a>
<span class="who" id="who">namespace {{ token.namespace }} · role {{ token.role }} ·
<form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="{{ logout_csrf }}">
<button type="submit" id="logout">log out</button></form></span>{% endif %}
</header>
<main>{% block main %}{% endblock %}</main></body></html>"""

LOGIN = """{% extends "base.html" %}{% block title %}log in{% endblock %}{% block main %}
<h1>Log in</h1>
<p>Paste an API token (from <code>skillbank tokens create</code>).</p>
{% if error %}<p class="error" id="error">{{ error }}</p>{% endif %}
<form method="post" action="/login"><input type="password" name="token" size="60" autofocus>
<input type="hidden" name="csrf" value="{{ login_csrf }}">
<button type="submit" id="login">log in</button></form>
{% endblock %}"""

OVERVIEW = """{% extends "base.html" %}{% block title %}overview{% endblock %}{% block main %}
<h1>Library · {{ token.namespace }}</h1>
<div class="cards" id="by-status">
{% for status, n in by_status %}<div class="card"><b>{{ n }}</b><span class="status-{{ status }}">{{ status }}</span></div>{% endfor %}
<div class="card"><b>{{ n_skills }}</b>skills</div><div class="card"><b>{{ n_versions }}</b>versions</div>
</div>
<h2>Skills</h2>
<table id="skills"><tr><th>skill</th><th>latest</th><th>status</th><th>promoted</th><th>signature</th><th>calls</th></tr>
{% for s in skills %}<tr><td><a href="/skills/{{ s.name | urlencode }}">{{ s.name }}</a></td><td>v{{ s.version }}</td>
<td class="status-{{ s.status }}">{{ s.status }}</td><td>{{ s.promoted or "" }}</td><td><code>{{ s.signature }}</code></td>
<td>{{ s.calls }}</td></tr>{% else %}<tr><td colspan="6">no skills yet</td></tr>{% endfor %}</table>
{% if page_no > 1 or has_next %}<p id="pages">page {{ page_no }}{% if page_no > 1 %} · <a href="/?page={{ page_no - 1 }}">previous</a>{% endif %}
{% if has_next %} · <a href="/?page={{ page_no + 1 }}" id="next-page">next</a>{% endif %}</p>{% endif %}
<h2>Most used</h2>
<table id="most-used"><tr><th>version</th><th>calls</th><th>ran without error</th><th>mean latency</th></tr>
{% for m in most_used %}<tr><td><a href="/skills/{{ m.name | urlencode }}">{{ m.ref }}</a></td><td>{{ m.calls }}</td>
<td>{{ m.success }}</td><td>{{ m.latency }}</td></tr>{% else %}<tr><td colspan="4">no calls recorded</td></tr>{% endfor %}</table>
<h2>Recently changed</h2>
<table id="recent"><tr><th>when</th><th>event</th><th>skill</th><th>actor</th><th>reason</th></tr>
{% for e in recent %}<tr><td>{{ e.at }}</td><td>{{ e.type }}</td><td>{{ e.name or "" }}</td><td>{{ e.actor }}</td>
<td>{{ e.reason or "" }}</td></tr>{% endfor %}</table>
{% endblock %}"""

SKILL = """{% extends "base.html" %}{% block title %}{{ name }}{% endblock %}{% block main %}
{% macro fold(f) %}{% if f.short %}<details><summary>{{ f.short }}</summary>{{ f.full }}</details>{% else %}{{ f.full }}{% endif %}{% endmacro %}
<h1 id="skill-name">{{ name }}</h1>
{% if message %}<p id="message">{{ message }}</p>{% endif %}
<p>promoted: <b id="promoted-version">{{ promoted.version if promoted else "none" }}</b>
{% if canary %} · canary: <b id="canary-version">{{ canary.version }}</b>{% endif %}</p>
<h2>Versions</h2>
<table id="versions"><tr><th>version</th><th>status</th><th>created</th><th>by</th><th>task</th><th>parent</th><th>calls</th>
<th>ran without error</th><th>successful calls</th>{% if is_admin %}<th>actions</th>{% endif %}</tr>
{% for v in version_rows %}<tr id="v{{ v.version }}"><td>v{{ v.version }}</td><td class="status-{{ v.status }}">{{ v.status }}</td>
<td>{{ v.created }}</td><td>{{ v.created_by }}</td><td>{{ v.task or "" }}</td><td>{{ ("v" ~ v.parent) if v.parent else "" }}</td>
<td>{{ v.calls }}</td><td>{{ v.no_error }}</td><td class="successful">{{ v.successful }} on {{ v.distinct_tasks }} task(s)</td>
{% if is_admin %}<td>{% if not promoted or promoted.version != v.version %}
<form class="inline" method="post" action="/skills/{{ name | urlencode }}/promote">
<input type="hidden" name="version" value="{{ v.version }}"><input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="generation" value="{{ promoted.generation if promoted else '' }}">
{% if not (promoted and v.version < promoted.version) %}<input name="reason" id="reason-{{ v.version }}" placeholder="reason (needed past the gate)">{% endif %}
<button type="submit" class="{{ 'rollback' if promoted and v.version < promoted.version else 'promote' }}"
 id="{{ 'rollback' if promoted and v.version < promoted.version else 'promote' }}-{{ v.version }}">
{{ "roll back to" if promoted and v.version < promoted.version else "promote" }} v{{ v.version }}</button></form>
{% endif %}</td>{% endif %}</tr>{% endfor %}</table>
<p class="dim" id="success-meaning">A <b>successful call</b> is what the promotion gate counts: a call that ran without
error in a task that did not fail (the gate needs {{ gate_needs.min_successful_calls }} on
{{ gate_needs.min_distinct_tasks }} distinct tasks). <b>Ran without error</b> counts every call that raised nothing,
whatever its task's grade.</p>
<h2>Provenance</h2>
<table id="provenance"><tr><th>version</th><th>parent</th><th>created by</th><th>task</th><th>run</th><th>failure log behind it</th></tr>
{% for v in version_rows %}<tr><td>v{{ v.version }}</td>
<td>{% if v.parent %}<a href="?v1={{ v.parent }}&v2={{ v.version }}">{{ v.parent_ref }}</a>{% else %}none (a new skill){% endif %}</td>
<td>{{ v.created_by }}</td><td>{{ v.task or "" }}</td><td>{{ v.run or "" }}</td>
<td>{% if v.failure_log %}<pre class="failure-log">{{ v.failure_log }}</pre>{% endif %}</td></tr>{% endfor %}</table>
<h2>Diff</h2>
<form method="get"><select name="v1">{% for v in versions %}<option value="{{ v.version }}" {% if v.version == v1 %}selected{% endif %}>v{{ v.version }}</option>{% endfor %}</select>
→ <select name="v2">{% for v in versions %}<option value="{{ v.version }}" {% if v.version == v2 %}selected{% endif %}>v{{ v.version }}</option>{% endfor %}</select>
<button type="submit">diff</button></form>
<pre id="diff">{% for line in diff_lines %}<span class="{{ line.cls }}">{{ line.text }}</span>
{% else %}(choose two different versions){% endfor %}</pre>
<h2>Source of v{{ shown.version }}</h2>
<p><code>{{ shown.signature }}</code></p>
<pre id="source">{{ shown.source }}</pre>
{% if governance %}<h2>Governance (latest of each)</h2>{% endif %}
{% for g in governance %}<section class="governance" id="governance-v{{ g.version }}"><h3>v{{ g.version }}</h3>
{% if g.gate %}<p class="gate">gate checked {{ g.gate.at }}: {% if g.gate.passed %}<b>passed</b> (to {{ g.gate.target }}){% else %}<b>blocked</b>{% endif %}</p>
{% if g.gate.reasons %}<ul>{% for r in g.gate.reasons %}<li>{{ fold(r) }}</li>{% endfor %}</ul>{% endif %}{% endif %}
{% if g.evaluation %}<p class="evaluation">Evaluation {{ g.evaluation.at }}{% if g.evaluation.of > 1 %} (the latest of {{ g.evaluation.of }}){% endif %}:
<b>{{ g.evaluation.passed }}/{{ g.evaluation.cases }} cases passed</b>{% if g.evaluation.regressions %}, regressions: {{ g.evaluation.regressions | join(", ") }}{% else %}, no regression{% endif %}</p>
<table class="outcomes"><tr><th>case</th><th>kind</th><th>result</th><th>detail</th></tr>
{% for o in g.evaluation.outcomes %}<tr><td>{{ o.case }}</td><td>{{ o.kind }}</td><td>{{ "pass" if o.passed else "FAIL" }}</td><td>{{ fold(o.detail) }}</td></tr>{% endfor %}</table>{% endif %}
{% if g.redteam %}<p class="redteam">Red-team {{ g.redteam.at }}: {{ g.redteam.findings | length }} finding(s){% if g.redteam.quarantined %}, <b>quarantined</b>{% endif %}</p>
{% if g.redteam.findings %}<table class="findings"><tr><th>severity</th><th>kind</th><th>message</th></tr>
{% for f in g.redteam.findings %}<tr><td>{{ f.severity }}</td><td>{{ f.kind }}</td><td>{{ fold(f.message) }}</td></tr>{% endfor %}</table>{% endif %}{% endif %}
</section>{% endfor %}
<h2>Events</h2>
{% if event_view.hidden %}<p id="events-hidden" class="dim">not shown: {% for t, n in event_view.hidden %}{{ n }} {{ t }}{% if not loop.last %}, {% endif %}{% endfor %}
(per-call evidence) · <a href="?events=all#events" id="show-all-events">show every event</a></p>
{% elif event_view.show_all %}<p class="dim"><a href="?" id="hide-call-events">fold the per-call events</a></p>{% endif %}
<table id="events"><tr><th>when</th><th>event</th><th>version</th><th>actor</th><th>what</th></tr>
{% for e in event_view.rows %}<tr><td>{{ e.at }}</td><td>{{ e.type }}</td><td>{{ e.version or "" }}</td><td>{{ e.actor }}</td>
<td>{{ fold(e.reason) }}</td></tr>{% endfor %}</table>
{% endblock %}"""

RUNS = """{% extends "base.html" %}{% block title %}runs{% endblock %}{% block main %}
<h1>Runs</h1>
<table id="runs"><tr><th>run</th><th>policy</th><th>split</th><th>skills</th><th>tasks</th><th>TGC</th><th>SGC</th>
<th>steps</th><th>tokens</th></tr>
{% for r in runs %}<tr><td><a href="/runs/{{ r.run_id }}">{{ r.run_id }}</a></td><td>{{ r.policy }}</td><td>{{ r.split }}</td>
<td>{{ r.skills }}</td><td>{{ r.tasks }}</td><td>{{ r.tgc }}</td><td>{{ r.sgc }}</td><td>{{ r.steps }}</td><td>{{ r.tokens }}</td></tr>
{% else %}<tr><td colspan="9">no runs</td></tr>{% endfor %}</table>
{% if page_no > 1 or has_next %}<p id="pages">page {{ page_no }}{% if page_no > 1 %} · <a href="/runs?page={{ page_no - 1 }}">previous</a>{% endif %}
{% if has_next %} · <a href="/runs?page={{ page_no + 1 }}" id="next-page">next</a>{% endif %}</p>{% endif %}
{% endblock %}"""

RUN = """{% extends "base.html" %}{% block title %}run {{ run.run_id }}{% endblock %}{% block main %}
<h1>Run {{ run.run_id }}</h1><p>{{ run.label }}</p>
<div class="cards">{% for k, v in cards %}<div class="card"><b>{{ v }}</b>{{ k }}</div>{% endfor %}</div>
<section id="governance"><h2>Governance</h2>{{ governance }}</section>
<section id="failed"><h2>Failed tasks</h2>{{ failures }}</section>
<h2>Figures</h2>
{% for name in figures %}<figure><img alt="{{ name }}" src="/runs/{{ run.run_id }}/figures/{{ name }}.png"></figure>{% endfor %}
<h2>Per scenario</h2>
<table id="scenarios"><tr><th>scenario</th><th>passed</th><th>TGC</th><th>all passed</th><th>steps</th><th>tokens</th></tr>
{% for s in scenarios %}<tr><td>{{ s.scenario }}</td><td>{{ s.passed }}/{{ s.tasks }}</td><td>{{ "%.0f" % (100 * s.tgc) }}%</td>
<td>{{ "yes" if s.sgc else "no" }}</td><td>{{ "%.2f" % s.steps }}</td><td>{{ "%.0f" % s.tokens }}</td></tr>{% endfor %}</table>
{% endblock %}"""

CANARIES = """{% extends "base.html" %}{% block title %}canaries{% endblock %}{% block main %}
<h1>Canaries</h1>
<p class="dim">Governance decides a canary with a sequential test (SPRT) on which version each failure came from:
the log-likelihood ratio (LLR) starts at 0, rises with the canary's failures and falls with the incumbent's; at the
upper threshold the canary is rolled back, at the lower one (after its minimum calls) it is promoted.</p>
<table id="canaries"><tr><th>skill</th><th>canary</th><th>promoted</th><th>kind</th><th>canary calls (failures)</th>
<th>promoted calls (failures)</th><th>decision state</th></tr>
{% for c in canaries %}<tr class="canary-{{ c.kind | replace(' ', '-') }}"><td><a href="/skills/{{ c.name | urlencode }}">{{ c.name }}</a></td><td>v{{ c.canary }}</td>
<td>{{ ("v" ~ c.promoted) if c.promoted else "none" }}</td>
<td class="kind">{{ c.kind }}{% if c.why %}<br><span class="dim">{{ c.why }}</span>{% endif %}</td>
{% if c.llr is defined %}<td>{{ c.canary_calls }} ({{ c.canary_failures }})</td><td>{{ c.incumbent_calls }} ({{ c.incumbent_failures }})</td>
<td class="state">LLR {{ c.llr }}: promote at &le; {{ c.lower }}, roll back at &ge; {{ c.upper }}
<span class="meter" title="promote ← LLR → roll back"><i style="left:{{ '%.0f' % (100 * c.position) }}%"></i></span><br>
{% if c.action == "continue" %}rolled back after <b>{{ c.to_rollback }}</b> more canary failure(s) (with no failure of the promoted version);
promoted after <b>{{ c.to_promote }}</b> more promoted-version failure(s){% if c.calls_to_min %} and {{ c.calls_to_min }} more canary call(s) (minimum {{ c.min_calls }}){% endif %},
or after {{ c.calls_to_max }} more canary call(s) without a rollback{% else %}next decision: <b>{{ c.action }}</b> ({{ c.reason }}){% endif %}</td>
{% else %}<td colspan="3"></td>{% endif %}</tr>
{% else %}<tr><td colspan="7">no canaries in this namespace</td></tr>{% endfor %}</table>
{% endblock %}"""

TEMPLATES = {
    "base.html": BASE,
    "login.html": LOGIN,
    "overview.html": OVERVIEW,
    "skill.html": SKILL,
    "runs.html": RUNS,
    "run.html": RUN,
    "canaries.html": CANARIES,
}
