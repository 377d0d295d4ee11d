"""The CLI's consoles print text verbatim (Rich markup off); styling goes through
`skillbank.console.markup`, which escapes what it interpolates. A literal markup tag handed to
those consoles would print as text, so none may be."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from skillbank.console import markup, table

SRC = Path(__file__).resolve().parents[1] / "src" / "skillbank"
# console.print("[bold]…"), console.rule(f"[red]…"), Rule("[bold]…"), title="[dim]…"
_RAW_MARKUP = re.compile(r"""(console\.(print|rule|log)\(|Rule\(|title=)\s*f?["']\[/?[a-z#][a-z0-9 _#.-]*\]""")


def test_no_literal_markup_reaches_a_markup_off_console() -> None:
    offenders = []
    for path in [SRC / "cli.py", *(SRC / "commands").glob("*.py"), *(SRC / "bench").glob("*.py")]:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _RAW_MARKUP.search(line):
                offenders.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert not offenders, "use skillbank.console.markup(...) for styled text:\n" + "\n".join(offenders)


@pytest.mark.parametrize("value", ["[local]", "[bold]x[/bold]", "[/]", "a\\[b]", "[link=http://x]y[/link]"])
def test_markup_escapes_values_and_keeps_our_styles(value: str) -> None:
    console = Console(markup=False, width=200, record=True, color_system="truecolor")
    console.print(markup("[green]{}[/green] and {}", value, value))
    text = console.export_text()
    assert text == f"{value} and {value}\n"
    styled = markup("[green]{}[/green]", value)
    assert styled.plain == value and any("green" in str(span.style) for span in styled.spans)


def test_tables_keep_ids_whole_and_fold_the_rest() -> None:
    console = Console(markup=False, width=40, record=True)
    t = table("id", "text", keep=("id",), flex=("text",))
    t.add_row("20261201-024327-d0cd01", "a rather long instruction " * 3)
    console.print(t)
    out = console.export_text()
    assert "20261201-024327-d0cd01" in out and "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 40
    assert " ".join(out.split()).count("instruction") == 3
