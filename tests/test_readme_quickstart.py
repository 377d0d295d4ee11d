"""The README's "Quickstart: the CLI" runs as written from a fresh clone (issue 28, item
6): each command of its bash block, in order, in one fresh directory, through bash (the
heredocs that write total.py, total_v2.py, err.txt and script.py included). A command
exits 0 unless its comment says "exit N"."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SRC = Path(__file__).resolve().parents[1] / "src"


def quickstart_block() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Quickstart: the CLI")
    fence = text.index("```bash\n", start) + len("```bash\n")
    return text[fence:text.index("```", fence)]


def commands(block: str) -> list[str]:
    """The block's commands: one line each, a heredoc with its body; comments dropped."""
    out: list[str] = []
    lines = iter(block.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.search(r"<<'?(\w+)'?", line)
        if m:
            body = [line]
            for more in lines:
                body.append(more)
                if more == m.group(1):
                    break
            out.append("\n".join(body) + "\n")
        else:
            out.append(line)
    return out


def expected_status(command: str) -> int:
    first = command.splitlines()[0]
    comment = first.split("  #", 1)[1] if "  #" in first else ""
    m = re.search(r"\bexit (\d+)", comment)
    return int(m.group(1)) if m else 0


def test_the_block_writes_every_file_it_reads_before_reading_it() -> None:
    written: set[str] = set()
    for command in commands(quickstart_block()):
        first = command.splitlines()[0]
        m = re.match(r"cat > (\S+) <<", first)
        if m:
            written.add(m.group(1))
            continue
        reads = re.sub(r">\s*\S+", "", first.split("  #")[0])  # what a command writes is not read
        for word in re.findall(r"(?<![\w/])([\w-]+\.(?:py|txt))\b", reads):
            assert word in written, f"{first!r} reads {word}, which no earlier step writes"


@pytest.mark.slow
def test_the_quickstart_runs_as_written_from_a_fresh_directory(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p),
           "COLUMNS": "80", "HF_HUB_OFFLINE": "1"}
    env.pop("SKILLBANK_LIBRARY", None)  # the block's library is ./.skillbank/library.db
    ran = []
    for command in commands(quickstart_block()):
        want = expected_status(command)
        proc = subprocess.run(["bash", "-c", command], check=False, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == want, (command, proc.returncode, proc.stderr[-2000:])
        ran.append((command.splitlines()[0], proc.stdout))
    assert len(ran) > 25
    out = dict(ran)
    # what the comments promise
    assert (tmp_path / "total.patch").read_text().startswith("--- total@1")
    assert (tmp_path / "other.db").exists() and (tmp_path / "backup").is_dir()
    events = next(o for c, o in ran if c.startswith("skillbank skills events total --type alias_moved"))
    assert "promoted" in events and "reviewed" in events
    assert any("12 apps" in c for c in out) and "wallet" in next(o for c, o in ran if c.startswith("skillbank world apps"))
    compare = next(o for c, o in ran if c.startswith("skillbank runs compare"))
    assert "none (no skills)" in compare
