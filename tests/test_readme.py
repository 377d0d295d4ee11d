"""The README and the docs/ pages: every ```python block runs as written, twice (a
reader runs a snippet again), in a fresh temporary directory; links point at files the
repository has."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


# Sections whose blocks are steps of one tutorial (each builds on the ones before): a
# test of their own runs them in order, so here they are not run one by one.
TUTORIAL_SECTIONS = {"## Bring your own tools": "tests/test_tutorial_support.py"}


def _section(text: str, offset: int) -> str:
    headings = [m for m in re.finditer(r"^## .*$", text, re.M) if m.start() < offset]
    return headings[-1].group(0).strip() if headings else ""


def python_blocks(page: Path) -> list[tuple[int, str]]:
    text = page.read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 1, m.group(1)) for m in _BLOCK.finditer(text)
            if _section(text, m.start()) not in TUTORIAL_SECTIONS]


BLOCKS = [(page, line, code) for page in PAGES for line, code in python_blocks(page)]


def test_the_pages_have_python_blocks() -> None:
    pages = {page.name for page, _, _ in BLOCKS}
    assert {"README.md", "architecture.md"} <= pages


@pytest.mark.parametrize(
    "page, line, code", BLOCKS, ids=[f"{p.relative_to(ROOT)}:{line}" for p, line, _ in BLOCKS]
)
def test_python_block_runs_as_written_and_again(page: Path, line: int, code: str, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    for attempt in (1, 2):
        try:
            runpy.run_path(str(script), run_name="__main__")
        except Exception as exc:  # noqa: BLE001 - report which block and which run
            pytest.fail(f"{page.name} line {line}, run {attempt}: {type(exc).__name__}: {exc}")
    assert capsys.readouterr().out.strip(), "a snippet shows what it does"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_local_links_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "shared/DESIGN.md" not in text
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_readme_links_the_architecture_page_and_keeps_a_roadmap() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/architecture.md)" in text and "\n## Roadmap\n" in text


_BASH = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def _cli_lines() -> list[str]:
    lines = []
    for page in PAGES:
        for block in _BASH.findall(page.read_text(encoding="utf-8")):
            for line in block.splitlines():
                for part in re.split(r"&&|\|", line.split("#", 1)[0]):
                    part = part.strip()
                    if part.startswith("skillbank "):
                        lines.append(part)
    return lines


def test_every_cli_line_in_the_docs_names_a_real_command_and_real_flags() -> None:
    import typer

    from skillbank.cli import app

    root = typer.main.get_command(app)  # Typer's own click: groups are told by their `commands`
    lines = _cli_lines()
    assert len(lines) > 20
    for line in lines:
        tokens = line.replace(">", " > ").split()[1:]
        command = root
        while hasattr(command, "commands") and tokens and tokens[0] in command.commands:
            command = command.commands[tokens.pop(0)]
        if command is root and tokens and tokens[0].startswith("--"):
            assert tokens[0] in {o for p in root.params for o in p.opts}, f"no global option: {line}"
            continue
        if hasattr(command, "commands"):
            alternatives = tokens[0].split("|") if tokens else []
            assert alternatives and all(a in command.commands for a in alternatives), f"not a command: {line}"
            continue
        flags = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
        for token in tokens:
            if token == ">":
                break
            if token.startswith("--"):
                assert token.split("=")[0] in flags, f"{line}: {command.name} has no {token}"
