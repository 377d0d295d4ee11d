"""The escape corpus: every hostile program in tests/escape_corpus/ must be contained.

Each program's header says what it tries, what containment means, whether the static
check must refuse it, and which outcomes count as contained:

    # tries: ...
    # contained: ...
    # static: refuse            (optional)
    # outcome: PermissionError OSError killed:timeout truncated

The corpus runs twice: with the static check, and without it (the kernel boundary on
its own). A program that gets what it wanted prints ESCAPED, which fails the test.
Afterwards the host must be unchanged: canary and library files byte-for-byte and
with the same metadata, no marker files, the pool still serving, and after close no
sandbox process left.
"""

from __future__ import annotations

import hashlib
import json
import os
import sysconfig
from pathlib import Path

import pytest

import skillbank
from skillbank.sandbox import EchoHost, SandboxConfig, SandboxPool

CORPUS = Path(__file__).parent / "escape_corpus"
PROJECT = Path(__file__).resolve().parent.parent
INSTALLED = Path(skillbank.__file__).resolve().parent
SITE_MARKER = Path(sysconfig.get_paths()["purelib"]) / "skillbank_escape.pth"

pytestmark = pytest.mark.slow


def _header(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _programs() -> list[Path]:
    return sorted(CORPUS.glob("*.py"))


def test_corpus_is_large_and_documented():
    programs = _programs()
    assert len(programs) >= 60
    for path in programs:
        header = _header(path.read_text())
        assert header.get("tries") and header.get("contained") and header.get("outcome"), path.name
        assert header.get("static", "refuse") == "refuse", path.name


def _fingerprint(path: Path) -> tuple:
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mode, st.st_uid, st.st_mtime_ns, st.st_nlink


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _is_sandbox_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return b"skillbank.sandbox._zygote" in cmdline and state != "Z"


def _contained(header: dict[str, str], result, static_check: bool) -> str | None:
    """None when the result shows containment, else why not."""
    text = f"{result.stdout}\n{result.result_repr or ''}"
    if "ESCAPED" in text:
        return f"escaped: {text[:200]!r}"
    if static_check and header.get("static") == "refuse":
        if result.error_type != "StaticCheckError" or not result.static_errors:
            return f"static check did not refuse it: {result.error_type}: {result.error_message}"
        if not all(msg.startswith("line ") for msg in result.static_errors):
            return f"static errors lack line numbers: {result.static_errors}"
        return None
    outcomes = header["outcome"].split()
    errors = {o for o in outcomes if ":" not in o and o != "truncated"}
    kills = {o.split(":", 1)[1] for o in outcomes if o.startswith("killed:")}
    if "truncated" in outcomes and result.stdout_truncated and "truncated" in result.stdout:
        return None
    if result.killed is not None:
        if result.killed in kills and result.error_message:
            return None
        return f"unexpected kill {result.killed!r}: {result.error_message}"
    if not result.ok and result.error_type in errors and result.error_message:
        return None
    return f"expected {header['outcome']}, got ok={result.ok} {result.error_type}: {result.error_message}"


class CountingHost(EchoHost):
    """EchoHost that counts the calls reaching the host (the budget is the parent's)."""

    def __init__(self) -> None:
        self.calls = 0

    def call(self, app, api, **kwargs):
        self.calls += 1
        return super().call(app, api, **kwargs)


def _bounded_problem(result, config) -> str | None:
    """Whatever a program did, the parent's result stays within its limits."""
    if len(result.stdout.encode("utf-8", "surrogatepass")) > config.stdout_limit_bytes + 200:
        return f"stdout of {len(result.stdout)} characters passed the parent's cap"
    for call in result.api_calls:
        if len(json.dumps(call.arguments)) > 64 * 1024:
            return f"an API call record kept {len(json.dumps(call.arguments))} bytes of arguments"
    return None


@pytest.fixture()
def host_files(tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("the host's data\n")
    library = tmp_path / "library.sqlite"
    library.write_bytes(b"SQLite format 3\x00" + os.urandom(256))
    return tmp_path, canary, library


@pytest.mark.parametrize("static_check", [True, False], ids=["static-check", "boundary-only"])
def test_escape_corpus_is_contained(static_check, host_files):
    folder, canary, library = host_files
    before = {p: _fingerprint(p) for p in (canary, library)}
    my_children_before = _descendants(os.getpid())
    # A smaller address space than the default keeps the memory bombs quick.
    config = SandboxConfig(
        workers=2, timeout_s=2.0, static_check=static_check, api_call_budget=50, address_space_bytes=512 << 20
    )
    failures = []
    seen_pids: set[int] = set()
    pool = SandboxPool(config)
    try:
        seen_pids.add(pool.zygote_pid)
        for path in _programs():
            header = _header(path.read_text())
            code = (
                path.read_text()
                .replace("@@CANARY@@", str(canary))
                .replace("@@LIBRARY@@", str(library))
                .replace("@@PROJECT@@", str(PROJECT))
                .replace("@@SKILLBANK@@", str(INSTALLED))
                .replace("@@MARKER@@", str(folder / f"marker-{path.stem}"))
            )
            host = CountingHost()
            with pool.session(host, task_id=path.stem) as session:
                seen_pids.add(session.worker_pid)
                result = session.run(code)
                seen_pids.add(session.worker_pid)
                problem = _contained(header, result, static_check) or _bounded_problem(result, config)
                if problem:
                    failures.append(f"{path.name}: {problem}")
                if host.calls > config.api_call_budget:
                    failures.append(f"{path.name}: {host.calls} calls reached the host, over the budget of {config.api_call_budget}")
                # The session must still serve after whatever the program did.
                after = session.run("apis.echo.echo(ok=1)")
                if not (after.ok and after.result_repr == "{'ok': 1}"):
                    failures.append(f"{path.name}: session unusable afterwards: {after.error_type}: {after.error_message}")
                seen_pids.add(session.worker_pid)
        # The pool still serves a normal task after the whole corpus.
        with pool.session(EchoHost(), task_id="after-corpus") as session:
            check = session.run("import math\nmath.factorial(5) + len(apis.echo.echo(a=1))")
        assert check.ok and check.result_repr == "121"
    finally:
        pool.close()
    assert not failures, "\n".join(failures)

    assert {p: _fingerprint(p) for p in (canary, library)} == before
    assert sorted(p.name for p in folder.iterdir()) == ["canary.txt", "library.sqlite"]
    assert not SITE_MARKER.exists()
    assert not Path("/dev/shm/skillbank-escape").exists()
    strays = [pid for pid in seen_pids if pid and _is_sandbox_process(pid)]
    assert strays == []
    assert _descendants(os.getpid()) <= my_children_before
