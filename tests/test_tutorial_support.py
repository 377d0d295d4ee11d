"""The README's "Bring your own tools" tutorial runs as written: its Python blocks in
order in one namespace, its `skillbank ...` command lines through the CLI (the
long-running `skillbank mcp` server is covered by tests/test_mcp.py instead), each in a
fresh working directory, and what the blocks print matches what the text says."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from skillbank.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
HEADING = "## Bring your own tools"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def section() -> str:
    text = README.read_text()
    start = text.index(HEADING)
    end = text.find("\n## ", start + len(HEADING))
    return text[start:] if end < 0 else text[start:end]


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer(section())]


def test_the_section_has_the_tutorials_blocks():
    kinds = [k for k, _ in blocks()]
    assert kinds.count("python") >= 6 and "bash" in kinds


def expected_prints(code: str) -> list[str]:
    """`print(...)  # text` lines whose comment is the literal output (not prose)."""
    out = []
    for line in code.splitlines():
        m = re.match(r"^print\(.*\)\s+#\s(.+)$", line)
        if m and not m.group(1).startswith(("the ", "False:")):
            out.append(m.group(1).strip())
    return out


def test_the_tutorial_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "tutorial"}
    ran = 0
    for kind, code in blocks():
        if kind == "python":
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                exec(compile(code, f"<README block {ran}>", "exec"), ns)
            printed = [line.strip() for line in buf.getvalue().splitlines()]
            for want in expected_prints(code):
                assert want in printed, (want, printed)
            ran += 1
        elif kind == "bash":
            for line in code.splitlines():
                line = line.split("#")[0].strip()
                if not line.startswith("skillbank ") or line.startswith("skillbank mcp"):
                    continue
                assert main(shlex.split(line)[1:]) == 0, (line, capsys.readouterr().err)
                capsys.readouterr()
    assert ran >= 6
    # what the prose claims about the store
    assert ns["v2"].provenance.parent_version_id == ns["v1"].id
    assert "exceeds" in ns["failure_log"] and ns["failure_log"].startswith("ApiError: payments.refund_payment")
    assert (tmp_path / ".skillbank" / "tutorial.db").exists()


def test_the_tutorial_runs_twice_in_one_directory(tmp_path, monkeypatch):
    """Its library persists in .skillbank/tutorial.db: a second reading prints the same
    (issue 28, item 5: it printed other counts, then an AttributeError)."""
    monkeypatch.chdir(tmp_path)
    outputs = []
    for reading in (1, 2):
        ns: dict = {"__name__": "tutorial"}
        printed: list[str] = []
        for n, (kind, code) in enumerate(blocks()):
            if kind != "python":
                continue
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                try:
                    exec(compile(code, f"<README block {n}, reading {reading}>", "exec"), ns)
                except Exception as exc:  # noqa: BLE001 - say which reading failed
                    pytest.fail(f"reading {reading}, block {n}: {type(exc).__name__}: {exc}")
            lines = [line.strip() for line in buf.getvalue().splitlines()]
            for want in expected_prints(code):
                assert want in lines, (reading, want, lines)
            printed += lines
        outputs.append(printed)
    assert outputs[0] == outputs[1]
    assert "v1 1/3, v2 4/4" in outputs[1] and "True promoted 2" in outputs[1]


def test_the_figures_quoted_match_the_world():
    from skillbank.toolkit.support import make_world

    text = section()
    world = make_world()
    tools = sum(len(a.apis) for name, a in world.apps.items() if name not in ("supervisor", "api_docs"))
    assert f"Its {tools} tools take" in text
    lines = len((Path(__file__).resolve().parents[1] / "src/skillbank/toolkit/support/tools.py").read_text().splitlines())
    assert f"take {lines} lines" in text
    scenarios = {t.scenario_id for t in world.tasks()}
    assert f"{len(scenarios)} scenarios × 3 tasks" in text


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
