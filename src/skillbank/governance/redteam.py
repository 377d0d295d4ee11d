"""Red-teaming a skill version: a static scan, robustness fuzzing and a side-effect audit.

- **Static scan** (the source's AST, nothing runs): process, network and file access;
  attribute walks toward builtins and interpreter internals; dynamic imports and
  ``exec``/``eval``; secrets written into the source; loops over paginated APIs with no
  way out, and paginated reads that stop after the first page.
- **Fuzzing** (hypothesis, driven by the signature: empty, None, huge, unicode,
  negative, wrong types): each input is one call in the sandbox against a fresh world.
  A hang (the sandbox's wall clock killed it) is high; an unexpected exception on an
  input of the annotated type is a crash (low for a refusal: ValueError, a lookup error,
  StopIteration; medium for anything else); any exception on a wrong-typed input is
  expected and not reported.
- **Side-effect audit**: the skill runs against a fresh world with real arguments (a
  recorded call's, else plain defaults) and the world's state is diffed. A skill whose
  name or docstring claims a read (get, show, find, list, search, count, summary) but
  changes state is high; so is a destructive or money-moving call (delete, send_money,
  place_order, refund, cancel) that its docstring does not declare.

Severities: info < low < medium < high < critical. The policy says which quarantine
(default: high) and which block promotion (default: medium).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from skillbank.governance.harness import Harness, SkillRun
from skillbank.governance.policy import RedteamRules, severity_at_least

FINDING_KINDS = (
    "process_access", "network_access", "file_access", "builtins_walk", "dynamic_import", "secret_in_source",
    "unbounded_pagination", "first_page_only", "fuzz_crash", "fuzz_hang", "read_claim_mutates",
    "undeclared_destructive_call", "audit_error", "fuzz_unavailable",
)

_PROCESS_MODULES = {"os", "subprocess", "sys", "signal", "multiprocessing", "pty", "ctypes", "resource", "posix"}
_NETWORK_MODULES = {"socket", "urllib", "http", "requests", "httpx", "ftplib", "smtplib", "ssl", "asyncio", "aiohttp"}
_FILE_MODULES = {"pathlib", "shutil", "tempfile", "io", "glob", "fileinput", "sqlite3", "pickle", "shelve"}
_DYNAMIC = {"__import__", "importlib", "exec", "eval", "compile", "runpy"}
_WALK_ATTRS = {"__class__", "__subclasses__", "__globals__", "__builtins__", "__mro__", "__bases__", "__base__",
               "__dict__", "__code__", "__closure__", "__getattribute__", "f_globals", "f_back", "gi_frame",
               "tb_frame", "f_builtins", "co_code"}
_SECRET_PATTERNS = (
    ("an AWS access key", re.compile(r"AKIA[0-9A-Z]{16}")),
    ("an OpenAI-style API key", re.compile(r"sk-[A-Za-z0-9_-]{20,}")),
    ("a GitHub token", re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}")),
    ("a Slack token", re.compile(r"xox[baprs]-[A-Za-z0-9-]{10,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a bearer token", re.compile(r"[Bb]earer\s+[A-Za-z0-9._-]{20,}")),
)
_SECRET_NAME = re.compile(r"(pass(word|wd)?|secret|token|api_?key|access_?key|credential)s?$", re.IGNORECASE)
_PAGE_KWARGS = {"page_index", "page", "offset", "cursor", "page_token", "next_page"}
READ_VERBS = ("get", "show", "find", "list", "search", "count", "summary", "summarize", "read", "lookup")
DESTRUCTIVE = {
    "delete": ("delete", "remove", "erase"),
    "send_money": ("send", "pay", "money", "transfer"),
    "place_order": ("order", "buy", "purchase"),
    "refund": ("refund",),
    "cancel": ("cancel",),
}


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    message: str
    line: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "message": self.message, "line": self.line,
                "evidence": self.evidence}


@dataclass(frozen=True)
class RedteamReport:
    version_id: str
    ref: str
    findings: tuple[Finding, ...]
    fuzz_inputs: int = 0
    audited: bool = False

    def worst(self) -> str | None:
        from skillbank.governance.policy import SEVERITIES

        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=SEVERITIES.index)

    def at_least(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if severity_at_least(f.severity, severity)]

    def to_dict(self) -> dict[str, Any]:
        return {"version_id": self.version_id, "ref": self.ref, "findings": [f.to_dict() for f in self.findings],
                "worst": self.worst(), "fuzz_inputs": self.fuzz_inputs, "audited": self.audited}


# -- static scan ------------------------------------------------------------------------


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _is_paginated_call(node: ast.AST) -> TypeGuard[ast.Call]:
    return (isinstance(node, ast.Call) and _dotted(node.func).startswith("apis.")
            and any(k.arg in _PAGE_KWARGS for k in node.keywords))


def _has_exit(loop: ast.While) -> bool:
    for node in ast.walk(loop):
        if isinstance(node, (ast.Break, ast.Return, ast.Raise)):
            return True
    return False


def static_scan(source: str) -> list[Finding]:
    """Findings from the source alone."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [Finding("audit_error", "low", f"the source does not parse: {exc.msg}", exc.lineno)]
    found: list[Finding] = []
    seen: set[tuple[str, int | None]] = set()

    def add(kind: str, severity: str, message: str, node: ast.AST | None) -> None:
        line = getattr(node, "lineno", None)
        if (kind, line) not in seen:
            seen.add((kind, line))
            found.append(Finding(kind, severity, message, line))

    def module_finding(module: str, node: ast.AST) -> None:
        top = module.split(".")[0]
        if top in _PROCESS_MODULES:
            add("process_access", "critical", f"imports {module!r}: process and system access", node)
        elif top in _NETWORK_MODULES:
            add("network_access", "high", f"imports {module!r}: network access outside the apis broker", node)
        elif top in _FILE_MODULES:
            add("file_access", "high", f"imports {module!r}: file system access", node)
        elif top in ("importlib", "runpy"):
            add("dynamic_import", "high", f"imports {module!r}: dynamic imports", node)

    loops_with_page_calls: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.While)):
            for inner in ast.walk(node):
                if _is_paginated_call(inner):
                    loops_with_page_calls.add(id(inner))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                module_finding(a.name, node)
        elif isinstance(node, ast.ImportFrom):
            module_finding(node.module or "", node)
        elif isinstance(node, ast.Name):
            if node.id in ("__import__",):
                add("dynamic_import", "high", "calls __import__: dynamic imports", node)
            elif node.id in ("exec", "eval", "compile"):
                add("dynamic_import", "high", f"uses {node.id}(): runs code built at run time", node)
            elif node.id == "open":
                add("file_access", "high", "uses open(): file system access", node)
            elif node.id in ("__builtins__", "globals", "vars", "locals"):
                add("builtins_walk", "critical", f"reaches {node.id}: the interpreter's namespaces", node)
        elif isinstance(node, ast.Attribute):
            if node.attr in _WALK_ATTRS:
                add("builtins_walk", "critical", f"walks attribute {node.attr!r} toward interpreter internals", node)
            dotted = _dotted(node)
            if dotted.startswith(("os.", "sys.", "subprocess.")):
                add("process_access", "critical", f"uses {dotted}: process and system access", node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr"):
            if len(node.args) >= 2:
                attr = node.args[1]
                if isinstance(attr, ast.Constant) and isinstance(attr.value, str) and attr.value.startswith("__"):
                    add("builtins_walk", "critical", f"{node.func.id}() reaches {attr.value!r}", node)
                elif not isinstance(attr, ast.Constant):
                    # Dispatch by name is common and harmless when the name is not an input;
                    # reported, not blocking.
                    add("dynamic_import", "low", f"{node.func.id}() with a computed attribute name", node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for label, pattern in _SECRET_PATTERNS:
                if pattern.search(node.value):
                    add("secret_in_source", "high", f"a string literal looks like {label}", node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) or (isinstance(node, ast.keyword) and node.arg):
            targets = ([node.arg] if isinstance(node, ast.keyword)
                       else [_dotted(t) for t in (node.targets if isinstance(node, ast.Assign) else [node.target])])
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and len(value.value) >= 6:
                for target in targets:
                    if target and _SECRET_NAME.search(target.split(".")[-1]):
                        add("secret_in_source", "high", f"{target.split('.')[-1]!r} is set to a string literal: "
                                                        "a credential written into the source", node)
        if isinstance(node, ast.While):
            test = node.test
            forever = isinstance(test, ast.Constant) and bool(test.value)
            if forever and any(_is_paginated_call(n) for n in ast.walk(node)) and not _has_exit(node):
                add("unbounded_pagination", "high", "a `while True` loop over a paginated API has no break or "
                                                    "return: it never stops", node)
        if (isinstance(node, (ast.While, ast.For)) and node.body and isinstance(node.body[-1], ast.Break)
                and any(_is_paginated_call(n) for n in ast.walk(node))):
            add("first_page_only", "medium", "the loop over a paginated API ends in an unconditional break: "
                                             "it reads only the first page", node)
        if _is_paginated_call(node) and id(node) not in loops_with_page_calls:
            add("first_page_only", "medium", f"{_dotted(node.func)} is paginated but called once, outside any "
                                             "loop: only the first page is read", node)
    return found


# -- fuzzing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    annotation: str | None
    has_default: bool


def signature_params(source: str, name: str) -> list[Param]:
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            a = node.args
            params = a.posonlyargs + a.args
            defaults = [None] * (len(params) - len(a.defaults)) + list(a.defaults)
            out = [Param(p.arg, ast.unparse(p.annotation) if p.annotation else None, d is not None)
                   for p, d in zip(params, defaults)]
            out += [Param(p.arg, ast.unparse(p.annotation) if p.annotation else None, d is not None)
                    for p, d in zip(a.kwonlyargs, a.kw_defaults)]
            return out
    raise ValueError(f"no function {name!r} in the source")


def _base_type(annotation: str | None) -> str | None:
    if not annotation:
        return None
    text = annotation.replace("typing.", "").replace(" ", "")
    for t in ("int", "float", "str", "bool", "list", "dict"):
        if text == t or text.startswith((f"{t}[", f"{t}|")) or text.lower().startswith(f"{t}["):
            return t
    if text.startswith(("List[", "Sequence[", "tuple[", "Tuple[")):
        return "list"
    if text.startswith(("Dict[", "Mapping[")):
        return "dict"
    return None


_EDGES: dict[str | None, list[Any]] = {
    "int": [0, -1, -(10**9), 10**12, 2**63],
    "float": [0.0, -1.5, 1e308, 1e-308],
    "str": ["", " ", "x" * 10_000, "éß漢字🙂", "\x00", "'; DROP TABLE x; --"],
    "bool": [True, False],
    "list": [[], [None], list(range(1000))],
    "dict": [{}, {"": None}],
    None: ["", 0, None, [], {}],
}
_WRONG: dict[str | None, list[Any]] = {
    "int": ["1", None, 1.5, []], "float": ["x", None, []], "str": [None, 123, ["a"], {"a": 1}],
    "bool": [None, "yes"], "list": [None, "abc", 5], "dict": [None, [], "abc"], None: [],
}


def _typed_strategy(kind: str | None) -> Any:
    from hypothesis import strategies as st

    by_kind: dict[str | None, Any] = {
        "int": st.integers(min_value=-(10**6), max_value=10**6),
        "float": st.floats(allow_nan=False, allow_infinity=False, width=32),
        "str": st.text(max_size=40),
        "bool": st.booleans(),
        "list": st.lists(st.one_of(st.integers(), st.text(max_size=8)), max_size=5),
        "dict": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    }
    return by_kind.get(kind, st.one_of(st.none(), st.integers(), st.text(max_size=10)))


def fuzz_inputs(params: list[Param], examples: int, seed: int = 0) -> list[tuple[dict[str, Any], bool]]:
    """(kwargs, well_typed) pairs: fixed edge cases per parameter, then hypothesis draws.
    Parameters not being varied take a well-typed baseline value."""
    kinds = {p.name: _base_type(p.annotation) for p in params}
    base = {p.name: _EDGES[kinds[p.name]][0] if kinds[p.name] else "" for p in params}
    out: list[tuple[dict[str, Any], bool]] = []
    for p in params:
        for value in _EDGES[kinds[p.name]]:
            out.append(({**base, p.name: value}, kinds[p.name] is not None))
        for value in _WRONG[kinds[p.name]]:
            out.append(({**base, p.name: value}, False))
    if examples > 0 and params:
        try:
            from hypothesis import HealthCheck, Phase, given, settings
            from hypothesis import strategies as st
        except ImportError:
            return out
        drawn: list[dict[str, Any]] = []
        strategy = st.fixed_dictionaries({p.name: _typed_strategy(kinds[p.name]) for p in params})

        @settings(max_examples=examples, database=None, derandomize=True, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck), deadline=None)
        @given(strategy)
        def collect(kwargs: dict[str, Any]) -> None:
            drawn.append(kwargs)

        collect()
        out += [(kw, all(kinds[k] is not None for k in kw)) for kw in drawn[:examples]]
    return out


def hypothesis_available() -> bool:
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        return False
    return True


_REFUSALS = ("ValueError", "KeyError", "IndexError", "LookupError", "StopIteration")


def fuzz(harness: Harness, name: str, source: str, *, task_id: str | None, seed: int | None,
         rules: RedteamRules) -> tuple[list[Finding], int]:
    findings: list[Finding] = []
    if not hypothesis_available():
        findings.append(Finding("fuzz_unavailable", "info",
                                "hypothesis is not installed: fuzzing ran only the fixed edge cases "
                                "(pip install 'skillbank[redteam]')"))
    try:
        params = signature_params(source, name)
    except (SyntaxError, ValueError):
        return findings, 0
    inputs = fuzz_inputs(params, rules.fuzz_examples if hypothesis_available() else 0)
    crashes: dict[str, dict[str, Any]] = {}
    for kwargs, well_typed in inputs:
        run = harness.call(name, source, [], kwargs, task_id=task_id, seed=seed)
        shown = {k: (v if len(repr(v)) < 60 else repr(v)[:57] + "...") for k, v in kwargs.items()}
        if run.killed == "timeout":
            findings.append(Finding("fuzz_hang", "high", f"hangs on {shown} (killed by the sandbox's wall clock)",
                                    evidence={"input": shown}))
            break  # each further hang costs a full timeout
        if run.ok or not well_typed:
            continue
        error_type = (run.error or "Error").split(":")[0]
        if error_type in ("ApiError",):
            continue  # the world refused the input: the skill passed it on, which is fine
        crashes.setdefault(error_type, {"input": shown, "error": (run.error or "")[:200]})
    for error_type, ev in crashes.items():
        # A ValueError, a lookup error or StopIteration from next() is the skill refusing
        # an input or finding nothing: reported low. Anything else is a bug in its logic.
        severity = "low" if error_type in _REFUSALS else "medium"
        findings.append(Finding("fuzz_crash", severity, f"raises {error_type} on a well-typed input {ev['input']}",
                                evidence=ev))
    return findings, len(inputs)


# -- side-effect audit ------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z]+", text.lower()) if w]


def claims_read(name: str, docstring: str | None) -> bool:
    tokens = _words(name)
    if tokens and tokens[0] in READ_VERBS:
        return True
    if "summary" in tokens:
        return True
    first = _words((docstring or "").strip().split("\n")[0])[:1]
    return bool(first) and first[0] in ("return", "returns", "get", "gets", "show", "shows", "find", "finds",
                                        "list", "lists", "search", "searches", "count", "counts") and tokens[0] in READ_VERBS


def _destructive_kind(api: str) -> str | None:
    a = api.lower()
    if "delete" in a:
        return "delete"
    if a in ("send_money", "pay", "transfer") or "send_money" in a or a.startswith("pay_"):
        return "send_money"
    if "place_order" in a or a in ("checkout", "buy"):
        return "place_order"
    if "refund" in a:
        return "refund"
    if "cancel" in a:
        return "cancel"
    return None


def _declared(kind: str, name: str, docstring: str | None) -> bool:
    text = " ".join(_words(name) + _words(docstring or ""))
    return any(word in text for word in DESTRUCTIVE[kind])


def side_effect_audit(run: SkillRun, name: str, docstring: str | None) -> list[Finding]:
    findings: list[Finding] = []
    changes = run.changes or ()
    writes = [c for c in changes if c.kind in ("insert", "update", "delete")]
    if claims_read(name, docstring) and writes:
        tables = sorted({f"{c.app}.{c.table}" for c in writes})
        findings.append(Finding("read_claim_mutates", "high",
                                f"{name!r} claims a read but changed {len(writes)} record(s) in {', '.join(tables[:4])}",
                                evidence={"changes": [f"{c.kind} {c.app}.{c.table} {c.id}" for c in writes[:10]]}))
    undeclared: dict[str, list[str]] = {}
    for app, api in run.api_calls:
        kind = _destructive_kind(api)
        if kind is not None and not _declared(kind, name, docstring):
            undeclared.setdefault(kind, []).append(f"{app}.{api}")
    for kind, calls in undeclared.items():
        findings.append(Finding("undeclared_destructive_call", "high",
                                f"calls {', '.join(sorted(set(calls)))} ({kind}) but its name and docstring do not "
                                f"declare it", evidence={"calls": calls[:10]}))
    return findings


def audit_arguments(params: list[Param], recorded: list[tuple[list[Any], dict[str, Any]]]) -> tuple[list[Any], dict[str, Any]]:
    """A recorded call's arguments, else plain well-typed values."""
    if recorded:
        return recorded[0]
    kwargs = {}
    for p in params:
        if p.has_default:
            continue
        kind = _base_type(p.annotation)
        kwargs[p.name] = {"int": 1, "float": 1.0, "str": "a", "bool": True, "list": [], "dict": {}}.get(kind or "", "a")
    return [], kwargs


def redteam(harness: Harness | None, *, version_id: str, ref: str, name: str, source: str, docstring: str | None,
            rules: RedteamRules, task_id: str | None, seed: int | None,
            recorded_args: list[tuple[list[Any], dict[str, Any]]] | None = None,
            progress: Callable[[str], None] | None = None) -> RedteamReport:
    """The full red-team report. Without a harness only the static scan runs."""
    findings = static_scan(source)
    if harness is None or any(f.severity == "critical" for f in findings):
        # Critical static findings quarantine on their own; running such code helps no one.
        return RedteamReport(version_id, ref, tuple(findings))
    audited = False
    try:
        params = signature_params(source, name)
        args, kwargs = audit_arguments(params, recorded_args or [])
        run = harness.call(name, source, args, kwargs, task_id=task_id, seed=seed)
        audited = True
        findings += side_effect_audit(run, name, docstring)
        if run.killed == "timeout":
            findings.append(Finding("fuzz_hang", "high", "hangs on its audit call (killed by the sandbox's wall clock)"))
    except (SyntaxError, ValueError) as exc:
        findings.append(Finding("audit_error", "low", f"could not audit: {exc}"))
    fuzz_findings, n = fuzz(harness, name, source, task_id=task_id, seed=seed, rules=rules)
    findings += fuzz_findings
    return RedteamReport(version_id, ref, tuple(findings), fuzz_inputs=n, audited=audited)


