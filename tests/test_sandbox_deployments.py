"""The sandbox tested in the deployment users have, not only in this project's.

On these machines the project's interpreter lives under a directory (mode 0700) that
the worker's uid cannot enter, so after lockdown a worker can open no file at all, and
attacks that Landlock should stop are stopped by that accident instead. Users run a
system Python or an official image, where the Landlock read roots are readable as
designed. This module runs the escape corpus, the per-layer tests and the skill-unit
tests again under an interpreter whose standard library the worker's uid can read (the
system interpreter of the same minor version, with this checkout's sources and the
venv's packages on its path), and checks what `skillbank doctor` says in each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from skillbank.sandbox.doctor import untraversable

ROOT = Path(__file__).resolve().parent.parent
SUITES = ["tests/test_sandbox_escape.py", "tests/test_sandbox_layers.py", "tests/test_sandbox_units.py",
          "tests/test_seccomp_allowlist.py"]


def _readable_interpreter() -> str | None:
    """A system interpreter of this minor version whose standard library others can read."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (f"/usr/bin/python{version}", f"/usr/local/bin/python{version}", shutil.which(f"python{version}")):
        if not candidate or not os.path.exists(candidate):
            continue
        probe = subprocess.run([candidate, "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
                               capture_output=True, text=True, timeout=60)
        stdlib = probe.stdout.strip()
        if probe.returncode == 0 and stdlib and untraversable(stdlib) is None and untraversable(candidate) is None:
            return candidate
    return None


def _copied_interpreter() -> str:
    """This interpreter copied to a world-readable directory (binary and standard library,
    no site-packages), for machines without a system interpreter of this version."""
    import tempfile

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    root = Path(tempfile.mkdtemp(prefix="skillbank-readable-python-", dir="/tmp"))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    shutil.copytree(stdlib, root / "lib" / f"python{version}", symlinks=True,
                    ignore=shutil.ignore_patterns("site-packages", "test", "idlelib", "tkinter", "turtledemo"))
    (root / "bin").mkdir()
    binary = root / "bin" / f"python{version}"
    shutil.copy2(os.path.realpath(sys._base_executable), binary)  # type: ignore[attr-defined]
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or path == binary else 0o644)
    return str(binary)


@pytest.fixture(scope="module")
def readable_python():
    found = _readable_interpreter()
    copied = None
    if found is None and untraversable(sysconfig.get_paths()["stdlib"]) is not None:
        copied = found = _copied_interpreter()
    if found is None:
        pytest.skip("this interpreter's own standard library is already world-readable: the project's "
                    "deployment is the users' one, tested by the rest of the suite")
    yield found
    if copied is not None:
        shutil.rmtree(Path(copied).parent.parent, ignore_errors=True)


def _env(python: str | None = None) -> dict[str, str]:
    site = sysconfig.get_paths()["purelib"]
    env = dict(os.environ)
    if python is not None and "skillbank-readable-python-" in python:
        env["PYTHONHOME"] = str(Path(python).parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests"), site])
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _doctor(python: str) -> dict:
    out = subprocess.run([python, "-m", "skillbank.cli", "doctor", "--json"], capture_output=True, text=True,
                         env=_env(python), cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_doctor_says_whether_the_worker_reads_its_roots_in_both_deployments(readable_python):
    ours = _doctor(sys.executable)["landlock"]["worker_reads_roots"]
    theirs = _doctor(readable_python)["landlock"]["worker_reads_roots"]
    assert theirs["readable"] is True and "blocked_by" not in theirs
    stdlib = sysconfig.get_paths()["stdlib"]
    if untraversable(stdlib) is not None:  # this project's venv, on these machines
        assert ours["readable"] is False and ours["blocked_by"].startswith(untraversable(stdlib))
    else:
        assert ours["readable"] is True


@pytest.mark.slow
def test_the_escape_corpus_and_the_layers_hold_with_a_readable_standard_library(readable_python):
    # The same suites, under the interpreter users deploy: every test must pass there too.
    out = subprocess.run([readable_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES],
                         capture_output=True, text=True, env=_env(readable_python), cwd=ROOT, timeout=1500)
    tail = (out.stdout + out.stderr)[-4000:]
    assert out.returncode == 0, tail
    assert " passed" in tail and " failed" not in tail
