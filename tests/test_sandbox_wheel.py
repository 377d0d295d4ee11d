"""The escape corpus against a normal (non-editable) install.

With an editable install skillbank's code lies in the source tree, outside every read
root a worker has; with a wheel it lies in site-packages, beside the packages agent
code may legitimately import. This test builds a wheel of the project, installs it
into a fresh virtual environment (no pip, no network, nothing else installed: the
sandbox and the apps world need only the standard library) and runs the corpus
programs marked ``# install: wheel`` through that installation, with and without the
static check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "escape_corpus"

pytestmark = pytest.mark.slow

# Runs inside the temporary environment: every program in a fresh session, one JSON
# line of results on stdout.
DRIVER = r"""
import json, os, sys
from pathlib import Path
import skillbank
from skillbank.sandbox import EchoHost, SandboxConfig, SandboxPool

programs, folder = json.loads(sys.argv[1]), Path(sys.argv[2])
installed = str(Path(skillbank.__file__).resolve().parent)
results = []
for static_check in (True, False):
    config = SandboxConfig(workers=1, timeout_s=20.0, static_check=static_check)
    with SandboxPool(config) as pool:
        for name, code in programs:
            code = code.replace("@@SKILLBANK@@", installed).replace("@@MARKER@@", str(folder / f"marker-{name}"))
            with pool.session(EchoHost(), task_id=name) as session:
                r = session.run(code)
                after = session.run("apis.echo.echo(ok=1)")
            results.append({
                "name": name, "static_check": static_check, "ok": r.ok, "error_type": r.error_type,
                "error_message": r.error_message, "killed": r.killed, "static_errors": list(r.static_errors),
                "text": r.stdout + (r.result_repr or ""), "after_ok": after.ok,
            })
print(json.dumps({"installed": installed, "results": results}))
"""

# Until the workers' read roots leave skillbank's own code out, an installed
# skillbank is readable (and importable) from a worker whose static check is off.
def _header(path: Path) -> dict[str, str]:
    fields = {}
    for line in path.read_text().splitlines():
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _wheel_programs() -> list[Path]:
    return [p for p in sorted(CORPUS.glob("*.py")) if _header(p).get("install") == "wheel"]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of a venv holding skillbank from a wheel, a clean environment for it)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "project"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (PROJECT / name).exists():
            shutil.copy2(PROJECT / name, source / name)
    shutil.copytree(PROJECT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dist = root / "dist"
    # The build backend comes from the test's own environment: no index, no network.
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(source)])
    (wheel,) = dist.glob("skillbank-*.whl")
    venv = root / "venv"
    _run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PYTHONNOUSERSITE"] = "1"
    # Without PYTHONPATH (the suite points it at this checkout's src/), or pip would find
    # skillbank already importable and install nothing.
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
         env=env)
    return python, env, root


def test_the_wheel_is_a_normal_install_and_the_world_imports_outside_the_sandbox(installed):
    python, env, root = installed
    proc = _run(
        [str(python), "-c", "import json, skillbank, sysconfig, skillbank.worlds.apps;"
         "print(json.dumps([skillbank.__file__, sysconfig.get_paths()['purelib']]))"],
        env=env, cwd=root,
    )
    module_file, purelib = json.loads(proc.stdout)
    # skillbank is read from site-packages, and the apps world (what the probes try to
    # reach) imports there; so a refusal inside the worker is the sandbox's doing.
    assert Path(module_file).resolve().is_relative_to(Path(purelib).resolve())


@pytest.fixture(scope="module")
def wheel_results(installed):
    python, env, root = installed
    folder = root / "markers"
    folder.mkdir()
    programs = [(p.stem, p.read_text()) for p in _wheel_programs()]
    proc = _run([str(python), "-c", DRIVER, json.dumps(programs), str(folder)], env=env, cwd=root)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    purelib = Path(data["installed"]).parent
    return data["results"], folder, purelib


def test_the_wheel_programs_are_the_site_packages_class():
    names = {p.stem for p in _wheel_programs()}
    assert {"import_installed_worlds", "fs_read_installed_source", "fs_write_site_packages"} <= names


def _cases():
    for path in _wheel_programs():
        for static_check in (True, False):
            yield pytest.param(path.stem, static_check, id=f"{path.stem}-{'static' if static_check else 'boundary'}")


@pytest.mark.parametrize(("name", "static_check"), list(_cases()))
def test_site_packages_probes_are_contained_from_a_wheel(wheel_results, name, static_check):
    results, folder, purelib = wheel_results
    (r,) = [r for r in results if r["name"] == name and r["static_check"] == static_check]
    header = _header(CORPUS / f"{name}.py")
    assert "ESCAPED" not in r["text"], r["text"][:300]
    assert r["after_ok"], f"the session was unusable after {name}"
    if static_check and header.get("static") == "refuse":
        assert r["error_type"] == "StaticCheckError" and r["static_errors"]
    else:
        outcomes = header["outcome"].split()
        assert not r["ok"] and r["error_type"] in outcomes, (r["error_type"], r["error_message"])
    assert not (folder / f"marker-{name}").exists()
    assert not (purelib / "skillbank_escape.pth").exists()
